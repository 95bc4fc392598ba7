package static_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/reader"
)

// TestExportTampered serves an export over loopback HTTP and has a new
// reader fetch an article, noting every file it reads; then, for each of
// those files (key statement, checkpoint, tiles, index proof, bundle),
// serves a copy of the export with one byte of that file changed, and
// checks that the reader refuses it. It does so for a reader that keeps
// the whole log and for a light one, except, for the light one, the
// entry bundle: it reads one leaf of it, whose hash the index proof
// gives, and a change to another leaf is rightly no matter to it; nor,
// beside a full index proof, the top part of the split proof that it
// asks for in parallel and needs only without one. A light reader of an
// export without full proofs reads the split proof (top and bottom
// parts), and every change to it is refused.
func TestExportTampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		full   bool
		proofs int
	}{{"full", true, 0}, {"light", false, 0}, {"light-split", false, -1}} {
		t.Run(tc.name, func(t *testing.T) { testExportTampered(t, tc.full, tc.proofs) })
	}
}

func testExportTampered(t *testing.T, full bool, proofs int) {
	f := newFixture(t)
	out := t.TempDir()
	sink, err := static.NewDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := static.Export(context.Background(), f.st, sink, &static.Options{IndexProofs: proofs}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var read []string
	var root string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		read = append(read, strings.TrimPrefix(r.URL.Path, "/"))
		dir := root
		mu.Unlock()
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	serve := func(dir string) {
		mu.Lock()
		root, read = dir, nil
		mu.Unlock()
	}
	fetch := func() error {
		c, err := reader.New(&reader.Config{Root: f.alpha.Root.Public(), Mirrors: []string{srv.URL}, NoDiscovery: true, Full: full,
			Now: func() time.Time { return f.clock.t.Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = c.Fetch(ctx, "hostile")
		return err
	}

	serve(out)
	if err := fetch(); err != nil {
		t.Fatalf("the untampered export: %v", err)
	}
	mu.Lock()
	files := append([]string(nil), read...)
	mu.Unlock()
	if len(files) < 4 {
		t.Fatalf("the reader read only %q", files)
	}
	split := 0
	for _, name := range files {
		if strings.Contains(name, "/index/n/") {
			split++
		}
	}
	if proofs < 0 && !full && split != 1 {
		t.Fatalf("the light reader of an export without full proofs read %q: want a bottom part", files)
	}
	for _, name := range files {
		if !full && strings.Contains(name, "/tile/entries/") || proofs >= 0 && strings.Contains(name, "/index/t/") {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(name))); os.IsNotExist(err) {
			continue // asked for and not there: the full proof of a split-only export
		}
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(out)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			serve(dir)
			if err := fetch(); err == nil {
				t.Errorf("the reader accepted the export with %s changed", name)
			}
		})
	}
}
