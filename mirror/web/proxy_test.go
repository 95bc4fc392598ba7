package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/reader"
)

// checkpointMaxAge is the checkpoint's max-age (ccCheckpoint): how long a
// proxy may answer with a checkpoint the mirror has replaced.
const checkpointMaxAge = 5 * time.Second

// nginxBinary returns the nginx to run. Without one the test is skipped,
// unless SAMIZDAT_REQUIRE_NGINX=1 (as in .ci/run), which makes it fail.
func nginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx" // not on a non-root user's PATH on Debian
	}
	if os.Getenv("SAMIZDAT_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx not found, and SAMIZDAT_REQUIRE_NGINX=1 (apt-get install nginx)")
	}
	t.Skip("nginx not found: the caching proxy test needs it (apt-get install nginx; SAMIZDAT_REQUIRE_NGINX=1 makes this a failure)")
	return ""
}

// countingMirror serves a mirror's handler and counts the requests that
// reach it, by path.
type countingMirror struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (m *countingMirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.n[r.URL.Path]++
	m.mu.Unlock()
	m.h.ServeHTTP(w, r)
}

// count returns the requests that reached the mirror for paths that
// contain any of parts (all requests when none are given).
func (m *countingMirror) count(parts ...string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := 0
	for p, n := range m.n {
		if len(parts) == 0 {
			total += n
		}
		for _, s := range parts {
			if strings.Contains(p, s) {
				total += n
				break
			}
		}
	}
	return total
}

// snapshot returns a copy of the counts.
func (m *countingMirror) snapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.n))
	for p, n := range m.n {
		out[p] = n
	}
	return out
}

// proxyConf holds the values of testdata/nginx-proxy.conf.
type proxyConf struct {
	User   string // "user root;" when run as root, so the workers can write the cache
	Dir    string
	Cache  string
	Mirror string
	Listen string
}

// cachingProxy is a running nginx with proxy_cache in front of a mirror.
type cachingProxy struct {
	URL   string // http://127.0.0.1:PORT
	dir   string
	marks int
}

// startProxy runs nginx, configured from testdata/nginx-proxy.conf, in
// front of the mirror at upstream (host:port), and stops it when the test
// ends. The port is chosen free and handed to nginx, which can lose it to
// another process in between: then it tries another, at most 3 times.
func startProxy(t testing.TB, upstream string) *cachingProxy {
	t.Helper()
	bin := nginxBinary(t)
	tmpl := template.Must(template.ParseFiles("testdata/nginx-proxy.conf"))
	dir := t.TempDir()
	c := proxyConf{Dir: dir, Cache: filepath.Join(dir, "cache"), Mirror: upstream}
	if os.Geteuid() == 0 {
		c.User = "user root;"
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.Listen = l.Addr().String()
		l.Close()
		var conf bytes.Buffer
		if err := tmpl.Execute(&conf, &c); err != nil {
			t.Fatal(err)
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "error.log"))
		cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		// nginx stops (its master stops its workers) if the test dies.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting nginx: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		p := &cachingProxy{URL: "http://" + c.Listen, dir: dir}
		if lastErr = p.waitReady(exited); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				<-exited
			})
			return p
		}
		cmd.Process.Kill()
		<-exited
		logged, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = fmt.Errorf("%v\n%s%s", lastErr, stderr.Bytes(), logged)
		if !bytes.Contains(logged, []byte("Address already in use")) && !bytes.Contains(stderr.Bytes(), []byte("Address already in use")) {
			break
		}
	}
	t.Fatalf("nginx did not start: %v", lastErr)
	return nil
}

// waitReady polls /healthz through the proxy (nginx is another process:
// there is no event to wait on) until it answers, nginx exits or 10 s
// pass.
func (p *cachingProxy) waitReady(exited <-chan error) error {
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited: %v", err)
		case <-deadline:
			return errors.New("nginx did not answer within 10 s")
		case <-tick.C:
		}
		resp, err := client.Get(p.URL + "/healthz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// get fetches a path through the proxy and returns the status, the
// X-Cache-Status nginx added and the body.
func (p *cachingProxy) get(t testing.TB, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(p.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Cache-Status"), body
}

// accessLog returns nginx's access log lines, "CACHE-STATUS STATUS URI
// BODY-BYTES".
func (p *cachingProxy) accessLog(t testing.TB) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, strings.Fields(l))
		}
	}
	return out
}

