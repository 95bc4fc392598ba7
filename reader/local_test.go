package reader_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader/local"
)

// hostileBody tries to run script in every way a sanitiser must stop.
const hostileBody = `<p>Hostile.</p><script>alert(1)</script><img src="photo.png" onerror="alert(2)">
<a href="javascript:alert(3)">x</a><iframe src="https://evil.example/"></iframe><svg onload="alert(4)"></svg>
<img src="https://tracker.example/p.gif"><style>body{display:none}</style>`

// scriptFree fails if page holds anything that could run script or load
// from elsewhere.
func scriptFree(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script", "onerror", "onload", "javascript:", "<iframe", "tracker.example", "<style>body"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
}

func TestWriteArticle(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	svg := bundle.File{Name: "evil.svg", Type: "image/svg+xml", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}
	if _, err := w.publisher(st, t2.Add(time.Minute)).Publish([]publish.Item{item("h", hostileBody+`<a href="evil.svg">x</a>`, svg)}); err != nil {
		t.Fatal(err)
	}
	url := serve(t, w.handler(st))
	r, err := w.client("", url).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, skipped, err := local.WriteArticle(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(skipped) != 0 {
		t.Errorf("wrote %v, want the image and index.html", files)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	img, _ := os.ReadFile(filepath.Join(dir, "photo.png"))
	if string(img) != string(pngBytes) {
		t.Error("image differs")
	}
	for _, want := range []string{"Corrected words.", `src="photo.png"`, "Content-Security-Policy", "default-src &#39;none&#39;", w.pub.Signer.Name(), "was verified when it was saved"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("saved page lacks %q", want)
		}
	}
	r, err = w.client("", url).Fetch(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, skipped, err = local.WriteArticle(dir, r); err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].Name != "evil.svg" {
		t.Errorf("skipped %v, want evil.svg", skipped)
	}
	page, _ = os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(page), "Hostile.") {
		t.Fatal("hostile article not written")
	}
	if _, err := os.Stat(filepath.Join(dir, "evil.svg")); err == nil {
		t.Error("an SVG entry was saved, where opening it would run its script")
	}
	scriptFree(t, string(page))
}

// get returns a page's status, body and Content-Security-Policy.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Security-Policy")
}

// refresh asks the local reader at base to ask the mirrors now, as its
// own page's button does, and returns the status.
func refresh(t *testing.T, base string) int {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/refresh", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLocalReader(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	if _, err := w.publisher(st, t2.Add(time.Minute)).Publish([]publish.Item{item("h", hostileBody)}); err != nil {
		t.Fatal(err)
	}
	mirror := httptest.NewServer(w.handler(st))
	defer mirror.Close()
	state := t.TempDir()
	c := w.client(state, mirror.URL)
	srv := httptest.NewServer(local.NewServer(c, &local.Options{Prefetch: -1}))
	defer srv.Close()

	if code, body, _ := get(t, srv.URL+"/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "asking the mirrors") {
		t.Errorf("before any fetch: %d %q", code, body)
	}
	if code := refresh(t, srv.URL); code != http.StatusSeeOther {
		t.Errorf("refresh: %d", code)
	}
	get(t, srv.URL+"/a/a/") // downloaded: the list shows its date and language
	code, body, csp := get(t, srv.URL+"/")
	if !strings.Contains(body, `<a href="/a/a/" lang="en" dir="auto">Article a</a> <span class="meta"><time datetime=`) || !strings.Contains(body, `<span lang="en" dir="auto">English</span>`) || !strings.Contains(body, `<h1 dir="auto">`+w.root().Name()+`</h1>`) {
		t.Errorf("index: no date and language for a downloaded article, or the key ID in the heading:\n%s", body)
	}
	if code != 200 || !strings.Contains(body, `href="/a/a/"`) || !strings.Contains(body, "This list is verified on this computer") {
		t.Errorf("index: %d %q", code, body)
	}
	if want := "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"; csp != want {
		t.Errorf("CSP %q, want %q", csp, want)
	}
	code, body, _ = get(t, srv.URL+"/a/a/")
	if code != 200 || !strings.Contains(body, "Corrected words.") || !strings.Contains(body, `src="/a/a/photo.png"`) || !strings.Contains(body, w.pub.Signer.Name()) {
		t.Errorf("article: %d %q", code, body)
	}
	if code, img, _ := get(t, srv.URL+"/a/a/photo.png"); code != 200 || img != string(pngBytes) {
		t.Errorf("image: %d", code)
	}
	code, body, _ = get(t, srv.URL+"/a/h/")
	if code != 200 || !strings.Contains(body, "Hostile.") {
		t.Errorf("hostile article: %d", code)
	}
	scriptFree(t, body)
	if code, _, _ := get(t, srv.URL+"/a/nope/"); code != http.StatusNotFound {
		t.Errorf("unknown article: %d", code)
	}
	// A page elsewhere may not load the reader's pages or images (which
	// would tell it what its user reads), nor make it fetch.
	for site, want := range map[string]int{"cross-site": http.StatusForbidden, "same-site": http.StatusForbidden, "same-origin": http.StatusOK, "none": http.StatusOK} {
		req, _ := http.NewRequest("GET", srv.URL+"/a/a/photo.png", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Sec-Fetch-Site %s: %d, want %d", site, resp.StatusCode, want)
		}
		if want == http.StatusOK && resp.Header.Get("Cross-Origin-Resource-Policy") != "same-origin" {
			t.Errorf("no Cross-Origin-Resource-Policy: same-origin")
		}
	}
	// The mirror goes away: the saved copy is still shown, saying why it
	// may be old; an article never downloaded is explained, mirror by
	// mirror.
	mirror.Close()
	c2 := w.client(state, mirror.URL)
	srv2 := httptest.NewServer(local.NewServer(c2, &local.Options{Prefetch: -1}))
	defer srv2.Close()
	code, body, _ = get(t, srv2.URL+"/a/a/")
	if code != 200 || !strings.Contains(body, "Corrected words.") || !strings.Contains(body, "copy saved earlier") {
		t.Errorf("offline article: %d %q", code, body)
	}
	// One status line, in plain words: no "verified, current" above it,
	// no error text from inside the program.
	if n := strings.Count(body, `role="status"`); n != 1 || strings.Contains(body, "current in the publisher") || strings.Contains(body, "reader:") || strings.Contains(body, "connection refused") {
		t.Errorf("offline article: %d status lines, or a contradicting line, or raw error text:\n%s", n, body)
	}
	code, body, _ = get(t, srv2.URL+"/a/d/")
	if code != http.StatusBadGateway || !strings.Contains(body, "None of the mirrors") || !strings.Contains(body, mirror.URL) {
		t.Errorf("offline, never downloaded: %d %q", code, body)
	}
}

