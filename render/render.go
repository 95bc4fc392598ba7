// Package render turns a verified bundle into the sanitised HTML that
// every page showing an article uses (the mirror's, the local reader's and
// saved copies): no script, event handlers, styles, frames or forms, and
// images only from the bundle itself. It also holds the one style sheet
// those pages share. Its functions are safe for concurrent use.
package render

import (
	"bytes"
	_ "embed"
	"html"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/samizdat-news/samizdat/bundle"
)

// markdown renders Markdown without raw HTML passthrough (goldmark's
// default); the output is sanitised as HTML bodies are. Goldmark's
// Markdown is safe for concurrent use.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify))

// sanitizer is a sanitising policy with a source rewriter that can be
// pointed at one article at a time. Building a bluemonday policy compiles
// regular expressions (about 200 KB of allocation), so policies are reused
// through a pool rather than built per rendering; each is used by one
// goroutine at a time.
type sanitizer struct {
	p      *bluemonday.Policy
	images func(*url.URL)
}

var sanitizers = gosync.Pool{New: func() any {
	s := &sanitizer{}
	s.p = policy(func(u *url.URL) { s.images(u) })
	return s
}}

// MaxAttrText bounds, in characters, the alt and title text kept on an
// element; longer text is dropped with its attribute, unless bluemonday's
// own rule (letters, digits, spaces and a few marks) keeps it.
const MaxAttrText = 1000

// attrText matches the alt and title text kept: any characters but control
// characters (tab and line breaks excepted), private-use characters and
// surrogates, up to MaxAttrText of them. Attribute values are escaped
// when the sanitised HTML is written, so punctuation (":", "?", "«»",
// quotes) is safe here; bluemonday's default rule for them keeps letters,
// digits and a few marks only, and dropped a third of a newsroom page's
// alt texts.
var attrText = regexp.MustCompile(`^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F\p{Co}\p{Cs}]{0,` + strconv.Itoa(MaxAttrText) + `}$`)

// policy returns the sanitising policy: bluemonday's user-generated-content
// policy (no script, no event handlers, no style attributes, no iframes,
// forms, meta or base elements, only http, https and mailto links), alt
// and title text with any punctuation (attrText), links marked noreferrer
// and nofollow, and image sources rewritten by images.
func policy(images func(*url.URL)) *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowAttrs("alt").Matching(attrText).OnElements("img", "area")
	p.AllowAttrs("title").Matching(attrText).Globally()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoReferrerOnLinks(true)
	p.RequireNoFollowOnLinks(true)
	p.RewriteSrc(images)
	return p
}

// sanitize sanitises an article body, rewriting image sources by images.
func sanitize(body []byte, images func(*url.URL)) []byte {
	s := sanitizers.Get().(*sanitizer)
	s.images = images
	out := s.p.SanitizeBytes(body)
	s.images = nil
	sanitizers.Put(s)
	return out
}

// imageRewriter returns a source rewriter that points relative references
// to the bundle's image entries at src's URL for the entry and empties
// every other source (and those src gives "" for): an image from
// anywhere else would be blocked by the page's policy anyway, and would
// tell a third party who reads what.
func imageRewriter(b *bundle.Bundle, src func(*bundle.EntryInfo) string) func(*url.URL) {
	return func(u *url.URL) {
		i, ok := imageEntry(b, u)
		*u = url.URL{}
		if ok {
			u.Path = src(&b.Manifest.Entries[i])
		}
	}
}

// imageEntry returns the index of the bundle image entry a relative
// reference names.
func imageEntry(b *bundle.Bundle, u *url.URL) (int, bool) {
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") {
		return 0, false
	}
	name := path.Clean(u.Path)
	if bundle.CheckName(name) != nil {
		return 0, false
	}
	i := b.Lookup(name)
	if i <= 0 || !bundle.ImageTypes[b.Manifest.Entries[i].Type] {
		return 0, false
	}
	return i, true
}

