package feed

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

const rss2 = `<?xml version="1.0" encoding="%s"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Новости</title><link>https://news.example/</link><language>%s</language>
<item>
  <title>%s</title>
  <link>/a/1</link>
  <guid isPermaLink="false">item-1</guid>
  <description>short</description>
  <content:encoded><![CDATA[<p>%s</p>]]></content:encoded>
  <pubDate>Mon, 02 Jan 2006 15:04:05 +0300</pubDate>
  <dc:creator>Anna Petrova</dc:creator>
  <category>Politics</category>
</item>
</channel></rss>`

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, data []byte) *Feed {
	t.Helper()
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCharsets decodes feeds made with x/text encoders in the charsets of
// older Russian, Iranian and European CMSs.
func TestCharsets(t *testing.T) {
	for _, tc := range []struct {
		label, lang, title, body string
		enc                      encoding.Encoding
	}{
		{"windows-1251", "ru", "Переговоры в Женеве", "Текст статьи", charmap.Windows1251},
		{"KOI8-R", "ru", "Переговоры в Женеве", "Текст статьи", charmap.KOI8R},
		{"ISO-8859-1", "pt", "Últimas Notícias", "Ação é já", charmap.ISO8859_1},
		{"windows-1256", "fa", "مذاکرات ژنو", "متن", charmap.Windows1256},
		{"UTF-8", "fa", "مذاکرات در ژنو", "متن مقاله", encoding.Nop},
		{"UTF-16", "fa", "مذاکرات در ژنو", "متن مقاله", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
	} {
		t.Run(tc.label, func(t *testing.T) {
			doc := strings.Replace(rss2, "<title>Новости</title>", "<title>News</title>", 1)
			data := encode(t, tc.enc, sprintf(doc, tc.label, tc.lang, tc.title, tc.body))
			f := mustParse(t, data)
			if len(f.Items) != 1 {
				t.Fatalf("%d items", len(f.Items))
			}
			it := f.Items[0]
			if it.Title != tc.title || it.Content != "<p>"+tc.body+"</p>" || it.Language != tc.lang {
				t.Errorf("got title %q content %q lang %q", it.Title, it.Content, it.Language)
			}
		})
	}
}

func sprintf(format string, args ...any) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a.(string), 1)
	}
	return format
}

// TestUndeclaredLatin1 reads bytes that are not UTF-8, in a feed without
// an XML declaration, as windows-1252.
func TestUndeclaredLatin1(t *testing.T) {
	doc := "<rss><channel><item><title>Not\xedcias do dia</title><guid>x</guid><description>\x93quoted\x94</description></item></channel></rss>"
	it := mustParse(t, []byte(doc)).Items[0]
	if it.Title != "Notícias do dia" || it.Content != "“quoted”" {
		t.Errorf("title %q content %q", it.Title, it.Content)
	}
}

func TestQuirks(t *testing.T) {
	item := `<rss version="2.0"><channel><item><title>A &amp;amp; B&nbsp;&mdash; C</title><guid>g</guid><description>x` + "\x01" + `y</description></item></channel></rss>`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(item))
	zw.Close()
	for name, data := range map[string][]byte{
		"plain":   []byte(item),
		"bom":     append([]byte("\xef\xbb\xbf"), item...),
		"spaces":  []byte("\n \t\r\n" + `<?xml version="1.0"?>` + item),
		"gzip":    gz.Bytes(),
		"comment": []byte("<!-- a comment -->\n" + item),
	} {
		f, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if it := f.Items[0]; it.Title != "A & B — C" || it.Content != "xy" {
			t.Errorf("%s: title %q content %q", name, it.Title, it.Content)
		}
	}
}

// TestNotAFeed: what is not a feed is refused with a reason.
func TestNotAFeed(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not a feed: empty"},
		{"   \n", "not a feed: empty"},
		{"<!DOCTYPE html><html><body>Login</body></html>", "not a feed: looks like HTML"},
		{"<html><head><title>503</title></head></html>", "not a feed: looks like HTML"},
		{"<head><title>Moved</title></head><body/>", "not a feed: looks like HTML"},
		{`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`, "not a feed: looks like HTML"},
		{`{"version": "https://jsonfeed.org/version/1.1"}`, "not a feed: looks like JSON"},
		{`<note><to>x</to></note>`, "not a feed: XML whose root element is <note>"},
		{"Service Unavailable", "not a feed: does not start with '<'"},
		{`<rss><channel><item></channel></rss>`, "feed: XML: "},
		{`<?xml version="1.0" encoding="x-no-such"?><rss/>`, "unknown charset"},
		{strings.Repeat("<a>", MaxDepth+1), "nested deeper than"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.40q) = %v, want %q", tc.in, err, tc.want)
		}
		if strings.Contains(tc.want, "not a feed") && !errors.Is(err, ErrNotFeed) {
			t.Errorf("Parse(%.40q): %v is not ErrNotFeed", tc.in, err)
		}
	}
}

