package feed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/corpus"
)

// FuzzParse: no input panics, and every item Parse returns keeps the
// promises of Item's doc: valid text within the manifest's limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		rss2, `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="xhtml"><div><b>x</b></div></content></entry></feed>`,
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><item rdf:about="a"/></rdf:RDF>`,
		"\x1f\x8b", "<html>", "{}", `<?xml version="1.0" encoding="windows-1251"?><rss><channel><item><title>\xcf</title></item></channel></rss>`,
	} {
		f.Add([]byte(s))
	}
	if dir, err := corpus.Locate(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "feeds", "*", "*"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil && len(data) < 64<<10 {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "feed: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line prefixed feed:", err)
			}
			return
		}
		for _, it := range feed.Items {
			for _, s := range []struct {
				v   string
				max int
			}{{it.Title, bundle.MaxTitleLen}, {it.GUID, bundle.MaxURLLen}, {it.Link, bundle.MaxURLLen}, {it.Language, bundle.MaxLanguageLen}} {
				if len(s.v) > s.max || !utf8.ValidString(s.v) || strings.ContainsAny(s.v, "\x00\n\r\t") {
					t.Fatalf("field %q breaks its limits", s.v)
				}
			}
			if len(it.Authors) > bundle.MaxAuthors {
				t.Fatalf("%d authors", len(it.Authors))
			}
			for _, a := range it.Authors {
				if a == "" || len(a) > bundle.MaxAuthorLen || !utf8.ValidString(a) {
					t.Fatalf("author %q", a)
				}
			}
			it.Document()
		}
	})
}

// FuzzParseDate: no date panics, and what parses is a UTC time between
// 1970 and 9999.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Mon, 02 Jan 2006 15:04:05 GMT", "2006-01-02T15:04:05Z", "Seg, 24 Set 2018 19:42:40 -0300", "2 Jan 06 1:2 +01:00", "12:00:00+0100 2 jan 2020"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err == nil && (d.Location() != time.UTC || d.Year() < 1969 || d.Year() > 10000) {
			t.Fatalf("ParseDate(%q) = %v", s, d)
		}
	})
}
