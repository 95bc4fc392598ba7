package source

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"

	readability "codeberg.org/readeck/go-readability/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/render"
)

// MaxExtractElements bounds the elements of a page that extraction
// reads; a page with more is refused by extraction and signed as it is,
// with a warning.
const MaxExtractElements = 200_000

// extracted is an article extraction made of a page.
type extracted struct {
	body []byte   // the generated document
	refs []string // its image references
}

// extract runs readability over doc (which it changes), sets a's metadata
// from what it finds and what the page walk pm found, and, unless
// metaOnly, returns the extracted article as a small document of its own.
func extract(doc *html.Node, base *url.URL, pm *pageMeta, a *Article, metaOnly, fetchImages bool) (*extracted, error) {
	p := readability.NewParser()
	p.MaxElemsToParse = MaxExtractElements
	art, err := p.ParseAndMutate(doc, base)
	a.setMeta(&art, pm, base)
	if metaOnly {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if art.Node == nil {
		return nil, errors.New("no readable content")
	}
	linkBase := base
	if linkBase == nil && a.Meta.CanonicalURL != "" {
		linkBase, _ = url.Parse(a.Meta.CanonicalURL)
	}
	content := &html.Node{Type: html.ElementNode, Data: "article", DataAtom: atom.Article}
	// The readability page wrapper goes; its children stay.
	for c := art.Node.FirstChild; c != nil; {
		next := c.NextSibling
		art.Node.RemoveChild(c)
		content.AppendChild(c)
		c = next
	}
	if inner := onlyChild(content); inner != nil && inner.DataAtom == atom.Article {
		// The page's own <article>: one is enough.
		content.RemoveChild(inner)
		for c := inner.FirstChild; c != nil; {
			next := c.NextSibling
			inner.RemoveChild(c)
			content.AppendChild(c)
			c = next
		}
	}
	cleanContent(content, linkBase)
	// A remote lead image is added only when it will be fetched into the
	// bundle: mirrors and saved copies load nothing from elsewhere, so it
	// would show as an empty frame.
	if img := leadImage(a.Image, base, linkBase); img != "" && (fetchImages || !isRemote(img)) && !hasImage(content, img, base, linkBase) {
		fig := &html.Node{Type: html.ElementNode, Data: "figure", DataAtom: atom.Figure}
		fig.AppendChild(&html.Node{Type: html.ElementNode, Data: "img", DataAtom: atom.Img,
			Attr: []html.Attribute{{Key: "src", Val: img}, {Key: "alt", Val: ""}}})
		content.InsertBefore(fig, content.FirstChild)
	}
	var b bytes.Buffer
	a.writeHead(&b)
	if err := html.Render(&b, content); err != nil {
		return nil, err
	}
	b.WriteString("\n</body>\n</html>\n")
	return &extracted{body: b.Bytes(), refs: imageRefs(content)}, nil
}

// onlyChild returns n's one element child if it has no other children
// but white space, else nil.
func onlyChild(n *html.Node) *html.Node {
	var only *html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.TextNode && strings.TrimSpace(c.Data) == "", c.Type == html.CommentNode:
		case c.Type == html.ElementNode && only == nil:
			only = c
		default:
			return nil
		}
	}
	return only
}

