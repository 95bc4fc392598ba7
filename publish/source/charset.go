package source

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
)

// Limits of the charset sniffing.
const (
	// MaxCharsetPrescan is how much of the start of a page is searched for
	// a <meta> charset declaration. The HTML standard prescans 1,024
	// bytes; pages with long heads declare later, so more is read, up to
	// the <body> start tag.
	MaxCharsetPrescan = 64 << 10
	// MaxCharsetGuess is how much of an undeclared, non-UTF-8 page the
	// statistical detector reads to guess its charset.
	MaxCharsetGuess = 64 << 10
	// ReplacementWarnShare is the share of a decoded page's non-ASCII
	// characters that may be U+FFFD (the replacement character) before
	// the decoding is reported as likely wrong.
	ReplacementWarnShare = 0.05
	// ReplacementWarnMin is the fewest replacement characters that are
	// reported, whatever their share.
	ReplacementWarnMin = 8
)

// decoded is an HTML page turned into UTF-8.
type decoded struct {
	text []byte // the page in UTF-8, without a byte order mark
	// charset is the canonical name of the charset the page was read in.
	charset string
	// declared is what the page or its Content-Type declared ("" if
	// nothing): a page that is signed as it is must not keep a
	// declaration of anything but UTF-8.
	declared string
	// own is what the page itself declares (<meta>, XML declaration).
	own string
	// same is true if text is the input unchanged.
	same     bool
	warnings []string
}

// decodeHTML decodes an HTML page to UTF-8. The charset is, in order: the
// byte order mark; the charset parameter of contentType; the page's own
// declaration (<meta charset>, <meta http-equiv="Content-Type">, or an
// XML declaration's encoding); UTF-8 if the bytes are valid UTF-8; else a
// statistical guess, reported as a warning. A declaration of a legacy
// charset on bytes that are valid UTF-8 with some non-ASCII text is taken
// to be wrong (such text is almost never meant in a legacy charset), and
// the page is read as UTF-8, with a warning.
func decodeHTML(data []byte, contentType string) decoded {
	var d decoded
	// The byte order mark decides.
	for _, b := range []struct {
		bom []byte
		enc encoding.Encoding
		cs  string
	}{
		{[]byte{0xef, 0xbb, 0xbf}, unicode.UTF8, "utf-8"},
		{[]byte{0xfe, 0xff}, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be"},
		{[]byte{0xff, 0xfe}, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le"},
	} {
		if bytes.HasPrefix(data, b.bom) {
			d.charset = b.cs
			d.declared = declaredCharset(data[len(b.bom):], contentType)
			d.own = declaredCharset(data[len(b.bom):], "")
			d.text = decodeWith(b.enc, data[len(b.bom):])
			d.warnReplacements(data)
			return d
		}
	}
	d.declared = declaredCharset(data, contentType)
	d.own = declaredCharset(data, "")
	enc, name := charset.Lookup(d.declared)
	if enc != nil && (name == "utf-16le" || name == "utf-16be") && contentTypeCharset(contentType) == "" {
		// A page cannot declare itself UTF-16 in its own ASCII text; the
		// standard reads such a declaration as UTF-8.
		enc, name = nil, "utf-8"
	}
	valid := utf8.Valid(data)
	switch {
	case d.declared != "" && enc == nil && name == "":
		d.warnings = append(d.warnings, fmt.Sprintf("unknown charset %q declared", d.declared))
	case name == "utf-8":
		enc = nil
	case name == "replacement":
		// ISO-2022-KR, HZ-GB-2312 and the like, which the standard decodes
		// as one U+FFFD: the whole page would be signed as that.
		d.warnings = append(d.warnings, fmt.Sprintf("charset %q declared, which browsers refuse to read", d.declared))
		enc = nil
	case enc != nil && valid && hasNonASCII(data) && name != "utf-16le" && name != "utf-16be":
		d.warnings = append(d.warnings, fmt.Sprintf("the page declares charset %s, but it is UTF-8; read as UTF-8", d.declared))
		enc = nil
	}
	if enc != nil {
		d.charset = name
		d.text = decodeWith(enc, data)
		d.warnReplacements(data)
		return d
	}
	if valid {
		d.charset, d.text, d.same = "utf-8", data, true
		return d
	}
	// Undeclared, or declared UTF-8 or unknown but not UTF-8: guess from
	// the text itself.
	if e, n := charset.Lookup(guessCharset(data)); e != nil && n != "utf-8" {
		what := "no charset declared"
		if d.declared != "" {
			what = fmt.Sprintf("the page declares charset %s but is not in it", d.declared)
		}
		d.warnings = append(d.warnings, fmt.Sprintf("%s; read as %s (a guess)", what, n))
		d.charset = n
		d.text = decodeWith(e, data)
		d.warnReplacements(data)
		return d
	}
	// Invalid UTF-8 and nothing better: invalid bytes become U+FFFD.
	d.charset = "utf-8"
	d.text = []byte(strings.ToValidUTF8(string(data), "\uFFFD"))
	d.warnReplacements(data)
	return d
}

// decodeWith decodes data with enc; decoders of the HTML charsets never
// fail (bytes they cannot map become U+FFFD), so an error only means
// something unexpected, and the page is then read as UTF-8.
func decodeWith(enc encoding.Encoding, data []byte) []byte {
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	return out
}

// warnReplacements warns when the decoded text has a large share of
// replacement characters that were not in the input as such: the page
// was probably read in the wrong charset, or is damaged.
func (d *decoded) warnReplacements(orig []byte) {
	nonASCII, repl := 0, 0
	for _, r := range string(d.text) {
		if r >= utf8.RuneSelf {
			nonASCII++
			if r == utf8.RuneError {
				repl++
			}
		}
	}
	repl -= bytes.Count(orig, []byte("\uFFFD")) // there before decoding
	if repl >= ReplacementWarnMin && float64(repl) > ReplacementWarnShare*float64(nonASCII) {
		d.warnings = append(d.warnings, fmt.Sprintf("%d of %d non-ASCII characters could not be decoded from %s: the text is probably damaged or in another charset", repl, nonASCII, d.charset))
	}
}

func hasNonASCII(data []byte) bool {
	for _, c := range data {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// contentTypeCharset returns the charset parameter of a Content-Type.
func contentTypeCharset(contentType string) string {
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		return strings.TrimSpace(params["charset"])
	}
	return ""
}

// declaredCharset returns the charset the Content-Type or the page
// declares, "" if none does.
func declaredCharset(data []byte, contentType string) string {
	if cs := contentTypeCharset(contentType); cs != "" {
		return cs
	}
	if cs := xmlEncoding(data); cs != "" {
		return cs
	}
	return metaCharset(data)
}

// xmlEncoding returns the encoding of an XML declaration at the start of
// data, "" if there is none.
func xmlEncoding(data []byte) string {
	data = bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(data, []byte("?>"))
	if end < 0 || end > 1024 {
		return ""
	}
	decl := string(data[len("<?xml"):end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return ""
	}
	s := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(s, "=") {
		return ""
	}
	s = strings.TrimLeft(s[1:], " \t\r\n")
	if s == "" || s[0] != '"' && s[0] != '\'' {
		return ""
	}
	q := s[0]
	s = s[1:]
	if j := strings.IndexByte(s, q); j >= 0 {
		return strings.TrimSpace(s[:j])
	}
	return ""
}

// metaCharset returns the charset of the first <meta charset> or
// <meta http-equiv="Content-Type"> in the first MaxCharsetPrescan bytes
// before <body>.
func metaCharset(data []byte) string {
	if len(data) > MaxCharsetPrescan {
		data = data[:MaxCharsetPrescan]
	}
	z := html.NewTokenizer(bytes.NewReader(data))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "body":
				return ""
			case "meta":
				if cs := charsetOfMeta(attrs(z, hasAttr)); cs != "" {
					return cs
				}
			}
		}
	}
}

// attrs returns the current tag's attributes, names lowercase.
func attrs(z *html.Tokenizer, hasAttr bool) map[string]string {
	m := map[string]string{}
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		if _, dup := m[string(k)]; !dup {
			m[string(k)] = string(v)
		}
	}
	return m
}

