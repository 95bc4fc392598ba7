// Package feed reads news feeds: RSS 0.9x and 2.0, RSS 1.0 (RDF) and
// Atom 1.0, into items a publisher can sign one by one.
//
// It is a small, strict parser over encoding/xml, bounded on every input:
// the feed's size (MaxFeedSize, also after gzip and charset decoding), the
// number of items (MaxItems) and of elements (MaxElements), their depth
// (MaxDepth) and each field (MaxFieldSize; titles, names and links to the bundle manifest's
// limits). It reads what publishers actually serve:
//
//   - a UTF-8 byte order mark and white space before the document, and
//     UTF-16 with its byte order mark;
//   - a gzip-compressed body (found by its magic number), decompressed
//     within MaxFeedSize;
//   - any charset an XML declaration names that the WHATWG Encoding
//     standard knows (ISO-8859-1, windows-1251, KOI8-R, ...), decoded to
//     UTF-8 through golang.org/x/net/html/charset;
//   - bytes that are not valid UTF-8 in a document that declares UTF-8 or
//     no charset at all, read as windows-1252, as browsers and Python's
//     feedparser read them (the common case is an old Latin-1 CMS that
//     forgot its declaration; windows-1252 is a superset of Latin-1's
//     printable characters);
//   - characters XML forbids (control characters), dropped;
//   - HTML entities such as &nbsp; and &eacute; in the XML.
//
// What is not a feed is refused with an error that says what it looks
// like: an HTML page (a login wall, an error page, a moved notice), JSON
// (JSON Feed is not supported), an empty body, or XML of another kind.
//
// Feed never fetches anything; the caller gives it bytes.
package feed

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Limits on a feed. They are generous for news feeds (the corpus's largest,
// a podcast feed of 730 items, is 1.6 MB) and bound the memory one parse
// takes to a small multiple of MaxFeedSize.
const (
	// MaxFeedSize bounds a feed's bytes, before and after gzip and before
	// charset decoding.
	MaxFeedSize = 8 << 20
	// MaxDecodedSize bounds a feed after charset decoding to UTF-8, which
	// can at most triple a single-byte encoding's size.
	MaxDecodedSize = 3 * MaxFeedSize
	// MaxItems bounds the items read; later ones are dropped and counted
	// in Feed.Dropped.
	MaxItems = 2000
	// MaxDepth bounds the nesting of elements.
	MaxDepth = 64
	// MaxElements bounds the elements of a feed, which the parser holds
	// in memory as a tree (about 150 bytes each).
	MaxElements = 250_000
	// MaxFieldSize bounds the text of one element (an item's content,
	// mostly). An item whose content is larger gets an Err.
	MaxFieldSize = 4 << 20
	// MaxCategories bounds the categories kept per item.
	MaxCategories = 32
)

// Kinds of feed.
const (
	RSS  = "rss"  // RSS 0.9x and 2.0
	RDF  = "rdf"  // RSS 1.0 (and 0.90)
	Atom = "atom" // Atom 1.0
)

// Feed is a parsed feed.
type Feed struct {
	Kind     string // RSS, RDF or Atom
	Title    string
	Link     string // the site's address
	Language string // channel language or the feed's xml:lang
	Items    []*Item
	Dropped  int // items beyond MaxItems, not read
}

// Item is one entry of a feed. Text fields are valid UTF-8 without control
// characters, white space collapsed, within the bundle manifest's limits.
type Item struct {
	GUID  string // RSS guid or Atom id
	Link  string // the article's address: RSS link, Atom link rel=alternate
	Title string // plain text, HTML tags and entities resolved
	// Content is HTML: content:encoded or Atom content, else description
	// or summary. Plain text content is escaped into paragraphs.
	Content   string
	Published time.Time // zero when absent or not understood
	Updated   time.Time // zero when absent or not understood
	Authors   []string
	Language  string // the item's own xml:lang, else the feed's
	// Categories are the item's categories or Atom terms.
	Categories []string
	// Err says why the item cannot be published as it is (its content
	// is larger than MaxFieldSize); its other fields may be partial.
	Err error
}

// Error is what Parse returns for input that is not a feed it can read.
type Error struct{ Reason string }

func (e *Error) Error() string { return "feed: " + e.Reason }

func errorf(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// ErrNotFeed is wrapped by the errors for input that is not a feed at all
// (HTML, JSON, empty, XML of another kind), as opposed to a feed that is
// broken.
var ErrNotFeed = errors.New("not a feed")

type notFeedError struct{ what string }

func (e *notFeedError) Error() string { return "feed: not a feed: " + e.what }
func (e *notFeedError) Unwrap() error { return ErrNotFeed }

// Parse reads a feed. It is safe for concurrent use.
func Parse(data []byte) (*Feed, error) {
	if len(data) > MaxFeedSize {
		return nil, errorf("feed is larger than %d bytes", MaxFeedSize)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		var err error
		if data, err = gunzip(data); err != nil {
			return nil, err
		}
	}
	utf16 := len(data) >= 2 && (data[0] == 0xfe && data[1] == 0xff || data[0] == 0xff && data[1] == 0xfe)
	if utf16 {
		dec, err := unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Bytes(data)
		if err != nil {
			return nil, errorf("decoding UTF-16: %v", err)
		}
		data = dec
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	if err := sniff(data); err != nil {
		return nil, err
	}
	root, err := parseTree(data, utf16)
	if err != nil {
		return nil, err
	}
	var f *Feed
	switch {
	case root.name.Local == "rss":
		f = readRSS(root, RSS)
	case root.name.Local == "RDF":
		f = readRSS(root, RDF)
	case root.name.Local == "feed":
		f = readAtom(root)
	case isHTMLName(root.name.Local):
		return nil, &notFeedError{"looks like HTML"}
	default:
		return nil, &notFeedError{fmt.Sprintf("XML whose root element is <%s>, not <rss>, <rdf:RDF> or <feed>", clean(root.name.Local, 64))}
	}
	return f, nil
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, errorf("gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxFeedSize+1))
	if err != nil {
		return nil, errorf("gzip: %v", err)
	}
	if len(out) > MaxFeedSize {
		return nil, errorf("feed is larger than %d bytes after gzip", MaxFeedSize)
	}
	return out, nil
}

// sniff refuses what is plainly not XML: empty input, JSON, HTML.
func sniff(data []byte) error {
	if len(data) == 0 {
		return &notFeedError{"empty"}
	}
	switch data[0] {
	case '{', '[':
		return &notFeedError{"looks like JSON (JSON Feed is not supported)"}
	case '<':
	default:
		return &notFeedError{"does not start with '<'"}
	}
	head := strings.ToLower(string(data[:min(len(data), 64)]))
	for _, p := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if strings.HasPrefix(head, p) {
			return &notFeedError{"looks like HTML"}
		}
	}
	return nil
}

func isHTMLName(s string) bool {
	switch strings.ToLower(s) {
	case "html", "head", "body":
		return true
	}
	return false
}

// node is an element of the document, or a text node (name.Local "").
type node struct {
	name xml.Name
	attr []xml.Attr
	kids []*node
	text []byte // a text node's text
	lang string // the element's xml:lang, inherited
	over bool   // its text was longer than MaxFieldSize
	size int    // bytes of its own text
}

const xmlNS = "http://www.w3.org/XML/1998/namespace"

// parseTree reads the document into a tree of nodes, bounded. fromUTF16
// says data was UTF-16, already decoded: its declaration's charset is
// not decoded again.
func parseTree(data []byte, fromUTF16 bool) (*node, error) {
	if !fromUTF16 && !utf8.Valid(data) && !declaresCharset(data) {
		dec, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return nil, errorf("decoding windows-1252: %v", err)
		}
		data = dec
	}
	d := xml.NewDecoder(bytes.NewReader(dropInvalid(data)))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	d.CharsetReader = charsetReader
	if fromUTF16 {
		d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
			if strings.HasPrefix(strings.ToLower(label), "utf-16") {
				return r, nil
			}
			return charsetReader(label, r)
		}
	}
	var root *node
	var stack []*node
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if root == nil && strings.Contains(err.Error(), "charset") {
				return nil, errorf("%v", err)
			}
			return nil, errorf("XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= MaxDepth {
				return nil, errorf("elements nested deeper than %d", MaxDepth)
			}
			if elements++; elements > MaxElements {
				return nil, errorf("more than %d elements", MaxElements)
			}
			n := &node{name: t.Name, attr: t.Copy().Attr}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				n.lang = parent.lang
				parent.kids = append(parent.kids, n)
			} else if root != nil {
				return nil, errorf("XML: more than one root element")
			} else {
				root = n
			}
			for _, a := range t.Attr {
				if a.Name.Local == "lang" && (a.Name.Space == xmlNS || a.Name.Space == "xml") {
					n.lang = a.Value
				}
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			parent := stack[len(stack)-1]
			if parent.size+len(t) > MaxFieldSize {
				parent.over = true
				continue
			}
			parent.size += len(t)
			// Text split by CDATA sections or comments is one text node;
			// appending to a byte slice keeps that linear.
			if k := len(parent.kids); k > 0 && parent.kids[k-1].name.Local == "" {
				parent.kids[k-1].text = append(parent.kids[k-1].text, t...)
			} else {
				parent.kids = append(parent.kids, &node{text: append([]byte(nil), t...)})
			}
		}
	}
	if root == nil {
		return nil, &notFeedError{"no XML element"}
	}
	return root, nil
}