// setMeta fills a's metadata: readability's findings first, the page
// walk's where readability has none.
func (a *Article) setMeta(art *readability.Article, pm *pageMeta, base *url.URL) {
	m := &a.Meta
	m.Title = clean(art.Title(), bundle.MaxTitleLen)
	if slices.Contains(pm.svgTitles, m.Title) && m.Title != clean(pm.title, bundle.MaxTitleLen) && m.Title != clean(pm.ogTitle, bundle.MaxTitleLen) {
		m.Title = "" // readability takes an SVG image's title for the page's
	}
	if m.Title == "" {
		m.Title = clean(pm.title, bundle.MaxTitleLen)
	}
	if m.Title == "" {
		m.Title = clean(pm.ogTitle, bundle.MaxTitleLen)
	}
	a.SiteName = clean(art.SiteName(), bundle.MaxTitleLen)
	m.Title = dropSiteName(m.Title, a.SiteName)
	m.Language = clean(art.Language(), bundle.MaxLanguageLen)
	if m.Language == "" {
		m.Language = clean(pm.lang, bundle.MaxLanguageLen)
	}
	m.CanonicalURL = canonicalURL(pm.canonical, base)
	if pm.canonical == "" {
		m.CanonicalURL = canonicalURL(pm.ogURL, base)
	}
	m.Authors = splitByline(art.Byline())
	if metaAuthors := splitByline(strings.Join(pm.authors, "\n")); len(metaAuthors) > len(m.Authors) && (len(m.Authors) == 0 || len(m.Authors) == 1 && containsFold(metaAuthors, m.Authors[0])) {
		// Several author meta tags: readability keeps one of them.
		m.Authors = metaAuthors
	}
	m.Created = pm.publishedTime()
	if m.Created.After(time.Now()) {
		// A zone missing (read as UTC) or wrong: a bundle cannot be
		// published before it was, so the signing time stands in.
		a.Warnings = append(a.Warnings, fmt.Sprintf("the page's publication date %s is in the future; not used", m.Created.Format(time.RFC3339)))
		m.Created = time.Time{}
	}
	a.Modified = pm.modifiedTime()
	a.Summary = clean(art.Excerpt(), MaxSummaryLen)
	a.Image = strings.TrimSpace(art.ImageURL())
	a.dir = pm.dir
}

// dropSiteName removes the site's name from the end of a title (readability
// keeps it when the rest is short): "Story | Site", "Story - Site".
func dropSiteName(title, site string) string {
	if site == "" || len(site) >= len(title) || !strings.EqualFold(title[len(title)-len(site):], site) {
		return title
	}
	rest := strings.TrimRight(title[:len(title)-len(site)], " ")
	for _, sep := range []string{"|", "-", "–", "—", "·", "::", ":", "»", "/", "_", "•"} {
		if r, ok := strings.CutSuffix(rest, sep); ok && strings.TrimSpace(r) != "" && (sep == "_" || strings.HasSuffix(r, " ")) {
			return strings.TrimSpace(r)
		}
	}
	return title
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// MaxSummaryLen bounds the summary (the description in the generated
// page's head).
const MaxSummaryLen = 1024

// writeHead writes the generated document up to the article.
func (a *Article) writeHead(b *bytes.Buffer) {
	esc := template.HTMLEscapeString
	b.WriteString("<!doctype html>\n<html")
	if lang := langAttr(a.Meta.Language); lang != "" {
		b.WriteString(` lang="` + esc(lang) + `"`)
	}
	b.WriteString(` dir="` + direction(a.dir, a.Meta.Language) + `">` + "\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<title>" + esc(a.Meta.Title) + "</title>\n")
	if a.Summary != "" {
		b.WriteString(`<meta name="description" content="` + esc(a.Summary) + "\">\n")
	}
	for _, au := range a.Meta.Authors {
		b.WriteString(`<meta name="author" content="` + esc(au) + "\">\n")
	}
	if !a.Meta.Created.IsZero() {
		b.WriteString(`<meta property="article:published_time" content="` + a.Meta.Created.UTC().Format(time.RFC3339) + "\">\n")
	}
	if !a.Modified.IsZero() {
		b.WriteString(`<meta property="article:modified_time" content="` + a.Modified.UTC().Format(time.RFC3339) + "\">\n")
	}
	if a.SiteName != "" {
		b.WriteString(`<meta property="og:site_name" content="` + esc(a.SiteName) + "\">\n")
	}
	if a.Meta.CanonicalURL != "" {
		b.WriteString(`<link rel="canonical" href="` + esc(a.Meta.CanonicalURL) + "\">\n")
	}
	b.WriteString("</head>\n<body>\n")
}

// langAttr returns lang if it looks like a BCP 47 tag, else "".
func langAttr(lang string) string {
	for _, r := range lang {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '-') {
			return ""
		}
	}
	return lang
}

