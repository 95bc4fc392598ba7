package source_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish/source"
)

// FuzzLoad feeds arbitrary article files to Load: it must not panic, and
// what it returns must be fit for bundle.Build (Markdown and text bodies
// kept byte for byte, HTML bodies valid UTF-8, and kept byte for byte
// with Raw when they are UTF-8 and declare it; metadata in the
// manifest's limits).
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`<html lang="en"><title>T</title><meta name="author" content="A"><img src="a.png" srcset="b.png 2x, c.png 3x"></html>`), uint8(0))
	f.Add([]byte("# Title\n\n![x](img/a.png)\n"), uint8(1))
	f.Add([]byte("\n\n  first line\nsecond\n"), uint8(2))
	f.Add([]byte("<meta property=\"article:published_time\" content=\"2024-01-02T03:04:05Z\"><link rel=canonical href=\"https://x.example/a\">"), uint8(0))
	f.Add([]byte("<html><body><article><p>"+strings.Repeat("Some words of text, ", 40)+"</p><img src=a.png><script>x</script><nav>n</nav></article></body></html>"), uint8(3))
	f.Add([]byte("<meta charset=windows-1251><title>\xcf\xf0\xe8\xe2\xe5\xf2</title>"), uint8(3))
	exts := []string{".html", ".md", ".txt", ".htm"}
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		dir := t.TempDir()
		ext := exts[int(kind)%len(exts)]
		raw := kind%8 < 4
		file := filepath.Join(dir, "article"+ext)
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.png"), []byte("\x89PNG"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := source.Load(file, &source.Options{Raw: raw})
		if err != nil && !strings.Contains(err.Error(), ": front matter") {
			t.Fatalf("Load of a readable file failed: %v", err)
		}
		if err != nil {
			return // bad front matter: markdown_test.go fuzzes it
		}
		html := strings.HasPrefix(ext, ".htm")
		switch {
		case ext == ".md":
			// Markdown loses its front matter and may gain a lead image line.
			if got := strings.TrimPrefix(string(a.Files[0].Data), "![](a.png)\n\n"); got != string(body) && !strings.HasSuffix(string(body), got) {
				t.Fatal("the body was changed")
			}
		case !html:
			if string(a.Files[0].Data) != string(body) {
				t.Fatal("the body was changed")
			}
		case !utf8.Valid(a.Files[0].Data):
			t.Fatal("the HTML body is not UTF-8")
		case raw && utf8.Valid(body) && bytes.HasPrefix(body, []byte(`<meta charset="utf-8">`)) && !bytes.Contains(bytes.ToLower(body[1:]), []byte("charset")) && !bytes.Contains(bytes.ToLower(body), []byte("encoding")):
			if string(a.Files[0].Data) != string(body) {
				t.Fatal("the raw UTF-8 body was changed")
			}
		}
		checkArticle(t, a)
	})
}

// FuzzFromHTML feeds arbitrary pages and Content-Types to FromHTML, with
// and without extraction: it must not panic, and must give valid UTF-8
// within the manifest's limits.
func FuzzFromHTML(f *testing.F) {
	f.Add([]byte(`<html lang="fa" dir="rtl"><title>T | Site</title><meta property="og:image" content="/lead.jpg"><article><p>text</p><img src="x.png" srcset="y.png 2x"></article>`), "text/html; charset=utf-8", false)
	f.Add([]byte("\xff\xfe<\x00p\x00>\x00"), "", true)
	f.Add([]byte(`<?xml version="1.0" encoding="koi8-r"?><html><body><p>\xf0\xd2\xc9\xd7\xc5\xd4</p></body></html>`), "", false)
	f.Add([]byte(`<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"Tue, 03 Jan 2019 07:00:02 GMT","dateModified":[1,{"a":2}]}</script><time pubdate datetime="2019-01-02">x</time>`), "text/html; charset=gb2312", false)
	f.Fuzz(func(t *testing.T, page []byte, contentType string, raw bool) {
		a, err := source.FromHTML(page, contentType, "https://example.org/news/a/", &source.Options{Raw: raw})
		if err != nil {
			t.Fatalf("FromHTML: %v", err)
		}
		if !utf8.Valid(a.Files[0].Data) {
			t.Fatal("the body is not UTF-8")
		}
		if len(a.Files) != 1 {
			t.Fatalf("%d entries without a folder or fetching", len(a.Files))
		}
		checkArticle(t, a)
	})
}

func checkArticle(t *testing.T, a *source.Article) {
	t.Helper()
	{
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
		if !m.Created.IsZero() && m.Created.Unix() < 0 {
			t.Fatalf("created %v: before 1970", m.Created)
		}
	}
}
