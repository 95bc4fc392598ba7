package static_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// fixture is a store with one publisher ("alpha") holding ordinary
// articles, a withdrawn one and a hostile one, and a mirror list.
type fixture struct {
	t     testing.TB
	dir   string
	st    *store.Store
	alpha *testkeys.Publisher
	pub   *publish.Publisher
	clock *clock
}

// hostileHTML is an article body whose script, if it ran, leaves a
// trace; its entries include an HTML file typed image/png and an SVG
// with script.
const hostileHTML = `<p>Hostile article, kept readable.</p>
<script>document.documentElement.setAttribute('data-pwned-script','1')</script>
<img src="img/photo.png" alt="photo" onerror="document.documentElement.setAttribute('data-pwned-onerror','1')">
<img src="evil.html" alt="html typed png">
<img src="img/evil.svg" alt="svg entry">
<a href="javascript:alert(1)">js link</a>`

const evilHTMLEntry = `<!doctype html><title>evil</title><script>document.documentElement.setAttribute('data-pwned-html-entry','1')</script>`

const evilSVG = `<svg xmlns="http://www.w3.org/2000/svg" onload="document.documentElement.setAttribute('data-pwned-svg','1')"><script>document.documentElement.setAttribute('data-pwned-svg2','1')</script><circle r="4"/></svg>`

var pngBytes = []byte("\x89PNG\r\n\x1a\nnot really a png but stored as is")

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "store"), alpha: testkeys.New(t, "alpha"), clock: &clock{start}}
	var err error
	if f.st, err = store.Open(f.dir, &store.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if f.pub, err = publish.New(f.st, f.alpha.Root.Public(), f.alpha.Statement, f.alpha.Signer, &publish.Options{Now: f.clock.now}); err != nil {
		t.Fatal(err)
	}
	f.publish(
		item("hostile", "text/html", hostileHTML, "en", "Hostile <b>title</b>",
			bundle.File{Name: "evil.html", Type: "image/png", Data: []byte(evilHTMLEntry)},
			bundle.File{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(evilSVG)},
			bundle.File{Name: "img/photo.png", Type: "image/png", Data: pngBytes}),
		item("plain", "text/plain", "First line <b>not bold</b>\nsecond line", "de", "Plain text"),
		item("farsi", "text/html", "<p>سلام دنیا</p>", "fa", "سلام"),
		item("withdrawn", "text/plain", "to be withdrawn", "en", "Withdrawn soon"),
	)
	f.clock.t = f.clock.t.Add(time.Minute)
	if err := f.pub.Retract("withdrawn"); err != nil {
		t.Fatal(err)
	}
	f.clock.t = f.clock.t.Add(time.Minute)
	if _, err := f.pub.SetMirrors([]string{"https://mirror.example/"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func item(id, typ, body, lang, title string, files ...bundle.File) publish.Item {
	return publish.Item{
		Meta: bundle.Metadata{ID: id, Title: title, Language: lang, CanonicalURL: "https://news.example/" + id,
			Authors: []string{"A. Writer"}},
		Files: append([]bundle.File{{Type: typ, Data: []byte(body)}}, files...),
	}
}

func (f *fixture) publish(items ...publish.Item) {
	f.t.Helper()
	f.clock.t = f.clock.t.Add(time.Minute)
	if _, err := f.pub.Publish(items); err != nil {
		f.t.Fatal(err)
	}
}

// export exports the fixture's store to a Sink.
func (f *fixture) export(sink static.Sink) *static.Stats {
	f.t.Helper()
	stats, err := static.Export(context.Background(), f.st, sink, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return stats
}

// exportDir exports to a directory.
func (f *fixture) exportDir(dir string) *static.Stats {
	f.t.Helper()
	sink, err := static.NewDir(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.export(sink)
}

// recorder is a Sink that records the order of what is put, in front
// of another.
type recorder struct {
	static.Sink
	mu   sync.Mutex
	puts []string
}

func (r *recorder) Put(ctx context.Context, o static.Object, data []byte) error {
	r.mu.Lock()
	r.puts = append(r.puts, o.Name)
	r.mu.Unlock()
	return r.Sink.Put(ctx, o, data)
}

func (r *recorder) Delete(ctx context.Context, names []string) error {
	r.mu.Lock()
	for _, n := range names {
		r.puts = append(r.puts, "(delete) "+n)
	}
	r.mu.Unlock()
	return r.Sink.Delete(ctx, names)
}

func (r *recorder) Sync(ctx context.Context) error {
	r.mu.Lock()
	r.puts = append(r.puts, "(sync)")
	r.mu.Unlock()
	return r.Sink.Sync(ctx)
}

// freePort returns a loopback address with a free port.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startProcess starts an external server and waits until url answers
// (any status) or the deadline passes; it is stopped when the test ends.
func startProcess(t testing.TB, url string, cmd *exec.Cmd) {
	t.Helper()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s said:\n%s", cmd.Path, out.String())
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited before answering", cmd.Path)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer at %s within 20s: %v", cmd.Path, url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling an external process, with a deadline
	}
}

// servePython serves root with python3 -m http.server on loopback and
// returns its base URL.
func servePython(t testing.TB, root string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to serve the export")
	}
	addr := freePort(t)
	host, port, _ := strings.Cut(addr, ":")
	base := "http://" + addr
	startProcess(t, base+"/", exec.Command(py, "-m", "http.server", "--bind", host, "--directory", root, port))
	return base
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileID(t testing.TB, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(fi.Sys(), fi.ModTime().UnixNano())
}

// lockedBuffer keeps the last part of a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// maxProcessOutput bounds what is kept of a process's output.
const maxProcessOutput = 64 << 10

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > maxProcessOutput {
		b.buf = b.buf[len(b.buf)-maxProcessOutput:]
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
