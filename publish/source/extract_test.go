package source_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/publish/source"
)

var para = strings.Repeat("This is the text of the story, long enough for extraction to take it for an article. ", 6)

// TestExtractDocument checks the document extraction generates: its head
// says what the page said, its body is the article alone, without the
// site's template, scripts, forms or handlers.
func TestExtractDocument(t *testing.T) {
	page := `<!DOCTYPE html>
<html lang="fa"><head>
<meta charset="utf-8">
<title>گزارش از ژنو | Example News</title>
<meta property="og:site_name" content="Example News">
<meta property="og:image" content="https://cdn.example.org/lead.jpg?w=1200">
<meta name="description" content="A summary, with &quot;quotes&quot; &amp; <angles>.">
<meta name="author" content="Anna Petrova and Ivan Ivanov">
<meta property="article:published_time" content="Tue, 03 Mar 2015 10:11:12 GMT">
<meta property="article:modified_time" content="2015-03-04T08:00:00+03:00">
<link rel="canonical" href="https://example.org/fa/news/geneva">
<script>var tracking = 1;</script>
<style>body { color: red }</style>
</head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
<form action="/search"><input name="q"><button>Search</button></form>
<article>
<h1>گزارش از ژنو</h1>
<p onclick="steal()">` + para + ` <a href="/fa/news/other">another story</a> <a href="javascript:alert(1)">click</a></p>
<p>` + para + `<script>document.write("x")</script></p>
<form><input type="text" name="comment"><p>` + para + `</p></form>
<figure><img src="https://cdn.example.org/lead.jpg?w=300" alt="Geneva"></figure>
</article>
<footer><nav>Links, links, links</nav></footer>
</body></html>`
	a, err := source.FromHTML([]byte(page), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 0 {
		t.Errorf("warnings %q", a.Warnings)
	}
	m := a.Meta
	if m.Title != "گزارش از ژنو" || m.Language != "fa" || m.CanonicalURL != "https://example.org/fa/news/geneva" ||
		!reflect.DeepEqual(m.Authors, []string{"Anna Petrova", "Ivan Ivanov"}) || !m.Created.Equal(time.Date(2015, 3, 3, 10, 11, 12, 0, time.UTC)) {
		t.Errorf("Meta = %+v", m)
	}
	if !a.Modified.Equal(time.Date(2015, 3, 4, 5, 0, 0, 0, time.UTC)) || a.SiteName != "Example News" || a.Summary != `A summary, with "quotes" & <angles>.` || a.Image != "https://cdn.example.org/lead.jpg?w=1200" {
		t.Errorf("Modified %v, SiteName %q, Summary %q, Image %q", a.Modified, a.SiteName, a.Summary, a.Image)
	}
	body := string(a.Files[0].Data)
	head := `<!doctype html>
<html lang="fa" dir="rtl">
<head>
<meta charset="utf-8">
<title>گزارش از ژنو</title>
<meta name="description" content="A summary, with &#34;quotes&#34; &amp; &lt;angles&gt;.">
<meta name="author" content="Anna Petrova">
<meta name="author" content="Ivan Ivanov">
<meta property="article:published_time" content="2015-03-03T10:11:12Z">
<meta property="article:modified_time" content="2015-03-04T05:00:00Z">
<meta property="og:site_name" content="Example News">
<link rel="canonical" href="https://example.org/fa/news/geneva">
</head>
<body>
<article>`
	if !strings.HasPrefix(body, head) {
		t.Errorf("the document starts:\n%s\nwant\n%s", body[:min(len(body), len(head)+200)], head)
	}
	if !strings.HasSuffix(body, "</article>\n</body>\n</html>\n") {
		t.Errorf("the document ends:\n%s", body[max(0, len(body)-100):])
	}
	for _, bad := range []string{"<script", "<style", "<nav", "<form", "<input", "<button", "onclick", "javascript:", "tracking", "Links, links", "Search", "Home"} {
		if strings.Contains(body, bad) {
			t.Errorf("the body holds %q", bad)
		}
	}
	for _, good := range []string{para, `<a href="https://example.org/fa/news/other">another story</a>`, "click", `<img src="https://cdn.example.org/lead.jpg?w=300" alt="Geneva"/>`} {
		if !strings.Contains(body, good) {
			t.Errorf("the body lacks %q", good)
		}
	}
	// The lead image is in the content already (another size of it).
	if strings.Count(body, "lead.jpg") != 1 {
		t.Errorf("the lead image is shown %d times", strings.Count(body, "lead.jpg"))
	}
	checkBuilds(t, a)
}

// TestExtractLeadImage checks that a lead image missing from the content
// is put first, as a figure, and that a relative one is resolved; and that
// a remote one is put only when images are fetched, since mirrors load
// nothing from elsewhere and would show an empty frame.
func TestExtractLeadImage(t *testing.T) {
	// No fetch succeeds here: a failed one leaves the reference as it is.
	offline := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("offline") })}
	for _, tt := range []struct {
		og, base, want string
		fetch          bool
	}{
		{"https://cdn.example.org/lead.jpg", "", `<article><figure><img src="https://cdn.example.org/lead.jpg" alt=""/></figure>`, true},
		{"/images/lead.jpg", "https://example.org/news/a", `<article><figure><img src="https://example.org/images/lead.jpg" alt=""/></figure>`, true},
		{"https://cdn.example.org/lead.jpg", "", `<article><p>`, false},
		{"/images/lead.jpg", "https://example.org/news/a", `<article><p>`, false},
		{"javascript:alert(1)", "", `<article><p>`, true},
	} {
		page := `<html><head><title>T</title><meta property="og:image" content="` + tt.og + `"></head><body><article><p>` + para + `</p><p>` + para + `</p></article></body></html>`
		a, err := source.FromHTML([]byte(page), "", tt.base, &source.Options{FetchImages: tt.fetch, HTTPClient: offline})
		if err != nil {
			t.Fatal(err)
		}
		if body := string(a.Files[0].Data); !strings.Contains(body, tt.want) {
			t.Errorf("og:image %q, fetch %v: the body lacks %s:\n%s", tt.og, tt.fetch, tt.want, body)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestExtractDates checks where publication and modification times come
// from, and in which order.
func TestExtractDates(t *testing.T) {
	d := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t.UTC()
	}
	for _, tt := range []struct {
		name, head, body    string
		published, modified time.Time
	}{
		{"JSON-LD article beats meta",
			`<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebPage","datePublished":"2001-01-01"},{"@type":"NewsArticle","datePublished":"2019-01-03T07:00:02.000Z","dateModified":"2019-01-04T07:00:00Z"}]}</script>
<meta property="article:published_time" content="2019-01-05">`, "",
			d("2019-01-03T07:00:02Z"), d("2019-01-04T07:00:00Z")},
		{"meta beats other JSON-LD",
			`<script type="application/ld+json">{"@type":"WebPage","datePublished":"2001-01-01"}</script>
<meta property="article:published_time" content="2021-11-01T10:52:50+0100">`, "",
			d("2021-11-01T09:52:50Z"), time.Time{}},
		{"time pubdate", "", `<time pubdate datetime="2017-11-24T18:42:20.314667">Friday</time>`, d("2017-11-24T18:42:20.314667Z"), time.Time{}},
		{"time itemprop", "", `<time itemprop="datePublished" datetime="2017-11-03 03:01:00.000000">x</time>`, d("2017-11-03T03:01:00Z"), time.Time{}},
		{"first time in the article", `<meta name="dcterms.modified" content="Mon, 02 Jan 2006 15:04:05 -0700">`, `<article><time datetime="2018-04-05T06:00">5 April</time><time datetime="2018-04-06">6 April</time></article>`, d("2018-04-05T06:00:00Z"), d("2006-01-02T22:04:05Z")},
		{"time outside an article is not the date", "", `<time datetime="2018-04-05">today</time>`, time.Time{}, time.Time{}},
		{"dates in the future are dropped", `<meta name="date" content="` + time.Now().Add(2*time.Hour).UTC().Format("2006-01-02T15:04:05") + `">`, "", time.Time{}, time.Time{}},
		{"dates before 1970 are dropped", `<meta name="date" content="1969-12-31">`, "", time.Time{}, time.Time{}},
		{"JSON-LD over its limit is not read", `<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"2019-01-03","x":"` + strings.Repeat("x", source.MaxJSONLD) + `"}</script>`, "", time.Time{}, time.Time{}},
	} {
		page := `<html><head><title>T</title>` + tt.head + `</head><body>` + tt.body + `<div><p>` + para + `</p></div></body></html>`
		for _, raw := range []bool{false, true} {
			a, err := source.FromHTML([]byte(page), "", "", &source.Options{Raw: raw})
			if err != nil {
				t.Fatal(err)
			}
			if !a.Meta.Created.Equal(tt.published) || !a.Modified.Equal(tt.modified) {
				t.Errorf("%s (raw %v): published %v modified %v, want %v and %v", tt.name, raw, a.Meta.Created, a.Modified, tt.published, tt.modified)
			}
		}
	}
}

// TestExtractBylines checks how bylines become authors.
func TestExtractBylines(t *testing.T) {
	for byline, want := range map[string][]string{
		"By Anna Petrova":                                         {"Anna Petrova"},
		"Stella Kim, Jennifer Jett":                               {"Stella Kim", "Jennifer Jett"},
		"Alexandre Hervaud, Jérémy Piette":                        {"Alexandre Hervaud", "Jérémy Piette"},
		"Jong, Michiel de":                                        {"Jong, Michiel de"},
		"By Brenda  Goodman, MA":                                  {"Brenda Goodman, MA"},
		"Par Sébastien Farcis":                                    {"Sébastien Farcis"},
		"Anna Petrova & Ivan Ivanov; Olga Smirnova":               {"Anna Petrova", "Ivan Ivanov", "Olga Smirnova"},
		"Martin Untersinger (avec Damien Leloup et Morgane Tual)": {"Martin Untersinger (avec Damien Leloup et Morgane Tual)"},
		"By Nathan Willis March 25, 2015":                         {"Nathan Willis"},
		"April 28, 2019 at 6:01 am Updated April 29":              nil,
		"https://example.org/author/anna":                         nil,
		"Анна Петрова и Иван Иванов":                              {"Анна Петрова", "Иван Иванов"},
	} {
		page := `<html><head><title>T</title><meta name="author" content="` + byline + `"></head><body><article><p>` + para + `</p></article></body></html>`
		a, err := source.FromHTML([]byte(page), "", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Meta.Authors, want) {
			t.Errorf("byline %q: authors %q, want %q", byline, a.Meta.Authors, want)
		}
	}
}

// TestExtractRelative checks that FromHTML resolves relative references
// against base, and Load keeps local images relative while its links go
// to the canonical URL.
func TestExtractRelative(t *testing.T) {
	page := `<html><head><title>T</title><link rel="canonical" href="/news/story"></head><body><article><p>` + para + ` <a href="other">other</a></p><p><img src="img/a.png" alt="a"></p><p>` + para + `</p></article></body></html>`
	a, err := source.FromHTML([]byte(page), "", "https://example.org/news/story?utm=x", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := string(a.Files[0].Data)
	if a.Meta.CanonicalURL != "https://example.org/news/story" || !strings.Contains(body, `<a href="https://example.org/news/other">`) || !strings.Contains(body, `<img src="https://example.org/news/img/a.png"`) {
		t.Errorf("FromHTML: canonical %q, body:\n%s", a.Meta.CanonicalURL, body)
	}
	if len(a.Files) != 1 {
		t.Errorf("FromHTML included %d images without fetching", len(a.Files)-1)
	}
	if _, err := source.FromHTML([]byte(page), "", "news/story", nil); err == nil {
		t.Error("FromHTML took a relative base")
	}

	page = strings.Replace(page, `href="/news/story"`, `href="https://example.org/news/story"`, 1)
	dir := writeFiles(t, map[string]string{"s.html": page, "img/a.png": "PNG"})
	a = load(t, dir, "s.html")
	body = string(a.Files[0].Data)
	if !strings.Contains(body, `<a href="https://example.org/news/other">`) || !strings.Contains(body, `<img src="img/a.png"`) || len(a.Files) != 2 || a.Files[1].Name != "img/a.png" {
		t.Errorf("Load: %d files, body:\n%s", len(a.Files), body)
	}
}

// TestExtractNothing checks that a page with nothing to extract is
// signed as it is, with a warning, and that an empty page does not fail.
func TestExtractNothing(t *testing.T) {
	for _, page := range []string{"", "<html></html>", "<p>", "\x00\x01", "<frameset><frame src=x></frameset>"} {
		a, err := source.FromHTML([]byte(page), "", "", nil)
		if err != nil {
			t.Errorf("%q: %v", page, err)
			continue
		}
		if !bytes.Contains(a.Files[0].Data, []byte(`<meta charset="utf-8">`)) {
			t.Errorf("%q: body %q", page, a.Files[0].Data)
		}
	}
}

// BenchmarkExtract loads the largest corpus page (guardian-1, 1.16 MB)
// with extraction, and as it is.
func BenchmarkExtract(b *testing.B) {
	page := corpus.Path(b, "articles", "guardian-1", "source.html")
	data, err := os.ReadFile(page)
	if err != nil {
		b.Fatal(err)
	}
	for _, raw := range []bool{false, true} {
		name := "extract"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := source.FromHTML(data, "", "", &source.Options{Raw: raw}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestExtractHostile checks pages built to be costly: nested deeper than
// the parser allows, and with more elements than extraction reads. Each
// is signed as it is, with a warning, in bounded time.
func TestExtractHostile(t *testing.T) {
	for _, tt := range []struct{ page, warning string }{
		{strings.Repeat("<div>", 5000) + "x", "the page did not parse"},
		{"<title>Many</title>" + strings.Repeat("<br>", source.MaxExtractElements+10), "documents too large"},
	} {
		start := time.Now()
		a, err := source.FromHTML([]byte(tt.page), "", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !containsWarning(a.Warnings, tt.warning) || !bytes.HasSuffix(a.Files[0].Data, []byte(tt.page[len(tt.page)-100:])) {
			t.Errorf("warnings %q, want %q", a.Warnings, tt.warning)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	}
}

// TestExtractDropsWhatReadabilityKeeps checks the elements readability
// leaves in an article that extraction removes itself: navigation inside
// the article, a <base> that would redirect every relative reference,
// templates, dialogs and meta tags.
func TestExtractDropsWhatReadabilityKeeps(t *testing.T) {
	page := `<html><head><title>T</title></head><body><article><p>` + para + `</p>
<p>` + para + `<template><p>tpl</p></template><dialog open>dialog</dialog><meta name=x content=y><base href="https://elsewhere.example/"></p>
<div><nav><a href="/a">Section A</a> <a href="/b">Section B</a></nav><p>` + para + `</p></div>
</article></body></html>`
	a, err := source.FromHTML([]byte(page), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := string(a.Files[0].Data)
	for _, bad := range []string{"<nav", "Section A", "<base", "elsewhere", "<template", "tpl", "<dialog", `name="x"`} {
		if strings.Contains(body, bad) {
			t.Errorf("the body holds %q:\n%s", bad, body)
		}
	}
	if strings.Count(body, para) != 3 {
		t.Errorf("the body lost text:\n%s", body)
	}
}
