package static_test

import (
	"context"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/static"
)

// TestS3Blackholed (red team, fourth session): an S3 endpoint that
// accepts connections and never answers held each request for minio-go's
// minute, 10 times, and one that trickles its answer for good. With
// S3Config.RequestTimeout each request ends in time and a List or Put
// fails after about s3MaxTries timeouts, so a running mirror counts the
// export failed and tries again.
func TestS3Blackholed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	// An endpoint that answers at once, then trickles its body a byte
	// every 100 ms.
	stop := make(chan struct{})
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		for range 100000 {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(func() { close(stop); trickle.Close() })
	sink := func(ep string) *static.S3 {
		s, err := static.NewS3(&static.S3Config{Endpoint: ep, Bucket: "news-bucket",
			AccessKey: "AKIDSECRETNAME", SecretKey: "hunter2-secret-key", RequestTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	black, slow := sink("http://"+ln.Addr().String()), sink(trickle.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, op := range map[string]func() error{
		"list, blackholed": func() error { _, err := black.List(ctx); return err },
		"put, blackholed":  func() error { return black.Put(ctx, static.Object{Name: "x", Type: "text/plain"}, []byte("x")) },
		"get, trickled":    func() error { _, err := slow.Get(ctx, "x", 1<<20); return err },
		"list, trickled":   func() error { _, err := slow.List(ctx); return err },
	} {
		t0 := time.Now()
		err := op()
		d := time.Since(t0)
		t.Logf("%s: failed after %v: %v", name, d.Round(time.Millisecond), err)
		if err == nil || d > 10*time.Second || ctx.Err() != nil {
			t.Errorf("%s: %v after %v; want a failure within 10 s", name, err, d)
		}
	}
}

// TestExportRiskyIDTypes (red team, fourth session): a publisher names
// articles so that the files named by their ids (full and split index
// proofs) get an extension a static host serves as XHTML, JavaScript or
// XML: x.xhtm (application/xhtml+xml in Debian's mime.types, which
// Python's http.server reads), y.es (text/javascript), z.vxml
// (application/voicexml+xml). No file the export writes, but its pages,
// feed and verifier page, has a type by the system's table (as
// mime.TypeByExtension reads it) that a browser renders or runs.
func TestExportRiskyIDTypes(t *testing.T) {
	f := newFixture(t)
	ids := []string{"x.xhtm", "y.es", "z.vxml", "w.xpdl", "ok.txt"}
	for _, id := range ids {
		f.publish(item(id, "text/plain", "body of "+id, "en", id))
	}
	out := t.TempDir()
	stats := f.exportDir(out)
	risky := func(typ string) bool {
		typ, _, _ = strings.Cut(typ, ";")
		return strings.Contains(typ, "html") || strings.Contains(typ, "xml") || strings.Contains(typ, "script") || strings.Contains(typ, "svg")
	}
	var written []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		rel = filepath.ToSlash(rel)
		written = append(written, rel)
		typ := mime.TypeByExtension(filepath.Ext(rel))
		page := strings.HasSuffix(rel, ".html") && !strings.HasPrefix(rel, "e/") && !strings.Contains(rel, "/index/") || strings.HasSuffix(rel, "/feed.atom")
		if risky(typ) && !page {
			t.Errorf("%s: a static host serves it as %s", rel, typ)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(written, func(s string) bool { return strings.HasSuffix(s, "/ok.txt") && strings.Contains(s, "/index/n/") }) {
		t.Errorf("ok.txt has no bottom part")
	}
	for _, id := range ids[:4] {
		if !slices.ContainsFunc(stats.Left, func(s string) bool { return strings.Contains(s, id) }) {
			t.Errorf("%s: its proofs left out are not reported: %q", id, stats.Left)
		}
	}
}