// declaresCharset reports whether data begins with an XML declaration that
// names a charset other than UTF-8.
func declaresCharset(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		return false
	}
	end := bytes.Index(data, []byte("?>"))
	if end < 0 {
		return false
	}
	decl := string(data[:end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return false
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n=")
	rest = strings.Trim(rest, "\"' \t\r\n")
	if j := strings.IndexAny(rest, "\"' "); j >= 0 {
		rest = rest[:j]
	}
	return !strings.EqualFold(rest, "utf-8") && !strings.EqualFold(rest, "utf8")
}

// charsetReader decodes a declared charset to UTF-8, bounded, dropping
// characters XML forbids.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	cr, err := charset.NewReaderLabel(label, r)
	if err != nil {
		return nil, errorf("unknown charset %q", clean(label, 64))
	}
	out, err := io.ReadAll(io.LimitReader(cr, MaxDecodedSize+1))
	if err != nil {
		return nil, errorf("decoding %s: %v", clean(label, 64), err)
	}
	if len(out) > MaxDecodedSize {
		return nil, errorf("feed is larger than %d bytes after decoding %s", MaxDecodedSize, clean(label, 64))
	}
	return bytes.NewReader(dropInvalid(out)), nil
}

// dropInvalid removes the characters XML 1.0 forbids (C0 controls other
// than tab, newline and return; U+FFFE and U+FFFF) from UTF-8 text; other
// bytes are left for the decoder to judge.
func dropInvalid(b []byte) []byte {
	bad := func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xfffe || r == 0xffff
	}
	clean := true
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if bad(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if !bad(r) {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
