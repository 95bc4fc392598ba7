package render

import (
	"bytes"
	"encoding/xml"
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// Feed is an Atom feed (RFC 4287) of a publisher's articles, as a mirror
// serves it and a static export writes it.
type Feed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []AtomLink  `xml:"link"`
	Author  AtomPerson  `xml:"author"`
	Entries []AtomEntry `xml:"entry"`
}

// AtomLink is an Atom link.
type AtomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

// AtomPerson is an Atom author.
type AtomPerson struct {
	Name string `xml:"name"`
}

// AtomEntry is one article in a feed.
type AtomEntry struct {
	// Lang is the article's language, as xml:lang.
	Lang      string       `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
	ID        string       `xml:"id"`
	Title     string       `xml:"title"`
	Updated   string       `xml:"updated"`
	Published string       `xml:"published"`
	Link      AtomLink     `xml:"link"`
	Authors   []AtomPerson `xml:"author"`
	Summary   *AtomText    `xml:"summary"`
	Content   *AtomText    `xml:"content"`
}

// AtomText is an Atom text construct; the encoder escapes Body.
type AtomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// Bounds of an Atom entry's text.
const (
	// FeedContentMax bounds the sanitised HTML body sent as an entry's
	// content.
	FeedContentMax = 16 << 10
	// FeedSummaryMax is the most characters of text in the summary sent
	// instead when the body is longer.
	FeedSummaryMax = 600
)

// FeedText returns an entry's text from the article's sanitised body as
// its page shows it: the body itself as HTML content, or when that is
// longer than FeedContentMax, a plain-text summary of its start.
func FeedText(body []byte) (content, summary *AtomText) {
	if len(body) <= FeedContentMax {
		return &AtomText{Type: "html", Body: string(body)}, nil
	}
	return nil, &AtomText{Type: "text", Body: TextSummary(body, FeedSummaryMax)}
}

// Encode returns the feed as an XML document.
func (f *Feed) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// TextSummary returns the text of sanitised HTML, with runs of white
// space made one space, cut to at most limit characters at a word boundary
// (ending in an ellipsis when cut).
func TextSummary(htm []byte, limit int) string {
	var text []rune
	z := html.NewTokenizer(bytes.NewReader(htm))
	space := false
	for len(text) <= limit {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.TextToken {
			name, _ := z.TagName()
			space = space || blockTags[string(name)] // "<p>a</p><p>b</p>" is two words
			continue
		}
		for _, r := range string(z.Text()) {
			if len(text) > limit {
				break
			}
			if unicode.IsSpace(r) {
				space = true
				continue
			}
			if space && len(text) > 0 {
				text = append(text, ' ')
			}
			space = false
			text = append(text, r)
		}
	}
	if len(text) <= limit {
		return string(text)
	}
	cut := limit - 1 // room for the ellipsis
	for i := cut; i > cut/2; i-- {
		if text[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(text[:cut]), " ") + "…"
}

// blockTags are the elements that separate words in TextSummary.
var blockTags = map[string]bool{
	"p": true, "br": true, "div": true, "li": true, "ul": true, "ol": true, "dd": true, "dt": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true,
	"pre": true, "tr": true, "td": true, "th": true, "table": true, "figure": true, "figcaption": true,
	"section": true, "article": true, "header": true, "footer": true, "aside": true, "hr": true, "img": true,
}
