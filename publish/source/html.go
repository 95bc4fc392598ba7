package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"

	"github.com/samizdat-news/samizdat/bundle"
)

// Limits of the JSON-LD read for dates.
const (
	// MaxJSONLD bounds one JSON-LD script that is read; a larger one is
	// skipped.
	MaxJSONLD = 1 << 20
	// MaxJSONLDScripts bounds the JSON-LD scripts of a page that are read.
	MaxJSONLDScripts = 16
	// MaxJSONLDDepth bounds how deep in a JSON-LD value dates are looked
	// for.
	MaxJSONLDDepth = 16
)

// pageMeta is what a walk over the whole page finds, before extraction
// changes it: the fallbacks for what readability does not give, and the
// image references a page signed as it is keeps.
type pageMeta struct {
	lang, dir        string
	title, ogTitle   string
	canonical, ogURL string
	svgTitles        []string
	authors          []string
	published        time.Time // meta tags, <time pubdate>
	modified         time.Time
	articleTime      time.Time // the first <time datetime> inside an <article>
	jsonPublished    time.Time // of an article's JSON-LD object
	jsonModified     time.Time
	anyJSONPublished time.Time // of any JSON-LD object
	refs             []string
	jsonLDSeen       int
}

// walkPage collects pageMeta from a parsed page.
func walkPage(doc *html.Node) *pageMeta {
	pm := &pageMeta{}
	var walk func(n *html.Node, inArticle bool)
	walk = func(n *html.Node, inArticle bool) {
		if n.Type == html.ElementNode && n.Namespace == "svg" && n.Data == "title" && n.FirstChild != nil && len(pm.svgTitles) < 64 {
			pm.svgTitles = append(pm.svgTitles, clean(n.FirstChild.Data, bundle.MaxTitleLen))
		}
		if n.Type == html.ElementNode && n.Namespace == "" {
			attr := func(k string) string { return getAttr(n, k) }
			switch n.DataAtom {
			case atom.Html:
				if pm.lang == "" {
					pm.lang = attr("lang")
				}
				if pm.dir == "" {
					pm.dir = strings.ToLower(strings.TrimSpace(attr("dir")))
				}
			case atom.Title:
				// The document's title, not an SVG image's.
				if pm.title == "" && n.FirstChild != nil {
					pm.title = n.FirstChild.Data
				}
			case atom.Meta:
				pm.meta(n)
			case atom.Link:
				if strings.EqualFold(strings.TrimSpace(attr("rel")), "canonical") && pm.canonical == "" {
					pm.canonical = attr("href")
					if pm.canonical == "" {
						pm.canonical = " " // an empty canonical link still beats og:url
					}
				}
			case atom.Script:
				if strings.EqualFold(strings.TrimSpace(attr("type")), "application/ld+json") && n.FirstChild != nil {
					pm.jsonLD(n.FirstChild.Data)
				}
			case atom.Time:
				t, err := parseDate(attr("datetime"))
				if err != nil {
					break
				}
				if _, ok := attrOK(n, "pubdate"); ok || strings.EqualFold(attr("itemprop"), "datePublished") {
					if pm.published.IsZero() {
						pm.published = t
					}
				} else if inArticle && pm.articleTime.IsZero() {
					pm.articleTime = t
				}
			case atom.Article:
				inArticle = true
			case atom.Img:
				pm.refs = append(pm.refs, attr("src"))
				pm.refs = append(pm.refs, srcset(attr("srcset"))...)
			case atom.Source:
				pm.refs = append(pm.refs, srcset(attr("srcset"))...)
			case atom.Video:
				pm.refs = append(pm.refs, attr("poster"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inArticle)
		}
	}
	walk(doc, false)
	return pm
}

// meta reads one <meta> element.
func (pm *pageMeta) meta(n *html.Node) {
	val := getAttr(n, "content")
	keys := []string{strings.ToLower(strings.TrimSpace(getAttr(n, "property")))}
	if name := strings.ToLower(strings.TrimSpace(getAttr(n, "name"))); name != keys[0] {
		keys = append(keys, name)
	}
	for _, key := range keys {
		switch key {
		case "og:title":
			if pm.ogTitle == "" {
				pm.ogTitle = val
			}
		case "og:url":
			if pm.ogURL == "" {
				pm.ogURL = val
			}
		case "author", "article:author", "dc.creator", "dcterms.creator":
			if v := clean(val, bundle.MaxAuthorLen); v != "" && !strings.HasPrefix(v, "http") && len(pm.authors) < bundle.MaxAuthors {
				pm.authors = append(pm.authors, v)
			}
		case "article:published_time", "date", "dc.date", "dc.date.issued", "dcterms.created", "dcterms.issued", "dcterms.available", "pubdate", "publishdate", "publish-date", "parsely-pub-date", "weibo:article:create_at", "sailthru.date", "og:published_time", "datepublished":
			if t, err := parseDate(val); err == nil && pm.published.IsZero() {
				pm.published = t
			}
		case "article:modified_time", "og:updated_time", "dcterms.modified", "last-modified", "datemodified":
			if t, err := parseDate(val); err == nil && pm.modified.IsZero() {
				pm.modified = t
			}
		}
	}
}

// jsonLD reads datePublished and dateModified from a JSON-LD script: the
// first of each found, at any depth (a @graph, a list).
func (pm *pageMeta) jsonLD(text string) {
	pm.jsonLDSeen++
	if len(text) > MaxJSONLD || pm.jsonLDSeen > MaxJSONLDScripts {
		return
	}
	text = strings.TrimSpace(text)
	text = strings.TrimSuffix(strings.TrimPrefix(text, "<![CDATA["), "]]>")
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return
	}
	var visit func(v any, depth int)
	visit = func(v any, depth int) {
		if depth > MaxJSONLDDepth {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			article := isArticleType(v["@type"])
			if s, ok := v["datePublished"].(string); ok {
				if t, err := parseDate(s); err == nil {
					if article && pm.jsonPublished.IsZero() {
						pm.jsonPublished = t
					}
					if pm.anyJSONPublished.IsZero() {
						pm.anyJSONPublished = t
					}
				}
			}
			if s, ok := v["dateModified"].(string); ok && (article || pm.jsonModified.IsZero()) {
				if t, err := parseDate(s); err == nil {
					pm.jsonModified = t
				}
			}
			for _, c := range v {
				visit(c, depth+1)
			}
		case []any:
			for _, c := range v {
				visit(c, depth+1)
			}
		}
	}
	visit(v, 0)
}

// isArticleType reports whether a JSON-LD @type (a string or a list) is
// one of schema.org's kinds of article.
func isArticleType(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.HasSuffix(v, "Article") || strings.HasSuffix(v, "Posting") || v == "Report" || v == "APIReference"
	case []any:
		for _, t := range v {
			if isArticleType(t) {
				return true
			}
		}
	}
	return false
}

