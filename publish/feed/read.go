package feed

import (
	"html"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"

	"github.com/samizdat-news/samizdat/bundle"
)

// Namespaces, and the prefixes that stand for them when a feed forgets to
// declare one.
const (
	atomNS    = "http://www.w3.org/2005/Atom"
	atom03NS  = "http://purl.org/atom/ns#"
	contentNS = "http://purl.org/rss/1.0/modules/content/"
	dcNS      = "http://purl.org/dc/elements/1.1/"
	rdfNS     = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
)

// rssSpaces are the namespaces RSS's own elements come in: none (RSS 2.0),
// RSS 1.0's, RSS 0.90's, and Userland's RSS 2 namespace.
var rssSpaces = map[string]bool{"": true, "http://purl.org/rss/1.0/": true, "http://my.netscape.com/rdf/simple/0.9/": true, "http://backend.userland.com/rss2": true, "http://backend.userland.com/rss": true}

func inAtom(n *node) bool {
	s := n.name.Space
	return s == atomNS || s == atom03NS || s == "atom" || s == "atom10"
}
func inRSS(n *node) bool     { return rssSpaces[n.name.Space] }
func inContent(n *node) bool { return n.name.Space == contentNS || n.name.Space == "content" }
func inDC(n *node) bool      { return n.name.Space == dcNS || n.name.Space == "dc" }

// kids returns n's child elements named local for which in holds.
func kids(n *node, local string, in func(*node) bool) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.name.Local == local && in(k) {
			out = append(out, k)
		}
	}
	return out
}

// kid returns the first of n's child elements named local for which in
// holds, or nil.
func kid(n *node, local string, in func(*node) bool) *node {
	for _, k := range n.kids {
		if k.name.Local == local && in(k) {
			return k
		}
	}
	return nil
}

// text returns the text inside n, its descendants' included; "" for nil.
func text(n *node) string {
	if n == nil {
		return ""
	}
	if n.name.Local == "" {
		return string(n.text)
	}
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, k := range n.kids {
			if k.name.Local == "" {
				b.Write(k.text)
			} else {
				walk(k)
			}
		}
	}
	walk(n)
	return b.String()
}

func attr(n *node, local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// clean makes s fit a manifest text field: valid UTF-8, no control
// characters, white space collapsed, at most max bytes (cut at a
// character).
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == ' ' || r == '\u00a0' || r == '\u2028' || r == '\u2029'
	}), " ")
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// htmlText returns the text of an HTML fragment: tags dropped, entities
// resolved. Titles in feeds are HTML more often than not, whatever the
// format says.
func htmlText(s string, max int) string {
	if !strings.ContainsAny(s, "<&") {
		return clean(s, max)
	}
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	for b.Len() < 4*max {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		if tt == xhtml.TextToken {
			b.Write(z.Text())
		}
	}
	return clean(b.String(), max)
}

