package source_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish/source"
)

// FuzzLoad feeds arbitrary article files to Load: it must not panic, and
// what it returns must be fit for bundle.Build (the body kept byte for
// byte, metadata in the manifest's limits).
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`<html lang="en"><title>T</title><meta name="author" content="A"><img src="a.png" srcset="b.png 2x, c.png 3x"></html>`), uint8(0))
	f.Add([]byte("# Title\n\n![x](img/a.png)\n"), uint8(1))
	f.Add([]byte("\n\n  first line\nsecond\n"), uint8(2))
	f.Add([]byte("<meta property=\"article:published_time\" content=\"2024-01-02T03:04:05Z\"><link rel=canonical href=\"https://x.example/a\">"), uint8(0))
	exts := []string{".html", ".md", ".txt"}
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		dir := t.TempDir()
		file := filepath.Join(dir, "article"+exts[int(kind)%len(exts)])
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.png"), []byte("\x89PNG"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := source.Load(file, nil)
		if err != nil && !strings.Contains(err.Error(), ": front matter") {
			t.Fatalf("Load of a readable file failed: %v", err)
		}
		if err != nil {
			return // bad front matter: markdown_test.go fuzzes it
		}
		// Markdown loses its front matter and may gain a lead image line.
		if got := strings.TrimPrefix(string(a.Files[0].Data), "![](a.png)\n\n"); got != string(body) && !(kind%3 == 1 && strings.HasSuffix(string(body), got)) {
			t.Fatal("the body was changed")
		}
		m := a.Meta
		if len(m.Title) > bundle.MaxTitleLen || len(m.Language) > bundle.MaxLanguageLen || len(m.CanonicalURL) > bundle.MaxURLLen || len(m.Authors) > bundle.MaxAuthors {
			t.Fatalf("metadata over the manifest's limits: %+v", m)
		}
		for _, s := range append([]string{m.Title, m.Language, m.CanonicalURL}, m.Authors...) {
			if !utf8.ValidString(s) {
				t.Fatalf("metadata not UTF-8: %q", s)
			}
		}
		for _, img := range a.Files[1:] {
			if err := bundle.CheckName(img.Name); err != nil {
				t.Fatalf("image name %q: %v", img.Name, err)
			}
		}
	})
}