// direction is the dir of the generated document: the page's own if it
// says rtl or ltr, else rtl for a right-to-left language, ltr for any
// other known language, auto when the language is unknown.
func direction(pageDir, lang string) string {
	switch pageDir {
	case "rtl", "ltr":
		return pageDir
	}
	if render.Direction(lang) == "rtl" {
		return "rtl"
	}
	if langAttr(lang) != "" {
		return "ltr"
	}
	return "auto"
}

// Elements that never reach an extracted article (with their content),
// and elements replaced by their content.
var (
	dropElements = map[atom.Atom]bool{
		atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
		atom.Nav: true, atom.Link: true, atom.Meta: true, atom.Base: true, atom.Title: true,
		atom.Input: true, atom.Button: true, atom.Select: true, atom.Textarea: true,
		atom.Frame: true, atom.Frameset: true, atom.Object: true, atom.Embed: true, atom.Applet: true,
		atom.Dialog: true,
	}
	unwrapElements = map[atom.Atom]bool{atom.Form: true, atom.Fieldset: true, atom.Html: true, atom.Head: true, atom.Body: true}
	urlAttrs       = map[string]bool{"href": true, "src": true, "poster": true, "action": true, "formaction": true, "cite": true, "background": true, "longdesc": true, "xlink:href": true}
)

// cleanContent removes what readability leaves that an article has no
// use for: scripts, styles, navigation, forms and their controls, event
// handlers, and script URLs. Relative links resolve against linkBase (the
// page's address or canonical URL), so they lead to the original.
func cleanContent(n *html.Node, linkBase *url.URL) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		switch c.Type {
		case html.CommentNode, html.DoctypeNode:
			n.RemoveChild(c)
		case html.ElementNode:
			switch {
			case dropElements[c.DataAtom] && c.Namespace == "":
				n.RemoveChild(c)
			case unwrapElements[c.DataAtom] && c.Namespace == "":
				cleanContent(c, linkBase)
				for g := c.FirstChild; g != nil; {
					gn := g.NextSibling
					c.RemoveChild(g)
					n.InsertBefore(g, c)
					g = gn
				}
				n.RemoveChild(c)
			default:
				cleanAttrs(c, linkBase)
				cleanContent(c, linkBase)
			}
		}
		c = next
	}
}

func cleanAttrs(n *html.Node, linkBase *url.URL) {
	kept := n.Attr[:0]
	for _, at := range n.Attr {
		key := strings.ToLower(at.Key)
		if at.Namespace != "" {
			key = at.Namespace + ":" + key
		}
		if strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" {
			continue
		}
		if urlAttrs[key] {
			v := strings.ToLower(strings.TrimLeftFunc(at.Val, func(r rune) bool { return r <= ' ' }))
			if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") {
				continue
			}
			if key == "href" && n.DataAtom == atom.A && linkBase != nil && !strings.HasPrefix(at.Val, "#") {
				if u, err := url.Parse(strings.TrimSpace(at.Val)); err == nil {
					at.Val = linkBase.ResolveReference(u).String()
				}
			}
		}
		kept = append(kept, at)
	}
	n.Attr = kept
}

