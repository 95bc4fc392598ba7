package source_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/publish/source"
)

// expected is the part of a corpus page's expected-metadata.json (what
// Mozilla's Readability.js finds) that the test compares.
type expected struct {
	Title         string  `json:"title"`
	Byline        *string `json:"byline"`
	Lang          *string `json:"lang"`
	PublishedTime *string `json:"publishedTime"`
}

// words normalises text for comparison: white space (no-break spaces
// included) collapsed, case folded.
func words(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// bylineMatches reports whether the authors source gives say what the
// expected byline says: either one of them is the byline (source keeps
// every author meta tag, Readability.js one), or every author is in the
// byline and together they hold most of its words (the byline less "By"
// and its kin).
func bylineMatches(authors []string, want string) bool {
	if len(authors) == 0 {
		return false
	}
	for _, a := range authors {
		if words(a) == words(want) {
			return true
		}
	}
	w := words(want)
	n := 0
	for _, a := range authors {
		a = words(a)
		if !strings.Contains(w, a) {
			return false
		}
		n += len(strings.Fields(a))
	}
	// The byline's words that can be part of a name: not "By" and its
	// kin, not a date's.
	names := 0
	for _, f := range strings.Fields(w) {
		f = strings.Trim(f, ",.:;")
		if !strings.ContainsAny(f, "0123456789") && !notNames[f] {
			names++
		}
	}
	return n*2 >= names
}

var notNames = map[string]bool{
	"by": true, "par": true, "written": true, "edited": true, "and": true, "&": true, "et": true, "avec": true,
	"january": true, "february": true, "march": true, "april": true, "may": true, "june": true, "july": true,
	"august": true, "september": true, "october": true, "november": true, "december": true,
}

// dateMatches reports whether a publication time agrees with an expected
// one: the same instant, or for an expected time without a zone (which
// source reads as UTC) the same day.
func dateMatches(got time.Time, want string) bool {
	if got.IsZero() {
		return false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700"} {
		if w, err := time.Parse(layout, want); err == nil {
			return got.Equal(w)
		}
	}
	return len(want) >= 10 && got.UTC().Format("2006-01-02") == want[:10]
}

// TestCorpusExtraction loads every page of the shared corpus with
// extraction and compares what it derives with what Readability.js found
// (expected-metadata.json): titles, bylines and publication dates, within
// the thresholds issue 9 sets. Every body must be clean UTF-8 with no
// scripts, navigation or forms. Loaded with Raw, every page must give the
// same metadata, and the UTF-8 ones must be kept byte for byte.
func TestCorpusExtraction(t *testing.T) {
	dir := corpus.Path(t, "articles")
	pages, err := filepath.Glob(filepath.Join(dir, "*", "source.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 60 {
		t.Fatalf("%d corpus pages, want 60", len(pages))
	}
	start := time.Now()
	kept := 0
	var titles, titlesWanted, bylines, bylinesWanted, dates, datesWanted, langs, langsWanted int
	for _, page := range pages {
		name := filepath.Base(filepath.Dir(page))
		var want expected
		b, err := os.ReadFile(filepath.Join(filepath.Dir(page), "expected-metadata.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a, err := source.Load(page, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range a.Warnings {
			t.Logf("%s: warning: %s", name, w)
		}
		titlesWanted++
		if words(a.Meta.Title) == words(want.Title) {
			titles++
		} else {
			t.Logf("%s: title %q, want %q", name, a.Meta.Title, want.Title)
		}
		if want.Byline != nil {
			bylinesWanted++
			if bylineMatches(a.Meta.Authors, *want.Byline) {
				bylines++
			} else {
				t.Logf("%s: authors %q, want %q", name, a.Meta.Authors, *want.Byline)
			}
		}
		if want.PublishedTime != nil {
			datesWanted++
			if dateMatches(a.Meta.Created, *want.PublishedTime) {
				dates++
			} else {
				t.Logf("%s: published %v, want %q", name, a.Meta.Created, *want.PublishedTime)
			}
		}
		if want.Lang != nil {
			langsWanted++
			if a.Meta.Language == *want.Lang {
				langs++
			} else {
				t.Logf("%s: language %q, want %q", name, a.Meta.Language, *want.Lang)
			}
		}
		checkBody(t, name, a)

		// As it is: UTF-8 pages byte for byte, the same metadata.
		raw, err := source.Load(page, &source.Options{Raw: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(raw.Meta, a.Meta) {
			t.Errorf("%s: raw metadata %+v, extracted %+v", name, raw.Meta, a.Meta)
		}
		if data, err := os.ReadFile(page); err != nil {
			t.Fatal(err)
		} else if bytes.Equal(raw.Files[0].Data, data) {
			kept++
		}
	}
	t.Logf("%d pages in %v: titles %d/%d, bylines %d/%d, dates %d/%d, languages %d/%d",
		len(pages), time.Since(start).Round(time.Millisecond), titles, titlesWanted, bylines, bylinesWanted, dates, datesWanted, langs, langsWanted)
	// Seven pages are not kept as they are: qq declares gb2312 (it is
	// re-declared), la-nacion loses its byte order mark, and five declare
	// no charset (a <meta charset="utf-8"> is put in).
	if kept != 53 {
		t.Errorf("%d of %d pages kept byte for byte by --raw, want 53", kept, len(pages))
	}
	if titlesWanted != 60 || titles < 58 {
		t.Errorf("titles: %d of %d match, want at least 58 of 60", titles, titlesWanted)
	}
	if bylinesWanted != 46 || bylines < 44 {
		t.Errorf("bylines: %d of %d match, want at least 44 of 46", bylines, bylinesWanted)
	}
	if datesWanted != 19 || dates < 18 {
		t.Errorf("dates: %d of %d match, want at least 18 of 19", dates, datesWanted)
	}
	if langsWanted != 46 || langs != langsWanted {
		t.Errorf("languages: %d of %d match, want all 46", langs, langsWanted)
	}
}

// checkBody checks an extracted body: valid UTF-8, declared so, and no
// element that has no place in an article.
func checkBody(t *testing.T, name string, a *source.Article) {
	t.Helper()
	body := a.Files[0].Data
	if !utf8.Valid(body) {
		t.Errorf("%s: the body is not valid UTF-8", name)
	}
	if !bytes.HasPrefix(body, []byte("<!doctype html>")) || !bytes.Contains(body, []byte(`<meta charset="utf-8">`)) {
		t.Errorf("%s: the body is not a generated document declaring UTF-8", name)
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "nav", "form", "style", "iframe":
				if n.Data != "iframe" {
					t.Errorf("%s: the body holds a <%s>", name, n.Data)
				}
			case "meta":
				for _, at := range n.Attr {
					if at.Key == "charset" && at.Val != "utf-8" || at.Key == "http-equiv" {
						t.Errorf("%s: the body declares %s=%q", name, at.Key, at.Val)
					}
				}
			}
			for _, at := range n.Attr {
				if strings.HasPrefix(at.Key, "on") {
					t.Errorf("%s: <%s %s>", name, n.Data, at.Key)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if int64(len(body)) > bundle.DefaultLimits.EntrySize {
		t.Errorf("%s: body of %d bytes", name, len(body))
	}
}