// link returns s as an absolute http or https URL, resolved against base,
// or "".
func link(s, base string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > bundle.MaxURLLen {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	if !u.IsAbs() && base != "" {
		b, err := url.Parse(base)
		if err != nil {
			return ""
		}
		u = b.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	out := u.String()
	if len(out) > bundle.MaxURLLen || clean(out, bundle.MaxURLLen) != out {
		return ""
	}
	return out
}

// language returns s as a language tag (letters, digits and hyphens), or
// "".
func language(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "-")
	if s == "" || len(s) > bundle.MaxLanguageLen {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return s
}

// person returns an author's name from an RSS author field, which RSS 2.0
// wants as "email (Name)": the name when one is given, else the field.
func person(s string) string {
	s = clean(s, 4*bundle.MaxAuthorLen)
	if i := strings.Index(s, "("); i > 0 && strings.HasSuffix(s, ")") && strings.Contains(s[:i], "@") {
		s = strings.TrimSpace(s[i+1 : len(s)-1])
	} else if i := strings.Index(s, "<"); i > 0 && strings.HasSuffix(s, ">") && strings.Contains(s[i:], "@") {
		s = strings.TrimSpace(s[:i])
	}
	return clean(s, bundle.MaxAuthorLen)
}

// addAuthor appends a, once, within bundle.MaxAuthors.
func addAuthor(it *Item, a string) {
	if a == "" || len(it.Authors) >= bundle.MaxAuthors {
		return
	}
	for _, have := range it.Authors {
		if have == a {
			return
		}
	}
	it.Authors = append(it.Authors, a)
}

func addCategory(it *Item, c string) {
	c = clean(c, bundle.MaxTitleLen)
	if c == "" || len(it.Categories) >= MaxCategories {
		return
	}
	for _, have := range it.Categories {
		if have == c {
			return
		}
	}
	it.Categories = append(it.Categories, c)
}

// paragraphs escapes plain text into HTML paragraphs, one per run of text
// between blank lines.
func paragraphs(s string) string {
	var b strings.Builder
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			b.WriteString("<p>")
			b.WriteString(html.EscapeString(p))
			b.WriteString("</p>\n")
		}
	}
	return b.String()
}

// voidElements are the HTML elements that have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// markup serializes n's children as HTML: Atom's type="xhtml" content.
func markup(n *node) string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, k := range n.kids {
			if k.name.Local == "" {
				b.WriteString(html.EscapeString(string(k.text)))
				continue
			}
			b.WriteString("<" + k.name.Local)
			for _, a := range k.attr {
				if a.Name.Space != "" && a.Name.Space != "xml" && a.Name.Space != xmlNS || a.Name.Local == "xmlns" {
					continue
				}
				b.WriteString(" " + a.Name.Local + `="` + html.EscapeString(a.Value) + `"`)
			}
			b.WriteString(">")
			if voidElements[k.name.Local] {
				continue
			}
			walk(k)
			b.WriteString("</" + k.name.Local + ">")
		}
	}
	walk(n)
	return b.String()
}

// readRSS reads RSS 0.9x, 2.0 and 1.0: items are the channel's (RSS 2.0)
// or the root's (RSS 1.0).
func readRSS(root *node, kind string) *Feed {
	f := &Feed{Kind: kind}
	ch := kid(root, "channel", inRSS)
	var items []*node
	if ch != nil {
		f.Title = htmlText(text(kid(ch, "title", inRSS)), bundle.MaxTitleLen)
		f.Link = link(text(kid(ch, "link", inRSS)), "")
		f.Language = language(text(kid(ch, "language", inRSS)))
		if f.Language == "" {
			f.Language = language(text(kid(ch, "language", inDC)))
		}
		if f.Language == "" {
			f.Language = language(ch.lang)
		}
		items = kids(ch, "item", inRSS)
	}
	items = append(items, kids(root, "item", inRSS)...)
	for _, n := range items {
		if len(f.Items) == MaxItems {
			f.Dropped++
			continue
		}
		f.Items = append(f.Items, rssItem(n, f))
	}
	return f
}