// charsetOfMeta returns the charset a <meta> element with these
// attributes declares, "" if none.
func charsetOfMeta(a map[string]string) string {
	if cs := strings.TrimSpace(a["charset"]); cs != "" {
		return cs
	}
	if strings.EqualFold(strings.TrimSpace(a["http-equiv"]), "content-type") {
		return fromMetaContent(a["content"])
	}
	return ""
}

// fromMetaContent extracts the charset from a meta content attribute, as
// the HTML standard's algorithm does.
func fromMetaContent(s string) string {
	for s != "" {
		i := strings.Index(strings.ToLower(s), "charset")
		if i < 0 {
			return ""
		}
		s = strings.TrimLeft(s[i+len("charset"):], " \t\n\f\r")
		if !strings.HasPrefix(s, "=") {
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\n\f\r")
		if s == "" {
			return ""
		}
		if q := s[0]; q == '"' || q == '\'' {
			s = s[1:]
			if j := strings.IndexByte(s, q); j >= 0 {
				return s[:j]
			}
			return ""
		}
		if j := strings.IndexAny(s, "; \t\n\f\r"); j >= 0 {
			return s[:j]
		}
		return s
	}
	return ""
}

// guessCharset guesses the charset of text that declares none and is not
// UTF-8, from its first MaxCharsetGuess bytes; "" if no guess is made.
func guessCharset(data []byte) string {
	if len(data) > MaxCharsetGuess {
		data = data[:MaxCharsetGuess]
	}
	r, err := chardet.NewHtmlDetector().DetectBest(data)
	if err != nil || r == nil {
		return "windows-1252"
	}
	return r.Charset
}