// imageRefs returns the image references under n.
func imageRefs(n *html.Node) []string {
	var refs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Namespace == "" {
			switch n.DataAtom {
			case atom.Img:
				refs = append(refs, getAttr(n, "src"))
				refs = append(refs, srcset(getAttr(n, "srcset"))...)
			case atom.Source:
				refs = append(refs, srcset(getAttr(n, "srcset"))...)
			case atom.Video:
				refs = append(refs, getAttr(n, "poster"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return refs
}

// leadImage returns the reference to use for the lead image: a local
// path as it is (Load), else an absolute http or https URL; "" if none.
func leadImage(ref string, base, linkBase *url.URL) string {
	if ref == "" || len(ref) > bundle.MaxURLLen {
		return ""
	}
	if base == nil {
		if name, err := resolve(ref); err == nil && name != "" {
			return ref
		}
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if b := base; b != nil || linkBase != nil {
		if b == nil {
			b = linkBase
		}
		u = b.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return u.String()
}

// isRemote reports whether ref is an absolute http or https URL.
func isRemote(ref string) bool {
	u, err := url.Parse(ref)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// hasImage reports whether content already shows img (by the same
// address, whatever the query, or the same file name in the same place).
func hasImage(content *html.Node, img string, base, linkBase *url.URL) bool {
	want := imageKey(img, base, linkBase)
	for _, ref := range imageRefs(content) {
		if imageKey(ref, base, linkBase) == want {
			return true
		}
	}
	return false
}

func imageKey(ref string, base, linkBase *url.URL) string {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return ref
	}
	if b := base; b != nil || linkBase != nil && u.Host == "" && strings.HasPrefix(u.Path, "/") {
		if b == nil {
			b = linkBase
		}
		u = b.ResolveReference(u)
	}
	return strings.ToLower(u.Host) + path.Clean("/"+u.Path)
}

// bylinePrefixes are words that introduce a name in a byline, dropped.
var bylinePrefixes = []string{"written by", "edited by", "text by", "story by", "reporting by", "words by", "by", "par", "por", "von", "di", "door", "av", "от", "автор", "автор:", "автори", "نوشته"}

// bylineSeparators separate names in a byline (outside parentheses).
var bylineSeparators = []string{" and ", " & ", " et ", " und ", " y ", " e ", " и ", " og ", ";", "、", "，", " | "}

var months = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// splitByline splits a byline into authors: one per line and per name
// joined by "and" (in several languages), "&", ";" or, when every part
// is two words or more, a comma; "By" and its kin dropped, and lines
// that are dates, web addresses or empty left out.
func splitByline(byline string) []string {
	var out []string
	add := func(s string) {
		s = clean(s, bundle.MaxAuthorLen)
		for _, p := range bylinePrefixes {
			if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) && (s[len(p)] == ' ' || s[len(p)] == ':') {
				s = strings.TrimLeft(s[len(p)+1:], " :")
				break
			}
		}
		if s == "" || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || looksLikeDate(s) || containsFold(out, s) || len(out) >= bundle.MaxAuthors {
			return
		}
		out = append(out, s)
	}
	for _, line := range strings.Split(byline, "\n") {
		line = trimDate(line)
		if looksLikeDate(line) {
			continue
		}
		parts := splitOutside(line, bylineSeparators)
		var named []string
		for _, p := range parts {
			named = append(named, splitOutside(p, []string{","})...)
		}
		if len(named) > len(parts) {
			for _, n := range named {
				if len(strings.Fields(n)) < 2 {
					named = parts // "Jong, Michiel de"; "Goodman, MA"
					break
				}
			}
		}
		for _, n := range named {
			add(n)
		}
	}
	return out
}

// splitOutside splits s at every separator that is outside parentheses.
func splitOutside(s string, seps []string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[':
			depth++
			continue
		case ')', ']':
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth > 0 {
			continue
		}
		for _, sep := range seps {
			if strings.HasPrefix(s[i:], sep) {
				out = append(out, s[start:i])
				start = i + len(sep)
				i = start - 1
				break
			}
		}
	}
	return append(out, s[start:])
}

// trimDate removes a date at the end of a byline line ("By A. Name
// March 25, 2015").
func trimDate(s string) string {
	l := strings.ToLower(s)
	for _, m := range months {
		for _, name := range []string{m, m[:3]} {
			i := strings.Index(l, name)
			if i > 0 && l[i-1] == ' ' && looksLikeDate(s[i:]) {
				if rest := strings.TrimRight(s[:i], " ,-|–—·"); strings.TrimSpace(rest) != "" {
					return rest
				}
			}
		}
	}
	return s
}

// looksLikeDate reports whether a byline line is a date rather than a
// name: it holds a year and a month's name, or parses as a date.
func looksLikeDate(s string) bool {
	if _, err := parseDate(s); err == nil {
		return true
	}
	l := strings.ToLower(s)
	year := false
	for _, f := range strings.FieldsFunc(l, func(r rune) bool { return r < '0' || r > '9' }) {
		if len(f) == 4 && (strings.HasPrefix(f, "19") || strings.HasPrefix(f, "20")) {
			year = true
		}
	}
	if !year {
		return false
	}
	for _, m := range months {
		if strings.Contains(l, m) || strings.Contains(l, m[:3]+" ") {
			return true
		}
	}
	return false
}