// mark asks the proxy for a marker URI and waits until nginx has logged
// it, polling (nginx is another process) for at most 10 s. Its one
// worker logs each request as it finishes, so every request answered
// before is logged above the marker. mark returns the number of lines
// up to the marker, included.
func (p *cachingProxy) mark(t testing.TB) int {
	t.Helper()
	p.marks++
	uri := fmt.Sprintf("/healthz?mark=%d", p.marks)
	p.get(t, uri) // 400 from the mirror: only the log line matters
	deadline := time.Now().Add(10 * time.Second)
	for {
		for i, l := range p.accessLog(t) {
			if len(l) > 2 && l[2] == uri {
				return i + 1
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not log %s within 10 s", uri)
		}
		time.Sleep(10 * time.Millisecond) // polling another process's file
	}
}

// logged returns the access log lines between two marks.
func (p *cachingProxy) logged(t testing.TB, from, to int) [][]string {
	t.Helper()
	return p.accessLog(t)[from : to-1]
}

// cachedTwice asks for path twice in a row and reports whether the
// second answer was a 200 HIT, the same as the first, that did not reach
// the mirror. A copy may expire between the two (its max-age is
// seconds), so it tries up to 3 pairs.
func (p *cachingProxy) cachedTwice(t testing.TB, mirror *countingMirror, path string) bool {
	t.Helper()
	for range 3 {
		_, _, b1 := p.get(t, path)
		at := mirror.snapshot()[path]
		code, cache, b2 := p.get(t, path)
		if code == http.StatusOK && cache == "HIT" && bytes.Equal(b1, b2) && mirror.snapshot()[path] == at {
			return true
		}
		t.Logf("%s asked twice: %d, %s the second time", path, code, cache)
	}
	return false
}

// proxyReader returns a reader that reads through the proxy only, with a
// state directory of its own.
// proxyReader returns a reader that keeps the whole log (Config.Full), as
// the proxy benchmarks measure; proxyLightReader one that takes the light
// path.
func proxyReader(t testing.TB, f *fixture, proxyURL string) *reader.Client {
	t.Helper()
	return newProxyReader(t, f, proxyURL, true)
}

func proxyLightReader(t testing.TB, f *fixture, proxyURL string) *reader.Client {
	t.Helper()
	return newProxyReader(t, f, proxyURL, false)
}

func newProxyReader(t testing.TB, f *fixture, proxyURL string, full bool) *reader.Client {
	t.Helper()
	c, err := reader.New(&reader.Config{
		Full:          full,
		Root:          f.alpha.Root.Public(),
		Mirrors:       []string{proxyURL},
		StateDir:      t.TempDir(),
		NoDiscovery:   true,
		Timeout:       60 * time.Second,
		HeaderTimeout: 10 * time.Second,
		Now:           func() time.Time { return start.Add(2 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCachingProxy runs a real nginx with proxy_cache in front of a real
// mirror on loopback (issue 10: "a caching proxy or CDN in front of one
// just works"). A reader syncs an article through it and verifies it; a
// second reader's requests for tiles and bundles are cache hits that never
// reach the mirror; an article the publisher adds is seen through the
// proxy within the checkpoint's max-age; and a 404 for a tile the log does
// not hold yet is not kept, so the tile is served once it exists.
func TestCachingProxy(t *testing.T) {
	nginxBinary(t) // skip (or fail) before building anything
	f := newFixture(t, nil)
	f.grow(600) // full tiles and partial ones, of entries and hashes
	mirror := &countingMirror{h: f.h, n: map[string]int{}}
	up := httptest.NewServer(mirror)
	t.Cleanup(up.Close)
	px := startProxy(t, up.Listener.Addr().String())
	ctx := context.Background()
	a := f.alpha.ID()
	pubPath := "/p/" + a + "/"

	// 1. A reader syncs through the proxy and verifies an article.
	ra := proxyReader(t, f, px.URL)
	res, err := ra.Fetch(ctx, "plain")
	if err != nil {
		t.Fatalf("reader through the proxy: %v", err)
	}
	if body, err := res.Bundle.Entry(0); err != nil || !strings.Contains(string(body), "Second paragraph") {
		t.Fatalf("article through the proxy: %q, %v", body, err)
	}
	size := res.Checkpoint.Size
	t.Logf("first reader: log of %d leaves; %d requests reached the mirror: %v", size, mirror.count(), mirror.snapshot())

	// 2. A second reader, new state: every tile and bundle it asks for
	// comes from the cache; none of those requests reaches the mirror.
	before := mirror.snapshot()
	logFrom := px.mark(t)
	rb := proxyReader(t, f, px.URL)
	res, err = rb.Fetch(ctx, "plain")
	if err != nil {
		t.Fatalf("second reader through the proxy: %v", err)
	}
	if res.Checkpoint.Size != size {
		t.Fatalf("second reader: checkpoint of %d leaves, want %d", res.Checkpoint.Size, size)
	}
	after := mirror.snapshot()
	for p, n := range after {
		if (strings.Contains(p, "/tile/") || strings.HasPrefix(p, "/b/")) && n != before[p] {
			t.Errorf("second reader: %s reached the mirror (%d times, %d before)", p, n, before[p])
		}
	}
	lines := px.logged(t, logFrom, px.mark(t))
	hits, immutables := 0, 0
	for _, l := range lines {
		if len(l) != 4 {
			t.Fatalf("access log line %q", l)
		}
		if strings.Contains(l[2], "/tile/") || strings.HasPrefix(l[2], "/b/") {
			immutables++
			if l[0] != "HIT" {
				t.Errorf("second reader: %s was %s, not a cache HIT", l[2], l[0])
			}
		}
		if l[0] == "HIT" {
			hits++
		}
	}
	if immutables == 0 {
		t.Fatalf("second reader asked for no tile or bundle through the proxy: %v", lines)
	}
	t.Logf("second reader: %d requests to the proxy, %d hits (%d tiles and bundles)", len(lines), hits, immutables)
	// A light reader (index proof, one entry tile, the bundle): the tile
	// and bundle the full readers fetched are hits; its proof reaches the
	// mirror once, and is a hit for the next light reader.
	for i, want := range []string{"MISS", "HIT"} {
		logFrom := px.mark(t)
		rl := proxyLightReader(t, f, px.URL)
		if _, err := rl.Fetch(ctx, "plain"); err != nil {
			t.Fatalf("light reader %d through the proxy: %v", i+1, err)
		}
		proofs := 0
		for _, l := range px.logged(t, logFrom, px.mark(t)) {
			switch {
			case strings.Contains(l[2], "/index/"):
				proofs++
				if l[0] != want {
					t.Errorf("light reader %d: %s was %s, want %s", i+1, l[2], l[0], want)
				}
			case strings.Contains(l[2], "/tile/") || strings.HasPrefix(l[2], "/b/"):
				if l[0] != "HIT" {
					t.Errorf("light reader %d: %s was %s, not a cache HIT", i+1, l[2], l[0])
				}
			}
		}
		if proofs != 2 {
			t.Errorf("light reader %d asked for %d index proofs, want 2 (the full proof and, beside it, the top part of the split proof)", i+1, proofs)
		}
	}
	// The checkpoint is cached too, for its max-age.
	if !px.cachedTwice(t, mirror, pubPath+"checkpoint") {
		t.Errorf("checkpoint asked twice in a row: not a HIT the second time")
	}

	// An index proof (the light reader's path) is immutable for its size:
	// the second request is a HIT, and it verifies against the checkpoint
	// the proxy serves.
	// (Of an article the readers above did not ask for: theirs is cached.)
	proofPath := fmt.Sprintf("%sindex/%d/farsi", pubPath, size)
	if code, cache, _ := px.get(t, proofPath); code != http.StatusOK || cache == "HIT" {
		t.Fatalf("%s: %d, %s", proofPath, code, cache)
	}
	code, cache, proof := px.get(t, proofPath)
	if code != http.StatusOK || cache != "HIT" {
		t.Errorf("%s asked again: %d, %s", proofPath, code, cache)
	}
	if _, ok, err := index.Verify(res.Checkpoint.Index, "farsi", proof); !ok || err != nil {
		t.Errorf("%s through the proxy: present %v, %v", proofPath, ok, err)
	}

	// The index page, asked twice in a row, is rendered once.
	if !px.cachedTwice(t, mirror, "/") {
		t.Errorf("index page asked twice in a row: not a HIT the second time")
	}

	// CORS through the proxy: a cached tile keeps its
	// Access-Control-Allow-Origin, and a preflight is passed on.
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		req, err := http.NewRequest(method, px.URL+pubPath+"tile/entries/000", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "null")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := map[string]int{http.MethodGet: http.StatusOK, http.MethodOptions: http.StatusNoContent}[method]
		if resp.StatusCode != want || resp.Header.Get("Access-Control-Allow-Origin") != "*" || method == http.MethodGet && resp.Header.Get("X-Cache-Status") != "HIT" {
			t.Errorf("%s tile through the proxy: %d, %v", method, resp.StatusCode, resp.Header)
		}
	}

	// 4. A tile the log does not hold yet: 404, and not kept by the proxy
	// (the mirror sends no-store), so asking again reaches the mirror.
	next := pubPath + catalog.TilePath(tlog.Tile{H: catalog.TileHeight, L: -1, N: size / 256, W: int(size%256) + 1})
	for i := 1; i <= 2; i++ {
		code, cache, _ := px.get(t, next)
		if code != http.StatusNotFound || cache == "HIT" {
			t.Fatalf("%s, asked %d times: %d, %s", next, i, code, cache)
		}
		if n := mirror.count(next); n != i {
			t.Fatalf("%s, asked %d times: reached the mirror %d times", next, i, n)
		}
	}

	// 3. The publisher adds an article: a reader through the proxy sees it
	// within the checkpoint's max-age (nginx counts in whole seconds: one
	// more), plus the time a sync takes. nginx is another process, so this
	// polls, with a deadline.
	oldIndex := res.Checkpoint.Index
	f.publish(item("fresh", "text/plain", "Fresh news.", "en", "Fresh"))
	published := time.Now()
	// A proof at the old size that the proxy has not cached, as a reader
	// that got the old checkpoint from the proxy asks for it: the mirror
	// still proves it (it keeps its index's recent history).
	oldProof := fmt.Sprintf("%sindex/%d/hostile", pubPath, size)
	if code, cache, proof := px.get(t, oldProof); code != http.StatusOK || cache == "HIT" {
		t.Errorf("%s after the update: %d, %s", oldProof, code, cache)
	} else if _, ok, err := index.Verify(oldIndex, "hostile", proof); !ok || err != nil {
		t.Errorf("%s after the update: present %v, %v", oldProof, ok, err)
	}
	limit := checkpointMaxAge + time.Second + 4*time.Second
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var seenErr error
	for polls := 1; ; polls++ {
		res, seenErr = ra.Fetch(ctx, "fresh")
		if seenErr == nil {
			t.Logf("the new article seen through the proxy after %v (%d polls)", time.Since(published).Round(time.Millisecond), polls)
			break
		}
		if !errors.Is(seenErr, reader.ErrNotFound) {
			t.Fatalf("polling for the new article: %v", seenErr)
		}
		if time.Since(published) > limit {
			t.Fatalf("the new article not seen through the proxy within %v: %v", limit, seenErr)
		}
		<-tick.C
	}
	if body, err := res.Bundle.Entry(0); err != nil || string(body) != "Fresh news." {
		t.Errorf("new article through the proxy: %q, %v", body, err)
	}
	// The old checkpoint's proof, cached, is still served; the new
	// checkpoint's proof of the new article verifies.
	if code, cache, _ := px.get(t, proofPath); code != http.StatusOK || cache != "HIT" {
		t.Errorf("%s after the update: %d, %s", proofPath, code, cache)
	}
	newProof := fmt.Sprintf("%sindex/%d/fresh", pubPath, res.Checkpoint.Size)
	if code, cache, proof := px.get(t, newProof); code != http.StatusOK {
		t.Errorf("%s: %d, %s", newProof, code, cache)
	} else if _, ok, err := index.Verify(res.Checkpoint.Index, "fresh", proof); !ok || err != nil {
		t.Errorf("%s through the proxy: present %v, %v", newProof, ok, err)
	}
	// The tile that was 404 exists now, and the proxy serves it.
	if code, cache, body := px.get(t, next); code != http.StatusOK || len(body) == 0 {
		t.Errorf("%s once the log holds it: %d, %s", next, code, cache)
	}
	if code, cache, _ := px.get(t, next); code != http.StatusOK || cache != "HIT" {
		t.Errorf("%s asked again: %d, %s", next, code, cache)
	}
}

// TestProxyReadme checks that README.md's nginx snippet is the one
// TestCachingProxy runs, with the README's example values.
func TestProxyReadme(t *testing.T) {
	conf, err := os.ReadFile("testdata/nginx-proxy.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(conf), "  # README: begin\n")
	block, _, ok2 := strings.Cut(block, "  # README: end\n")
	if !ok || !ok2 {
		t.Fatal("testdata/nginx-proxy.conf: README markers not found")
	}
	// The README shows it as a file of its own, conf.d/samizdat.conf,
	// which nginx reads inside its http block: two spaces less indented.
	block = strings.ReplaceAll("\n"+block, "\n  ", "\n")[1:]
	var want bytes.Buffer
	tmpl := template.Must(template.New("").Parse(block))
	if err := tmpl.Execute(&want, &proxyConf{Cache: "/var/lib/nginx/samizdat", Mirror: "127.0.0.1:8080", Listen: "80"}); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, want.Bytes()) {
		t.Errorf("README.md does not hold the nginx snippet the test runs; it should read:\n%s", want.Bytes())
	}
}