// publishedTime is the page's own publication time, in the order
// readability takes it: an article's JSON-LD, then meta tags and <time
// pubdate>, then any JSON-LD, then the first <time> inside an <article>.
func (pm *pageMeta) publishedTime() time.Time {
	for _, t := range []time.Time{pm.jsonPublished, pm.published, pm.anyJSONPublished, pm.articleTime} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func (pm *pageMeta) modifiedTime() time.Time {
	if !pm.modified.IsZero() {
		return pm.modified
	}
	return pm.jsonModified
}

func getAttr(n *html.Node, k string) string {
	v, _ := attrOK(n, k)
	return v
}

func attrOK(n *html.Node, k string) (string, bool) {
	for _, at := range n.Attr {
		if at.Namespace == "" && strings.EqualFold(at.Key, k) {
			return at.Val, true
		}
	}
	return "", false
}

// canonicalURL returns s, resolved against base if base is not nil, if
// it is an absolute http or https URL that fits a manifest; else "".
func canonicalURL(s string, base *url.URL) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	s = u.String()
	if len(s) > bundle.MaxURLLen || clean(s, bundle.MaxURLLen) != s {
		return ""
	}
	return s
}

// srcset returns the URLs of a srcset attribute, parsed as the HTML
// standard says: a URL runs to the next white space and may hold commas
// (only trailing ones end it); its descriptors run to the next comma
// outside parentheses.
func srcset(s string) []string {
	var out []string
	for _, c := range srcsetCandidates(s) {
		out = append(out, c.url)
	}
	return out
}

// candidate is one image candidate of a srcset: its URL and descriptors.
type candidate struct{ url, desc string }