func rssItem(n *node, f *Feed) *Item {
	it := &Item{}
	it.GUID = clean(text(kid(n, "guid", inRSS)), bundle.MaxURLLen)
	if it.GUID == "" {
		for _, a := range n.attr { // RSS 1.0: rdf:about
			if a.Name.Local == "about" && (a.Name.Space == rdfNS || a.Name.Space == "rdf") {
				it.GUID = clean(a.Value, bundle.MaxURLLen)
			}
		}
	}
	it.Link = link(text(kid(n, "link", inRSS)), f.Link)
	if it.Link == "" {
		it.Link = atomLink(n, f.Link)
	}
	if g := kid(n, "guid", inRSS); it.Link == "" && g != nil && attr(g, "isPermaLink") != "false" {
		it.Link = link(it.GUID, "")
	}
	it.Title = htmlText(text(kid(n, "title", inRSS)), bundle.MaxTitleLen)
	var body *node
	if c := kid(n, "encoded", inContent); c != nil && strings.TrimSpace(text(c)) != "" {
		body = c
	} else {
		body = kid(n, "description", inRSS)
	}
	if body != nil {
		it.Content = strings.TrimSpace(text(body))
		if body.over {
			it.Err = errorf("item content is larger than %d bytes", MaxFieldSize)
		}
	}
	for _, d := range []*node{kid(n, "pubDate", inRSS), kid(n, "date", inDC), kid(n, "published", inAtom), kid(n, "issued", inDC)} {
		if t, err := ParseDate(text(d)); d != nil && err == nil {
			it.Published = t
			break
		}
	}
	for _, d := range []*node{kid(n, "updated", inAtom), kid(n, "modified", inDC)} {
		if t, err := ParseDate(text(d)); d != nil && err == nil {
			it.Updated = t
			break
		}
	}
	for _, a := range kids(n, "author", inRSS) {
		addAuthor(it, person(text(a)))
	}
	for _, a := range kids(n, "creator", inDC) {
		addAuthor(it, person(text(a)))
	}
	for _, c := range kids(n, "category", inRSS) {
		addCategory(it, text(c))
	}
	for _, c := range kids(n, "subject", inDC) {
		addCategory(it, text(c))
	}
	it.Language = language(n.lang)
	if it.Language == "" || it.Language == f.Language {
		if l := language(text(kid(n, "language", inDC))); l != "" {
			it.Language = l
		}
	}
	if it.Language == "" {
		it.Language = f.Language
	}
	return it
}

// atomLink returns the href of n's Atom link that points at the page
// (rel alternate or no rel), preferring HTML, or "".
func atomLink(n *node, base string) string {
	best := ""
	for _, l := range kids(n, "link", inAtom) {
		rel := attr(l, "rel")
		if rel != "" && rel != "alternate" {
			continue
		}
		href := link(attr(l, "href"), base)
		if href == "" {
			continue
		}
		typ := attr(l, "type")
		if typ == "" || strings.Contains(typ, "html") {
			return href
		}
		if best == "" {
			best = href
		}
	}
	return best
}

// readAtom reads an Atom 1.0 feed (and the Atom 0.3 that some still serve).
func readAtom(root *node) *Feed {
	f := &Feed{Kind: Atom}
	f.Title = atomText(kid(root, "title", inAtom), bundle.MaxTitleLen)
	f.Link = atomLink(root, "")
	f.Language = language(root.lang)
	// Relative links resolve against xml:base, else the site, else the
	// feed's own address.
	base := link(xmlBase(root), "")
	if base == "" {
		base = f.Link
	}
	for _, l := range kids(root, "link", inAtom) {
		if base == "" && attr(l, "rel") == "self" {
			base = link(attr(l, "href"), "")
		}
	}
	var feedAuthors []string
	for _, a := range kids(root, "author", inAtom) {
		if name := clean(text(kid(a, "name", inAtom)), bundle.MaxAuthorLen); name != "" {
			feedAuthors = append(feedAuthors, name)
		}
	}
	for _, n := range kids(root, "entry", inAtom) {
		if len(f.Items) == MaxItems {
			f.Dropped++
			continue
		}
		f.Items = append(f.Items, atomEntry(n, f, base, feedAuthors))
	}
	return f
}

// xmlBase returns n's xml:base attribute.
func xmlBase(n *node) string {
	for _, a := range n.attr {
		if a.Name.Local == "base" && (a.Name.Space == xmlNS || a.Name.Space == "xml") {
			return a.Value
		}
	}
	return ""
}

// atomText reads an Atom text construct as plain text.
func atomText(n *node, max int) string {
	if n == nil {
		return ""
	}
	switch attr(n, "type") {
	case "html", "text/html":
		return htmlText(text(n), max)
	default: // text, xhtml: the markup's text
		return clean(text(n), max)
	}
}

