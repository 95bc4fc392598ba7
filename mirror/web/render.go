package web

import (
	"bytes"
	"html"
	"net/url"
	"path"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/samizdat-news/samizdat/bundle"
)

// markdown renders Markdown without raw HTML passthrough (goldmark's
// default); the output is sanitised as HTML bodies are. Goldmark's
// Markdown is safe for concurrent use.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify))

// policy returns the sanitising policy for one article: bluemonday's
// user-generated-content policy (no script, no event handlers, no style
// attributes, no iframes, forms, meta or base elements, only http, https
// and mailto links), links marked noreferrer and nofollow, and image
// sources rewritten by images. A policy is built per rendering because
// its source rewriter is per article; rendering happens once per bundle.
func policy(images func(*url.URL)) *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoReferrerOnLinks(true)
	p.RequireNoFollowOnLinks(true)
	p.RewriteSrc(images)
	return p
}

// imageRewriter returns a source rewriter that points relative references
// to the bundle's image entries at base (the article's URL, ending in a
// slash) and empties every other source: an image from anywhere else
// would be blocked by the page's policy anyway, and would tell a third
// party who reads what.
func imageRewriter(b *bundle.Bundle, base string) func(*url.URL) {
	return func(u *url.URL) {
		name, ok := imageName(b, u)
		*u = url.URL{}
		if ok {
			u.Path = base + name
		}
	}
}

// imageName returns the bundle image entry a relative reference names.
func imageName(b *bundle.Bundle, u *url.URL) (string, bool) {
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	name := path.Clean(u.Path)
	if bundle.CheckName(name) != nil {
		return "", false
	}
	i := b.Lookup(name)
	if i <= 0 || !bundle.ImageTypes[b.Manifest.Entries[i].Type] {
		return "", false
	}
	return name, true
}

// renderBody returns the article body as sanitised HTML. base is the
// article's URL path, ending in a slash.
func renderBody(b *bundle.Bundle, body []byte, base string) []byte {
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
	return policy(imageRewriter(b, base)).SanitizeBytes(body)
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

// direction returns the dir attribute for a BCP 47 language tag: rtl for
// right-to-left languages (or an Arab or Hebr script subtag), else auto.
func direction(lang string) string {
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

// langAttr returns a safe lang attribute value: the tag if it looks like
// BCP 47 (letters, digits and hyphens), else empty (unknown).
func langAttr(lang string) string {
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