func TestLocalReaderStale(t *testing.T) {
	w := newWorld(t)
	frozen := serve(t, w.handler(w.store(step0, step1)))
	c := w.client(t.TempDir(), frozen)
	srv := local.NewServer(c, &local.Options{Prefetch: -1})
	local := func(method, path string) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		r.Host = "127.0.0.1:8470"
		return r
	}
	srv.ServeHTTP(httptest.NewRecorder(), local("POST", "/refresh"))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, local("GET", "/a/b/"))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Out of date") || !strings.Contains(rec.Body.String(), "31 hours ago") {
		t.Errorf("stale article: %d %q", rec.Code, rec.Body)
	}
}

// TestLocalReaderForkAlarm: a fork seen on the way to a verified answer
// is shown on every page, not lost among mirrors' failures.
func TestLocalReaderForkAlarm(t *testing.T) {
	w := newWorld(t)
	state := w.primed()
	fork := serve(t, w.handler(w.store(step0, fork1, fork2)))
	good := serve(t, w.honestMirror().h)
	srv := httptest.NewServer(local.NewServer(w.client(state, fork, good), &local.Options{Prefetch: -1}))
	defer srv.Close()
	if code := refresh(t, srv.URL); code != http.StatusSeeOther {
		t.Fatalf("refresh: %d", code)
	}
	for _, path := range []string{"/", "/a/a/"} {
		code, body, _ := get(t, srv.URL+path)
		if code != 200 || !strings.Contains(body, `class="alarm"`) || !strings.Contains(body, fork) {
			t.Errorf("%s: %d, no fork alarm:\n%s", path, code, body)
		}
	}
	// The evidence is kept, both signed checkpoints, and a reader started
	// later still shows the alarm.
	c := w.client(state, good)
	ev := c.ForkEvidence()
	if len(ev) != 1 {
		t.Fatalf("evidence files: %v", ev)
	}
	b, err := os.ReadFile(ev[0])
	if err != nil || strings.Count(string(b), "\n— daily-news") < 2 || !strings.Contains(string(b), fork) {
		t.Errorf("evidence %s: %v\n%s", ev[0], err, b)
	}
	srv2 := httptest.NewServer(local.NewServer(c, &local.Options{Prefetch: -1}))
	defer srv2.Close()
	if code, body, _ := get(t, srv2.URL+"/a/a/"); code != 200 || !strings.Contains(body, "The evidence is in "+ev[0]) {
		t.Errorf("a later reader: %d, no alarm:\n%s", code, body)
	}
}

// counting counts the requests h answers.
func counting(h http.Handler) (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}), &n
}