// Body returns a verified bundle's body bytes (its first entry,
// decompressed) as sanitised HTML. base is the
// article's URL path, ending in a slash.
func Body(b *bundle.Bundle, body []byte, base string) []byte {
	return BodyLinked(b, body, func(e *bundle.EntryInfo) string { return base + e.Name })
}

// BodyLinked is Body with the URL of each image entry the body shows
// given by src, which may return "" to drop the image (a static export
// writes entries under names of its own, and leaves some out).
func BodyLinked(b *bundle.Bundle, body []byte, src func(*bundle.EntryInfo) string) []byte {
	typ := b.Manifest.Entries[0].Type
	switch typ {
	case "text/markdown":
		var buf bytes.Buffer
		if err := markdown.Convert(body, &buf); err != nil {
			return renderText(body)
		}
		body = buf.Bytes()
	case "text/html":
	default:
		return renderText(body)
	}
	return dropTitle(sanitize(body, imageRewriter(b, src)), b.Manifest.Title)
}

// dropTitle removes a first heading that repeats the title, which the
// page shows above the body already.
func dropTitle(body []byte, title string) []byte {
	rest := bytes.TrimLeft(body, " \t\r\n")
	for _, h := range []string{"h1", "h2"} {
		head := "<" + h + ">" + html.EscapeString(title) + "</" + h + ">"
		if title != "" && bytes.HasPrefix(rest, []byte(head)) {
			return bytes.TrimLeft(rest[len(head):], "\r\n")
		}
	}
	return body
}

// renderText escapes plain text into paragraphs: blank lines separate
// paragraphs, single newlines become line breaks.
func renderText(body []byte) []byte {
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	var out strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.Trim(para, "\n")
		if strings.TrimSpace(para) == "" {
			continue
		}
		out.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				out.WriteString("<br>\n")
			}
			out.WriteString(html.EscapeString(line))
		}
		out.WriteString("</p>\n")
	}
	return []byte(out.String())
}

// rtlLanguages are the primary language subtags written right to left.
var rtlLanguages = map[string]bool{
	"ar": true, "fa": true, "he": true, "ur": true, "ps": true, "sd": true,
	"ug": true, "yi": true, "dv": true, "ckb": true, "iw": true,
}

// Direction returns the dir attribute for a BCP 47 language tag: rtl for
// right-to-left languages (or an Arab or Hebr script subtag), else auto.
func Direction(lang string) string {
	l := strings.ToLower(lang)
	primary, rest, _ := strings.Cut(l, "-")
	if rtlLanguages[primary] {
		if strings.Contains("-"+rest+"-", "-latn-") || strings.Contains("-"+rest+"-", "-cyrl-") {
			return "auto"
		}
		return "rtl"
	}
	for _, sub := range strings.Split(rest, "-") {
		switch sub {
		case "arab", "hebr", "thaa", "syrc", "nkoo", "adlm", "rohg":
			return "rtl"
		}
	}
	return "auto"
}

// LangAttr returns a safe lang attribute value: the tag if it looks like
// BCP 47 (letters, digits and hyphens), else empty (unknown).
func LangAttr(lang string) string {
	if lang == "" || len(lang) > bundle.MaxLanguageLen {
		return ""
	}
	for i := 0; i < len(lang); i++ {
		c := lang[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return ""
		}
	}
	return lang
}

// Article returns a verified bundle's body as the sanitised HTML the
// mirror's article pages show (see PROTOCOL.md): no script, event
// handlers, styles, frames or forms. Relative references that name one of
// the bundle's images point to base+name; every other image source is
// emptied. base is the article's URL path, ending in a slash.
func Article(b *bundle.Bundle, base string) ([]byte, error) {
	body, err := b.Body()
	if err != nil {
		return nil, err
	}
	return Body(b, body, base), nil
}

//go:embed style.css
var styleCSS []byte

// StyleSheet returns the one style sheet that pages showing articles
// share. The caller must not change it.
func StyleSheet() []byte { return styleCSS }
