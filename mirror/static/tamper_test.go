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

	"github.com/samizdat-news/samizdat/reader"
)

// TestExportTampered serves an export over loopback HTTP and has a new
// reader fetch an article, noting every file it reads; then, for each of
// those files (key statement, checkpoint, tiles, index proof, bundle),
// serves a copy of the export with one byte of that file changed, and
// checks that the reader refuses it. It does so for a reader that keeps
// the whole log and for a light one, except, for the light one, the
// entry bundle: it reads one leaf of it, whose hash the index proof
// gives, and a change to another leaf is rightly no matter to it.
func TestExportTampered(t *testing.T) {
	for _, full := range []bool{true, false} {
		t.Run(map[bool]string{true: "full", false: "light"}[full], func(t *testing.T) { testExportTampered(t, full) })
	}
}

func testExportTampered(t *testing.T, full bool) {
	f := newFixture(t)
	out := t.TempDir()
	f.exportDir(out)

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
	for _, name := range files {
		if !full && strings.Contains(name, "/tile/entries/") {
			continue
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