func TestLimits(t *testing.T) {
	if _, err := Parse(make([]byte, MaxFeedSize+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized feed: %v", err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("<rss>"))
	zw.Write(make([]byte, MaxFeedSize))
	zw.Close()
	if _, err := Parse(gz.Bytes()); err == nil || !strings.Contains(err.Error(), "after gzip") {
		t.Errorf("gzip bomb: %v", err)
	}
	var b strings.Builder
	b.WriteString("<rss><channel>")
	for range MaxItems + 3 {
		b.WriteString("<item><guid>g</guid></item>")
	}
	b.WriteString("</channel></rss>")
	f := mustParse(t, []byte(b.String()))
	if len(f.Items) != MaxItems || f.Dropped != 3 {
		t.Errorf("%d items, %d dropped", len(f.Items), f.Dropped)
	}
	many := "<rss><channel>" + strings.Repeat("<x/>", MaxElements) + "</channel></rss>"
	if _, err := Parse([]byte(many)); err == nil || !strings.Contains(err.Error(), "more than 250000 elements") {
		t.Errorf("too many elements: %v", err)
	}
	big := "<rss><channel><item><guid>big</guid><description>" + strings.Repeat("x", MaxFieldSize+1) + "</description></item><item><guid>ok</guid><description>y</description></item></channel></rss>"
	f = mustParse(t, []byte(big))
	if f.Items[0].Err == nil || f.Items[1].Err != nil || f.Items[1].Content != "y" {
		t.Errorf("oversized field: item errors %v, %v", f.Items[0].Err, f.Items[1].Err)
	}
}

func TestAtom(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en" xml:base="https://site.example/blog/">
  <title type="html">Site &amp;lt;b&amp;gt;name&amp;lt;/b&amp;gt;</title>
  <author><name>Desk</name></author>
  <entry xml:lang="fa">
    <id>tag:site.example,2026:1</id>
    <link rel="replies" href="1.atom"/>
    <link href="2026/one"/>
    <title type="html">&lt;em&gt;Bold&lt;/em&gt; &amp;amp; true</title>
    <updated>2026-12-01T10:00:00Z</updated>
    <published>2026-11-30T09:00:00+03:30</published>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>One<br/>two &amp; <a href="x">three</a></p></div></content>
    <category term="world" label="World"/>
  </entry>
  <entry>
    <id>tag:site.example,2026:2</id>
    <title>Plain &lt;text&gt;</title>
    <author><name>Ann</name></author><author><name>Bo</name></author>
    <updated>2026-12-02</updated>
    <summary>Line one

Line &lt;two&gt;</summary>
  </entry>
</feed>`
	f := mustParse(t, []byte(doc))
	if f.Kind != Atom || f.Title != "Site <b>name</b>" || f.Language != "en" || len(f.Items) != 2 {
		t.Fatalf("feed %+v", f)
	}
	a, b := f.Items[0], f.Items[1]
	want := &Item{GUID: "tag:site.example,2026:1", Link: "https://site.example/blog/2026/one", Title: "Bold & true",
		Content:   `<p>One<br>two &amp; <a href="x">three</a></p>`,
		Published: time.Date(2026, 11, 30, 5, 30, 0, 0, time.UTC), Updated: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Authors: []string{"Desk"}, Language: "fa", Categories: []string{"World"}}
	if !sameItem(a, want) {
		t.Errorf("entry 1:\n got %+v\nwant %+v", a, want)
	}
	if b.Title != "Plain <text>" || b.Content != "<p>Line one</p>\n<p>Line &lt;two&gt;</p>\n" || strings.Join(b.Authors, ",") != "Ann,Bo" || b.Language != "en" || !b.Published.IsZero() || b.Updated.IsZero() {
		t.Errorf("entry 2: %+v", b)
	}
}

func sameItem(a, b *Item) bool {
	return a.GUID == b.GUID && a.Link == b.Link && a.Title == b.Title && a.Content == b.Content &&
		a.Published.Equal(b.Published) && a.Updated.Equal(b.Updated) && strings.Join(a.Authors, "|") == strings.Join(b.Authors, "|") &&
		a.Language == b.Language && strings.Join(a.Categories, "|") == strings.Join(b.Categories, "|")
}

func TestRDF(t *testing.T) {
	doc := `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://x.example/"><title>X</title><link>https://x.example/</link><dc:language>de</dc:language></channel>
<item rdf:about="https://x.example/1"><title>Eins</title><link>https://x.example/1</link><description>Text</description><dc:creator>Hans</dc:creator><dc:date>2017-06-15T10:29:47-07:00</dc:date></item>
</rdf:RDF>`
	f := mustParse(t, []byte(doc))
	it := f.Items[0]
	if f.Kind != RDF || it.GUID != "https://x.example/1" || it.Title != "Eins" || it.Content != "Text" || it.Authors[0] != "Hans" || it.Language != "de" || it.Published.Hour() != 17 {
		t.Errorf("%+v %+v", f, it)
	}
}

func TestRSSAuthorsAndLinks(t *testing.T) {
	doc := `<rss><channel><link>https://n.example/news/</link>
<item><guid>https://n.example/p/1</guid><author>desk@n.example (News Desk)</author><author>Ann Lee &lt;ann@n.example&gt;</author><description>x</description></item>
<item><guid isPermaLink="false">abc</guid><link>javascript:alert(1)</link><description>x</description></item>
</channel></rss>`
	f := mustParse(t, []byte(doc))
	if a := f.Items[0]; a.Link != "https://n.example/p/1" || strings.Join(a.Authors, "|") != "News Desk|Ann Lee" {
		t.Errorf("item 1: %+v", a)
	}
	if b := f.Items[1]; b.Link != "" {
		t.Errorf("item 2 link %q", b.Link)
	}
}

func TestParseDate(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"Mon, 02 Jan 2006 15:04:05 GMT", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 02 Jan 2006 15:04:05 +0300", utc(2006, 1, 2, 12, 4, 5)},
		{"Mon, 2 Jan 2006 15:04 EST", utc(2006, 1, 2, 20, 4, 0)},
		{"02 Jan 06 15:04:05 -0000", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon,02 Jan 2006 15:04:05 PDT", utc(2006, 1, 2, 22, 4, 5)},
		{"Seg, 24 Set 2018 19:42:40 -0300", utc(2018, 9, 24, 22, 42, 40)},
		{"Mar, 24 Sep 2018 19:42:40 +0000", utc(2018, 9, 24, 19, 42, 40)},
		{"Wed, 03 Jan 2018 14:11:52 GMT\n      ", utc(2018, 1, 3, 14, 11, 52)},
		{"Tue, 10 Mar 2020 16:05:00 +01:00", utc(2020, 3, 10, 15, 5, 0)},
		{"Thu, 23 Jan 2014 09:33:08 XYZ", utc(2014, 1, 23, 9, 33, 8)},
		{"Jan 2, 2006 15:04:05", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02T15:04:05Z", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02T15:04:05.123-07:00", time.Date(2006, 1, 2, 22, 4, 5, 123e6, time.UTC)},
		{"2006-01-02T15:04:05+0100", utc(2006, 1, 2, 14, 4, 5)},
		{"2006-01-02 15:04:05", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02T15:04:05", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02", utc(2006, 1, 2, 0, 0, 0)},
	} {
		got, err := ParseDate(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "31 Feb 2020", "Mon, 02 Foo 2006", "2006", "99:99", "12:00 +9999 2 Jan 2006", "02 Jan 1900 10:00", strings.Repeat("1 ", 100)} {
		if got, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", bad, got)
		}
	}
}

func TestDocument(t *testing.T) {
	it := &Item{Title: `A "quoted" <title>`, Link: "https://n.example/a?x=1&y=2", Content: "<p>Body</p>", Language: "ru",
		Authors: []string{"Анна"}, Published: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	doc := string(it.Document())
	for _, want := range []string{`<html lang="ru">`, `<meta charset="utf-8">`, `<title>A &#34;quoted&#34; &lt;title&gt;</title>`,
		`<link rel="canonical" href="https://n.example/a?x=1&amp;y=2">`, `<meta name="author" content="Анна">`,
		`content="2026-01-02T03:04:05Z"`, "<p>Body</p>"} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
}
