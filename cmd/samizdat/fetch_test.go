package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// runExit runs a samizdat command in process and returns its exit code,
// stdout and stderr.
func runExit(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SAMIZDAT_PASSPHRASE" {
			return testPassphrase
		}
		return ""
	}}
	return run(e, args), out.String(), errb.String()
}

// TestFetchFromMirrors runs a publisher, two real mirrors fed by push over
// QUIC, and the reader's fetch: through a black hole to the first mirror;
// then, with the first mirror gone and no -m given, through the second,
// which the reader learned from the publisher's signed mirror list.
func TestFetchFromMirrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	keyDir, pubStore, state := filepath.Join(dir, "keys"), filepath.Join(dir, "store"), filepath.Join(dir, "state")
	pub := filepath.Join(keyDir, "publisher.pub")
	runCmd(t, ctx, "keygen", "-o", keyDir)
	article := filepath.Join(dir, "geneva-talks.md")
	if err := os.WriteFile(article, []byte("# Talks in Geneva\n\nThe talks ended without agreement.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(runCmd(t, ctx, "publish", "-k", keyDir, "-s", pubStore, article), " ")

	var ms []*mirror.Mirror
	for _, name := range []string{"one", "two"} {
		m, err := mirror.Start(ctx, &mirror.Config{Store: filepath.Join(dir, name), Trust: []string{pub}, HTTP: "127.0.0.1:0", QUIC: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer stopMirror(m)
		ms = append(ms, m)
	}
	one, two := "http://"+ms[0].HTTPAddr(), "http://"+ms[1].HTTPAddr()
	runCmd(t, ctx, "mirrors", "add", "-k", keyDir, "-s", pubStore, two)
	runCmd(t, ctx, "push", "-s", pubStore, "quic://"+ms[0].QUICAddr(), "quic://"+ms[1].QUICAddr())
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	blackHole := "http://" + hole.Addr().String()

	out := filepath.Join(dir, "saved")
	code, stdout, stderr := runExit(ctx, "fetch", "-t", pub, "--state", state, "-m", blackHole, "-m", one, "-o", out, id)
	if code != exitOK || !strings.Contains(stdout, "verified \"Talks in Geneva\": "+id+" revision 1") || !strings.Contains(stdout, "from "+one) {
		t.Fatalf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil || !bytes.Contains(page, []byte("The talks ended without agreement.")) {
		t.Fatalf("saved page: %v\n%s", err, page)
	}

	// Mirror one goes away; the reader gives no -m and still gets the
	// article, from the mirror the publisher's signed list named.
	stopMirror(ms[0])
	code, stdout, stderr = runExit(ctx, "fetch", "-t", pub, "--state", state, "-o", out, id)
	if code != exitOK || !strings.Contains(stdout, "from "+two) {
		t.Fatalf("fetch through a learned mirror: exit %d\n%s%s", code, stdout, stderr)
	}
	// The list: ID, revision, date and title, tab-separated. Without
	// state the titles come from bundles fetched for the list.
	listRow := regexp.MustCompile(`(?m)^` + id + "\t1\t20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\tTalks in Geneva$")
	for _, args := range [][]string{{"--state", state}, {"--no-state", "-m", two}} {
		code, stdout, stderr = runExit(ctx, append([]string{"fetch", "-t", pub}, args...)...)
		if code != exitOK || !listRow.MatchString(stdout) || stderr != "" {
			t.Errorf("list %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}

	// A page's URL pasted from the browser is the mirror, and names the
	// article; a bare HOST:PORT is refused with the URL to give.
	pasted := two + "/p/" + pubID(t, pub) + "/a/" + id + "/"
	out2 := filepath.Join(dir, "saved-pasted")
	code, stdout, stderr = runExit(ctx, "fetch", "-t", pub, "--no-state", "--no-discovery", "-m", pasted, "-o", out2)
	if code != exitOK || !strings.Contains(stdout, "verified \"Talks in Geneva\"") || !strings.Contains(stdout, "from "+two+"\n") {
		t.Errorf("pasted URL: exit %d\n%s%s", code, stdout, stderr)
	}
	bare := strings.TrimPrefix(two, "http://")
	code, _, stderr = runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", bare, id)
	if first, _, _ := strings.Cut(stderr, "\n"); code != exitUsage || first != "samizdat fetch: -m: reader: mirror URL \""+bare+"\" has no scheme: give "+two {
		t.Errorf("bare host:port: exit %d\n%s", code, stderr)
	}

	// Mirrors that do not carry a publisher say so, once, in one line.
	otherKeys := filepath.Join(dir, "other-keys")
	runCmd(t, ctx, "keygen", "-o", otherKeys)
	otherPub := filepath.Join(otherKeys, "publisher.pub")
	alias := strings.Replace(two, "127.0.0.1", "localhost", 1)
	code, _, stderr = runExit(ctx, "fetch", "-t", otherPub, "--no-state", "--no-discovery", "-m", two, "-m", alias, id)
	want := "samizdat fetch: reader: no mirror gave a verified copy: none of the 2 mirrors tried carries this publisher (" + pubID(t, otherPub) + "): "
	if code != exitFailed || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("mirror without the publisher: exit %d\n%s", code, stderr)
	}

	// Everything is stale to a reader who wants it younger than a
	// nanosecond: still verified (exit 0), and said so.
	code, _, stderr = runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", two, "--max-age", "1ns", "-o", out, id)
	if code != exitOK || !strings.Contains(stderr, "warning: STALE") {
		t.Errorf("stale: exit %d\n%s", code, stderr)
	}

	// The local reader serves what it verified, until stopped.
	readCtx, stopRead := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		e := &env{ctx: readCtx, stdin: strings.NewReader(""), stdout: pw, stderr: io.Discard, getenv: func(string) string { return "" }}
		done <- run(e, []string{"read", "-t", pub, "--state", state, "--listen", "127.0.0.1:0"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(line, "samizdat read: open ")
	addr, _, _ = strings.Cut(addr, " ")
	if err != nil || !ok {
		t.Fatalf("read printed %q, %v", line, err)
	}
	if code, page := httpGet(t, addr+"a/"+id+"/"); code != http.StatusOK || !bytes.Contains(page, []byte("The talks ended without agreement.")) {
		t.Errorf("local reader: %d\n%s", code, page)
	}
	stopRead()
	if code := <-done; code != exitOK {
		t.Errorf("read exited %d", code)
	}

	// Only a black hole: exit 1, naming it and why.
	code, _, stderr = runExit(ctx, "fetch", "-t", pub, "--no-state", "--no-discovery", "-m", blackHole, "--timeout", "10s", id)
	if code != exitFailed || !strings.Contains(stderr, blackHole+": GET /p/") || !strings.Contains(stderr, "no answer within") {
		t.Errorf("black hole: exit %d\n%s", code, stderr)
	}

	// Mistakes in the command line: exit 2.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fetch", "-m", two, id}, "want -t PUBFILE"},
		{[]string{"fetch", "-t", pub, "--no-state", "--no-discovery", id}, "want at least one -m URL"},
		{[]string{"fetch", "-t", pub, "-m", two, id}, "no state directory"}, // no HOME here
		{[]string{"fetch", "-t", pub, "--no-state", "-m", "ftp://example.org", id}, "scheme must be http, https or h3"},
		{[]string{"fetch", "-t", pub, "--no-state", "-m", two, "a", "b"}, "want at most one article ID"},
		{[]string{"fetch", "-t", pub, "--no-state", "-m", two, "Not/An/ID"}, "only a-z"},
		{[]string{"fetch", "-t", pub, "--no-state", "-m", two, "--log-level", "loud", id}, "--log-level"},
		{[]string{"read", "-t", pub, "--no-state", "-m", two, "--listen", "nowhere"}, "--listen"},
	} {
		code, _, stderr := runExit(ctx, tc.args...)
		first, _, _ := strings.Cut(stderr, "\n")
		if code != exitUsage || !strings.Contains(first, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	in := "GET /b/x: 404 \x1b[1A\x1b[2Kgone\nnext line \u202eevil\u202c \x00 ok ü"
	want := "GET /b/x: 404 \\u001b[1A\\u001b[2Kgone\nnext line \\u202eevil\\u202c \\u0000 ok ü"
	if got := printable(in); got != want {
		t.Errorf("printable:\n got %q\nwant %q", got, want)
	}
}

func TestForkAlarm(t *testing.T) {
	var errb bytes.Buffer
	e := &env{stderr: &errb}
	forkAlarm(e, (&reader.Error{Failures: []reader.Failure{
		{Mirror: "http://liar.example", Err: errors.New("leaves do not hash")},
		{Mirror: "http://fork.example", Err: fmt.Errorf("%w: another root", reader.ErrFork)},
	}}).Forks(), []string{"/state/forks/1234.txt"})
	if got := errb.String(); strings.Count(got, "ALARM") != 1 || !strings.Contains(got, "http://fork.example served a checkpoint signed by the publisher's key") || !strings.Contains(got, "evidence is kept in /state/forks/1234.txt") {
		t.Errorf("alarm: %q", got)
	}
}

// TestFetchSavesOnlyImages: fetch -o writes the page and the images named
// for their type, and warns of each entry it leaves out, such as one named
// evil.html and typed image/png, which opened from the disk would run its
// script.
func TestFetchSavesOnlyImages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	pub, stDir, st, pb := newPublisherStore(t, dir)
	it := publish.Item{Meta: bundle.Metadata{ID: "hostile", Title: "Hostile names", Language: "en"}, Files: []bundle.File{
		{Type: "text/html", Data: []byte(`<p>Open the picture.</p><a href="evil.html">picture</a><img src="photo.png">`)},
		{Name: "evil.html", Type: "image/png", Data: []byte(`<script>document.title = "ran"</script>`)},
		{Name: "photo.png", Type: "image/png", Data: []byte("\x89PNG\r\n\x1a\n a picture")},
	}}
	if _, err := pb.Publish([]publish.Item{it}); err != nil {
		t.Fatal(err)
	}
	m := serveStore(t, ctx, pub, stDir, st)

	out := filepath.Join(dir, "saved")
	code, stdout, stderr := runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", "http://"+m.HTTPAddr(), "-o", out, "hostile")
	if code != exitOK {
		t.Fatalf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `samizdat fetch: warning: not saved: "evil.html" (image/png): not named as an image`) || strings.Count(stderr, "not saved") != 1 {
		t.Errorf("no warning for evil.html:\n%s", stderr)
	}
	des, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if strings.Join(names, " ") != "index.html photo.png" {
		t.Errorf("saved %q, want index.html and photo.png", names)
	}
	if !strings.Contains(stdout, "wrote "+filepath.Join(out, "photo.png")) || strings.Contains(stdout, "evil.html") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

// pubID returns the publisher ID of a publisher.pub file.
func pubID(t *testing.T, pub string) string {
	t.Helper()
	k, err := keys.ReadPublicKeyFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// serveStore closes the publisher's store st (in stDir) and starts a
// mirror of it on a loopback HTTP port, trusting pub, stopped when the
// test ends.
func serveStore(t *testing.T, ctx context.Context, pub, stDir string, st *store.Store) *mirror.Mirror {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := mirror.Start(ctx, &mirror.Config{Store: stDir, Trust: []string{pub}, HTTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopMirror(m) })
	return m
}

// newPublisherStore makes a test publisher, writes its publisher.pub in
// dir and opens a new store in dir/store with a publisher for it.
func newPublisherStore(t *testing.T, dir string) (pub, stDir string, st *store.Store, pb *publish.Publisher) {
	t.Helper()
	p := testkeys.New(t, "daily-news")
	pub = filepath.Join(dir, "publisher.pub")
	if err := os.WriteFile(pub, []byte(p.Root.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stDir = filepath.Join(dir, "store")
	st, err := store.Open(stDir, &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	pb, err = publish.New(st, p.Root.Public(), p.Statement, p.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, stDir, st, pb
}

// TestFetchLightAndFull: a new reader's fetch of one article takes the
// light path and says nothing more; through a mirror that serves no index
// proofs it verifies the whole log and says so in one line; --full and
// -n 0 list from the whole log.
func TestFetchLightAndFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	pub, stDir, st, pb := newPublisherStore(t, dir)
	for _, id := range []string{"first", "second"} {
		it := publish.Item{Meta: bundle.Metadata{ID: id, Title: "Article " + id, Language: "en"}, Files: []bundle.File{{Type: "text/html", Data: []byte("<p>Words.</p>")}}}
		if _, err := pb.Publish([]publish.Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	m := serveStore(t, ctx, pub, stDir, st)
	url := "http://" + m.HTTPAddr()
	noProofs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/index/") {
			http.NotFound(w, r)
			return
		}
		httputil.NewSingleHostReverseProxy(&neturl.URL{Scheme: "http", Host: m.HTTPAddr()}).ServeHTTP(w, r)
	}))
	defer noProofs.Close()

	out := filepath.Join(dir, "saved")
	code, stdout, stderr := runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", url, "-o", out, "first")
	if code != exitOK || stderr != "" || !strings.Contains(stdout, `verified "Article first"`) {
		t.Fatalf("light fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", noProofs.URL, "-o", out, "first")
	if code != exitOK || !strings.Contains(stdout, `verified "Article first"`) ||
		stderr != "samizdat fetch: "+noProofs.URL+" gives no per-article proof (the mirror serves no index proofs (404 Not Found)): verified the whole log instead\n" {
		t.Fatalf("fetch without proofs: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"-n", "1"}, {"--full", "-n", "1"}, {"-n", "0"}} {
		code, stdout, stderr = runExit(ctx, append([]string{"fetch", "-t", pub, "--no-state", "-m", url}, args...)...)
		rows := strings.Count(stdout, "\tArticle ")
		want := 2
		if args[0] == "-n" && args[1] == "1" || args[0] == "--full" {
			want = 1
		}
		if code != exitOK || stderr != "" || rows != want || !strings.Contains(stdout, "second\t1\t") {
			t.Errorf("list %v: exit %d, %d rows, want %d\n%s%s", args, code, rows, want, stdout, stderr)
		}
	}
}