// TestLocalReaderRefusesOtherPages: on every route, a request that a
// browser marks as coming from a page elsewhere (by Sec-Fetch-Site, or,
// in browsers too old to send it, by Origin or Referer) is refused, and
// the reader asks no mirror for it; the reader's own requests are served.
func TestLocalReaderRefusesOtherPages(t *testing.T) {
	w := newWorld(t)
	h, asked := counting(w.handler(w.store(honest...)))
	state := t.TempDir()
	c := w.client(state, serve(t, h))
	if _, err := c.Fetch(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(local.NewServer(c, &local.Options{Prefetch: -1, FreshFor: time.Nanosecond}))
	defer srv.Close()
	do := func(method, path string, hdr map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	routes := []struct {
		method, path string
		own          int  // the status for the reader's own page
		asks         bool // whether it makes the reader ask the mirrors
	}{
		{"POST", "/refresh", http.StatusSeeOther, true},
		{"GET", "/a/a/", http.StatusOK, true},
		{"GET", "/", http.StatusOK, false},
		{"GET", "/style.css", http.StatusOK, false},
		{"GET", "/a/a/photo.png", http.StatusOK, false},
		{"POST", "/", http.StatusMethodNotAllowed, false},
		{"POST", "/a/a/", http.StatusMethodNotAllowed, false},
		{"GET", "/refresh", http.StatusMethodNotAllowed, false},
	}
	elsewhere := map[string]map[string]string{
		"Origin elsewhere":              {"Origin": "http://evil.example"},
		"Origin null":                   {"Origin": "null"},
		"Origin of another port":        {"Origin": "http://127.0.0.1:1"},
		"Origin over another scheme":    {"Origin": "https://" + strings.TrimPrefix(srv.URL, "http://")},
		"Referer elsewhere":             {"Referer": "http://evil.example/page"},
		"Referer unparsable":            {"Referer": "http://[::1"},
		"own Origin, Referer elsewhere": {"Origin": srv.URL, "Referer": "http://evil.example/"},
		"Sec-Fetch-Site cross-site":     {"Sec-Fetch-Site": "cross-site", "Origin": srv.URL},
		"Sec-Fetch-Site same-site":      {"Sec-Fetch-Site": "same-site"},
	}
	own := map[string]map[string]string{
		"typed in":              {},
		"Sec-Fetch-Site none":   {"Sec-Fetch-Site": "none"},
		"own page":              {"Sec-Fetch-Site": "same-origin", "Origin": srv.URL, "Referer": srv.URL + "/a/a/"},
		"own page, old browser": {"Origin": strings.ToUpper(srv.URL), "Referer": srv.URL + "/"},
	}
	for _, rt := range routes {
		for name, hdr := range elsewhere {
			t.Run(rt.method+" "+rt.path+", "+name, func(t *testing.T) {
				before := asked.Load()
				if code := do(rt.method, rt.path, hdr); code != http.StatusForbidden {
					t.Errorf("%d, want %d", code, http.StatusForbidden)
				}
				if n := asked.Load() - before; n != 0 {
					t.Errorf("the reader asked the mirror %d times", n)
				}
			})
		}
		for name, hdr := range own {
			t.Run(rt.method+" "+rt.path+", "+name, func(t *testing.T) {
				before := asked.Load()
				if code := do(rt.method, rt.path, hdr); code != rt.own {
					t.Errorf("%d, want %d", code, rt.own)
				}
				if n := asked.Load() - before; rt.asks != (n > 0) {
					t.Errorf("the reader asked the mirror %d times", n)
				}
			})
		}
	}
}

// TestLocalReaderHosts: only requests naming the reader by localhost, a
// loopback address or one of Options.Hosts are served; a page elsewhere
// whose name was rebound to loopback, or any other address, is refused.
func TestLocalReaderHosts(t *testing.T) {
	w := newWorld(t)
	c := w.client(t.TempDir(), serve(t, w.honestMirror().h))
	for _, tc := range []struct {
		hosts []string
		host  string
		ok    bool
	}{
		{nil, "localhost:8470", true},
		{nil, "LocalHost", true},
		{nil, "127.0.0.1", true},
		{nil, "127.0.0.2:8470", true},
		{nil, "[::1]:8470", true},
		{nil, "evil.example:80", false},
		{nil, "evil.example", false},
		{nil, "localhost.evil.example", false},
		{nil, "127.0.0.1.evil.example", false},
		{nil, "192.0.2.1:8470", false},
		{nil, "10.0.0.1", false},
		{nil, "0.0.0.0:8470", false},
		{nil, "[2001:db8::1]:8470", false},
		{nil, "[fe80::1]", false},
		{[]string{"192.0.2.7"}, "192.0.2.7:8470", true},
		{[]string{"192.0.2.7"}, "192.0.2.8:8470", false},
		{[]string{"reader.lan"}, "reader.lan:8470", true},
		{[]string{"*"}, "anything.example", true},
	} {
		t.Run(fmt.Sprint(tc.hosts, " ", tc.host), func(t *testing.T) {
			srv := httptest.NewServer(local.NewServer(c, &local.Options{Prefetch: -1, Hosts: tc.hosts}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/style.css", nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[tc.ok]; resp.StatusCode != want {
				t.Errorf("%d, want %d", resp.StatusCode, want)
			}
		})
	}
}
