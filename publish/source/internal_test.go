package source

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzRewriteHTML checks that rewriting a page that needs no change keeps
// every byte (the tokenizer's raw spans cover the input), and that
// re-declaring the charset leaves exactly one UTF-8 declaration and every
// other byte of a page without one.
func FuzzRewriteHTML(f *testing.F) {
	f.Add([]byte(`<!doctype html><html><head><title>x</title></head><body><img src="a.png" srcset="b.png 2x"><script>if (a<b) {}</script></body></html>`))
	f.Add([]byte("<p>text<!-- c --><textarea><meta charset=x></textarea><plaintext><img src=x>"))
	f.Add([]byte("<?xml version='1.0'?><svg><style>x</style></svg>\x00<"))
	f.Fuzz(func(t *testing.T, page []byte) {
		none := func(string) (string, bool) { return "", false }
		if !bytes.Contains(bytes.ToLower(page), []byte("source")) {
			if got := rewriteHTML(page, false, none); !bytes.Equal(got, page) {
				t.Fatalf("rewriting nothing changed the page:\n%q\n%q", page, got)
			}
		}
		out := rewriteHTML(page, true, nil)
		if n := bytes.Count(out, []byte(`<meta charset="utf-8">`)); n < 1 {
			t.Fatalf("%d UTF-8 declarations in %q", n, out)
		}
		if metaCharset(out) != "utf-8" && len(out) <= MaxCharsetPrescan/2 {
			t.Fatalf("the re-declared page declares %q: %q", metaCharset(out), out)
		}
	})
}

func TestSniffImage(t *testing.T) {
	for data, want := range map[string]string{
		"\x89PNG\r\n\x1a\nxxxx":                      "image/png",
		"\xff\xd8\xff\xdbxxxx":                       "image/jpeg",
		"GIF87axxxx":                                 "image/gif",
		"RIFF\x00\x00\x00\x00WEBPVP8 ":               "image/webp",
		"\x00\x00\x00\x20ftypavif":                   "image/avif",
		"\x00\x00\x00\x20ftypmp42":                   "",
		"\xef\xbb\xbf <!-- x --><!DOCTYPE svg><svg>": "image/svg+xml",
		"<svgx>":                     "",
		"<html><svg></svg></html>":   "",
		"<?xml version='1.0'?><rss>": "",
		"BM\x00\x00":                 "", // BMP: a bundle cannot hold it
		"":                           "",
	} {
		if got := sniffImage([]byte(data)); got != want {
			t.Errorf("sniffImage(%q) = %q, want %q", data, got, want)
		}
	}
}

func TestParseDateLayouts(t *testing.T) {
	want := time.Date(2019, 1, 3, 7, 0, 2, 0, time.UTC)
	for _, s := range []string{
		"2019-01-03T07:00:02Z",
		"2019-01-03T07:00:02.000Z",
		"2019-01-03T08:00:02+01:00",
		"2019-01-03T08:00:02+0100",
		"2019-01-03T07:00:02",
		"2019-01-03 07:00:02",
		"2019-01-03 07:00:02.000000",
		"2019-01-03 02:00:02 -0500",
		"2019-01-03 07:00:02Z",
		"Thu, 03 Jan 2019 07:00:02 GMT",
		"Thu, 03 Jan 2019 08:00:02 +0100",
		"Thu, 3 Jan 2019 07:00:02 UTC",
		"3 Jan 2019 07:00:02 +0000",
		"Thursday, 03-Jan-19 07:00:02 UTC",
		"Thu Jan  3 07:00:02 2019",
		"  2019-01-03T07:00:02Z  ",
	} {
		got, err := parseDate(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseDate(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	day := time.Date(2019, 1, 3, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2019-01-03", "2019/01/03", "January 3, 2019", "Jan 3, 2019", "3 Jan 2019"} {
		if got, err := parseDate(s); err != nil || !got.Equal(day) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", s, got, err, day)
		}
	}
	for _, s := range []string{"", "yesterday", "2019-02-30", "1969-12-31", "0001-01-01T00:00:00Z", "03.01.2019", strings.Repeat("2019", 100)} {
		if got, err := parseDate(s); err == nil {
			t.Errorf("parseDate(%q) = %v", s, got)
		}
	}
}

// FuzzParseDate checks that dates from pages never panic the parser and
// that what it accepts fits a manifest: UTC, not before 1970.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2019-01-03T07:00:02.000Z", "Thu, 03 Jan 2019 07:00:02 GMT", "2019-01-03 02:00:02 -0500", "January 3, 2019", "1970-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDate(s)
		if err == nil && (d.Location() != time.UTC || d.Unix() < 0) {
			t.Fatalf("parseDate(%q) = %v", s, d)
		}
	})
}