func srcsetCandidates(s string) []candidate {
	const space = " \t\n\r\f"
	var out []candidate
	for {
		s = strings.TrimLeft(s, space+",")
		if s == "" {
			return out
		}
		end := strings.IndexAny(s, space)
		if end < 0 {
			end = len(s)
		}
		u := s[:end]
		s = s[end:]
		desc := ""
		if strings.HasSuffix(u, ",") {
			u = strings.TrimRight(u, ",")
		} else {
			depth, i := 0, 0
			for ; i < len(s) && (s[i] != ',' || depth > 0); i++ {
				switch s[i] {
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			desc = strings.TrimSpace(s[:i])
			s = s[i:]
		}
		out = append(out, candidate{u, desc})
	}
}

// loadHTML reads an HTML page into a: it decodes the page to UTF-8,
// derives the metadata, and sets the body, the extracted article or (with
// o.Raw) the page itself. base, if not nil, is the page's address:
// relative references resolve against it. It returns the image references
// in the body.
func (a *Article) loadHTML(data []byte, contentType string, base *url.URL, o *Options, lim bundle.Limits) ([]string, error) {
	d := decodeHTML(data, contentType)
	a.Warnings = append(a.Warnings, d.warnings...)
	doc, err := html.Parse(bytes.NewReader(d.text))
	if err != nil { // elements nested too deep
		a.Warnings = append(a.Warnings, fmt.Sprintf("the page did not parse (%v); it is signed as it is, without metadata or images", err))
		a.Files[0].Data = redeclareUTF8(d.text)
		if int64(len(a.Files[0].Data)) > lim.EntrySize {
			return nil, fmt.Errorf("the page in UTF-8 is %d bytes, more than the limit of %d", len(a.Files[0].Data), lim.EntrySize)
		}
		return nil, nil
	}
	pm := walkPage(doc)
	ex, err := extract(doc, base, pm, a, o.Raw, o.FetchImages)
	var refs []string
	switch {
	case o.Raw:
		// Kept as it is if it is UTF-8 and says so itself (less a byte
		// order mark); else it is made to say so.
		a.Files[0].Data = d.text
		if d.charset != "utf-8" || !isUTF8(d.own) {
			a.Files[0].Data = redeclareUTF8(d.text)
		}
		refs = pm.refs
	case err != nil:
		a.Warnings = append(a.Warnings, fmt.Sprintf("no article found (%v); the whole page is signed, as with --raw", err))
		a.Files[0].Data = redeclareUTF8(d.text)
		refs = pm.refs
	default:
		a.Files[0].Data = ex.body
		refs = ex.refs
	}
	if int64(len(a.Files[0].Data)) > lim.EntrySize {
		return nil, fmt.Errorf("the page in UTF-8 is %d bytes, more than the limit of %d", len(a.Files[0].Data), lim.EntrySize)
	}
	return refs, nil
}

func isUTF8(label string) bool {
	_, name := charset.Lookup(label)
	return name == "utf-8"
}

// redeclareUTF8 replaces a page's charset declarations with
// <meta charset="utf-8">, keeping every other byte.
func redeclareUTF8(page []byte) []byte { return rewriteHTML(page, true, nil) }

// FromHTML reads an HTML page that is not a file in a folder: a feed
// item's content or a page fetched from base. contentType is the
// Content-Type it came with, if any: its charset parameter, if any, says
// how the page is encoded. base, if not "", is the page's address:
// relative references (links, images, the canonical URL) resolve against
// it. The page goes through the same pipeline as Load's HTML files
// (decoding, extraction unless opts.Raw, metadata, remote images with
// opts.FetchImages); since there is no folder, no local images are
// included. The article id is left empty: DeriveID makes one. A nil opts
// means the defaults.
func FromHTML(data []byte, contentType, base string, opts *Options) (*Article, error) {
	o, lim := opts.withDefaults()
	if int64(len(data)) > lim.EntrySize {
		return nil, fmt.Errorf("source: the page is %d bytes, more than the limit of %d", len(data), lim.EntrySize)
	}
	var baseURL *url.URL
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("source: base %q is not an absolute URL", base)
		}
		baseURL = u
	}
	a := &Article{Files: []bundle.File{{Type: "text/html"}}}
	if _, err := a.loadHTML(data, contentType, baseURL, &o, lim); err != nil {
		return nil, fmt.Errorf("source: %v", err)
	}
	if o.FetchImages {
		a.fetchImages(baseURL, false, &o, lim)
	}
	return a, nil
}