// atomContent reads an Atom content or summary as HTML.
func atomContent(n *node) string {
	switch typ := attr(n, "type"); typ {
	case "html", "text/html":
		return strings.TrimSpace(text(n))
	case "xhtml", "application/xhtml+xml":
		if div := kid(n, "div", func(*node) bool { return true }); div != nil {
			return strings.TrimSpace(markup(div))
		}
		return strings.TrimSpace(markup(n))
	case "", "text", "text/plain":
		return paragraphs(text(n))
	default: // another media type, or src=: nothing to show inline
		return ""
	}
}

func atomEntry(n *node, f *Feed, base string, feedAuthors []string) *Item {
	it := &Item{}
	it.GUID = clean(text(kid(n, "id", inAtom)), bundle.MaxURLLen)
	if b := link(xmlBase(n), base); b != "" {
		base = b
	}
	it.Link = atomLink(n, base)
	it.Title = atomText(kid(n, "title", inAtom), bundle.MaxTitleLen)
	body := kid(n, "content", inAtom)
	if body == nil || atomContent(body) == "" {
		body = kid(n, "summary", inAtom)
	}
	if body != nil {
		it.Content = atomContent(body)
		if body.over {
			it.Err = errorf("entry content is larger than %d bytes", MaxFieldSize)
		}
	}
	for _, local := range []string{"published", "issued"} {
		if t, err := ParseDate(text(kid(n, local, inAtom))); err == nil {
			it.Published = t
			break
		}
	}
	for _, local := range []string{"updated", "modified"} {
		if t, err := ParseDate(text(kid(n, local, inAtom))); err == nil {
			it.Updated = t
			break
		}
	}
	for _, a := range kids(n, "author", inAtom) {
		addAuthor(it, clean(text(kid(a, "name", inAtom)), bundle.MaxAuthorLen))
	}
	for _, a := range kids(n, "creator", inDC) {
		addAuthor(it, person(text(a)))
	}
	if len(it.Authors) == 0 {
		if src := kid(n, "source", inAtom); src != nil {
			for _, a := range kids(src, "author", inAtom) {
				addAuthor(it, clean(text(kid(a, "name", inAtom)), bundle.MaxAuthorLen))
			}
		}
	}
	if len(it.Authors) == 0 {
		for _, a := range feedAuthors {
			addAuthor(it, a)
		}
	}
	for _, c := range kids(n, "category", inAtom) {
		if l := attr(c, "label"); l != "" {
			addCategory(it, l)
		} else {
			addCategory(it, attr(c, "term"))
		}
	}
	it.Language = language(n.lang)
	if body != nil && language(body.lang) != "" {
		it.Language = language(body.lang)
	}
	if it.Language == "" {
		it.Language = f.Language
	}
	return it
}

// Document returns the item as a small UTF-8 HTML document: its content,
// with the title, authors, publication date, language and link in the
// head, where an article extractor looks for them.
func (it *Item) Document() []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html")
	if it.Language != "" {
		b.WriteString(` lang="` + html.EscapeString(it.Language) + `"`)
	}
	b.WriteString(">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html.EscapeString(it.Title) + "</title>\n")
	if it.Link != "" {
		b.WriteString(`<link rel="canonical" href="` + html.EscapeString(it.Link) + "\">\n")
	}
	for _, a := range it.Authors {
		b.WriteString(`<meta name="author" content="` + html.EscapeString(a) + "\">\n")
	}
	if !it.Published.IsZero() {
		b.WriteString(`<meta property="article:published_time" content="` + it.Published.Format(time.RFC3339) + "\">\n")
	}
	if !it.Updated.IsZero() {
		b.WriteString(`<meta property="article:modified_time" content="` + it.Updated.Format(time.RFC3339) + "\">\n")
	}
	b.WriteString("</head>\n<body>\n<article>\n")
	b.WriteString(it.Content)
	b.WriteString("\n</article>\n</body>\n</html>\n")
	return []byte(b.String())
}
