package source_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/publish/source"
)

// signedBody builds and opens a bundle of a, as publish would, and returns
// the body a reader gets.
func signedBody(t *testing.T, a *source.Article) []byte {
	t.Helper()
	m := a.Meta
	m.Revision, m.Updated = 1, time.Now()
	if m.Created.IsZero() {
		m.Created = m.Updated
	}
	pub := testkeys.New(t, "pub")
	data, err := bundle.Build(m, a.Files, pub.Root.Public(), pub.Signer, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := bundle.Open(data, pub.Trust, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	body, err := b.Body()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// The example: YAML front matter that used to become the title.
func TestFrontMatterYAMLRussian(t *testing.T) {
	block := "---\ntitle: Переговоры в Женеве\nlang: ru\nauthor: Анна Петрова\ndate: 2026-12-04\n---\n"
	rest := "\nДелегации встретились в Женеве.\n"
	dir := writeFiles(t, map[string]string{"переговоры.md": block + rest})
	a := load(t, dir, "переговоры.md")
	want := bundle.Metadata{ID: "peregovory", Title: "Переговоры в Женеве", Language: "ru", Authors: []string{"Анна Петрова"}, Created: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
	if !reflect.DeepEqual(a.Meta, want) {
		t.Errorf("Meta:\n got %#v\nwant %#v", a.Meta, want)
	}
	if len(a.Warnings) != 0 {
		t.Errorf("warnings: %q", a.Warnings)
	}
	if got := string(a.Files[0].Data); got != rest {
		t.Errorf("body %q, want %q", got, rest)
	}
	body := signedBody(t, a)
	if !bytes.Equal(body, []byte(rest)) || bytes.Contains(body, []byte("title:")) || bytes.Contains(body, []byte("---")) {
		t.Errorf("signed body %q holds the front matter or lost text", body)
	}
}

func TestFrontMatterTOMLPersian(t *testing.T) {
	md := "+++\ntitle = \"گفت‌وگوهای ژنو به پایان رسید\"\nlang = \"fa\"\nauthors = [\"مریم احمدی\", \"Reza Karimi\"]\ndate = 2026-12-04T09:30:00+03:30\nurl = \"https://example.org/fa/news/geneva-talks\"\n+++\n\n# سرخط\n\nمتن خبر.\n"
	dir := writeFiles(t, map[string]string{"خبر.md": md})
	a := load(t, dir, "خبر.md")
	want := bundle.Metadata{
		ID: "geneva-talks", Title: "گفت‌وگوهای ژنو به پایان رسید", Language: "fa",
		Authors: []string{"مریم احمدی", "Reza Karimi"}, CanonicalURL: "https://example.org/fa/news/geneva-talks",
		Created: time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(a.Meta, want) {
		t.Errorf("Meta:\n got %#v\nwant %#v", a.Meta, want)
	}
	if body := signedBody(t, a); string(body) != "\n# سرخط\n\nمتن خبر.\n" {
		t.Errorf("signed body %q", body)
	}
	// Without a canonical URL, the Persian file name is hashed into an id.
	md = "+++\ntitle = \"خبر\"\nlanguage = \"FA\"\n+++\nمتن\n"
	dir = writeFiles(t, map[string]string{"خبر.md": md})
	a = load(t, dir, "خبر.md")
	if a.Meta.ID != source.HashID("خبر") || a.Meta.Language != "fa" {
		t.Errorf("Meta = %+v", a.Meta)
	}
}

func TestFrontMatterFields(t *testing.T) {
	for _, tt := range []struct {
		name     string
		md       string
		want     bundle.Metadata
		body     string   // the body after the front matter; "" means "text\n"
		warnings []string // substrings, one a warning
	}{
		{"title beats the first heading", "---\ntitle: From front matter\n---\n# Heading\n",
			bundle.Metadata{ID: "post", Title: "From front matter"}, "# Heading\n", nil},
		{"first heading without a title field", "---\nlang: en\n---\n# Heading\n",
			bundle.Metadata{ID: "post", Title: "Heading", Language: "en"}, "# Heading\n", nil},
		{"first line, not the block, without a heading", "---\nlang: en\n---\n\nfirst line\n",
			bundle.Metadata{ID: "post", Title: "first line", Language: "en"}, "\nfirst line\n", nil},
		{"language, authors and canonical", "---\nlanguage: zh_hant_tw\nauthors:\n  - A\n  - B\nauthor: C\ncanonical: https://x.example/n/talks\n---\ntext\n",
			bundle.Metadata{ID: "talks", Title: "text", Language: "zh-Hant-TW", Authors: []string{"C", "A", "B"}, CanonicalURL: "https://x.example/n/talks"}, "", nil},
		{"the same author twice is kept once", "---\nauthor: A\nauthors: [A, B]\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text", Authors: []string{"A", "B"}}, "", nil},
		{"lang and language that agree", "---\nlang: ru\nlanguage: RU\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text", Language: "ru"}, "", nil},
		{"id beats canonical URL", "---\nid: Budget Vote 2026\nurl: https://x.example/a\n---\ntext\n",
			bundle.Metadata{ID: "budget-vote-2026", Title: "text", CanonicalURL: "https://x.example/a"}, "", nil},
		{"slug transliterated", "---\nslug: выборы-2026\n---\ntext\n",
			bundle.Metadata{ID: "vybory-2026", Title: "text"}, "", nil},
		{"numeric id", "---\nid: 2026\n---\ntext\n",
			bundle.Metadata{ID: "2026", Title: "text"}, "", nil},
		{"dates", "---\ndate: 2024-03-01T13:00:00+03:00\nupdated: 2024-03-02\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text", Created: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}, "",
			[]string{`front matter field "updated" (2024-03-02T00:00:00Z) not carried: a manifest's updated time is the time of signing`}},
		{"quoted date", "---\ndate: \"2024-03-01\"\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text", Created: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}, "", nil},
		{"TOML local date", "+++\ndate = 2024-03-01\n+++\ntext\n",
			bundle.Metadata{ID: "post", Title: "text", Created: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}, "", nil},
		{"summary and unknown fields warn", "---\nsummary: Short.\ntags: [a, b]\nDraft: false\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text"}, "",
			[]string{`front matter field "summary" not carried: a manifest has no summary`, `front matter field "tags" not used`, `front matter field "Draft" not used`}},
		{"field names in any case", "---\nTitle: T\nLANG: en\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "T", Language: "en"}, "", nil},
		{"empty block", "---\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text"}, "", nil},
		{"empty fields", "---\ntitle:\nauthor: \"\"\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text"}, "", nil},
		{"CRLF lines", "---\r\ntitle: Windows\r\n---\r\ntext\r\n",
			bundle.Metadata{ID: "post", Title: "Windows"}, "text\r\n", nil},
		{"longer delimiters", "-----\ntitle: T\nstill: front matter\n-----\ntext\n",
			bundle.Metadata{ID: "post", Title: "T"}, "", []string{`"still" not used`}},
		{"blank lines and deep indentation inside", "---\n\ntitle: T\n\n\nauthors:\n    -   A\n    -   B\n\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "T", Authors: []string{"A", "B"}}, "", nil},
		{"TOML tables and blank lines", "+++\ntitle = \"T\"\n\n[extra]\n  x = 1\n+++\ntext\n",
			bundle.Metadata{ID: "post", Title: "T"}, "", []string{`"extra" not used`}},
		{"YAML comments only", "---\n# nothing here\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "text"}, "", nil},
		{"closing line at the end of the file", "---\ntitle: T\n---",
			bundle.Metadata{ID: "post", Title: "T"}, "-", nil},
		{"BOM before the block", "\uFEFF---\ntitle: T\n---\ntext\n",
			bundle.Metadata{ID: "post", Title: "T"}, "", nil},
		{"no block: a rule later on", "text\n\n---\n\ntitle: not front matter\n",
			bundle.Metadata{ID: "post", Title: "text"}, "text\n\n---\n\ntitle: not front matter\n", nil},
		{"no block: a blank line first", "\n---\ntitle: x\n---\n",
			bundle.Metadata{ID: "post", Title: "title: x"}, "\n---\ntitle: x\n---\n", []string{"front matter must start on the first line"}},
		{"no block: blank lines first", "\n \n---\ntitle: x\n---\n",
			bundle.Metadata{ID: "post", Title: "title: x"}, "\n \n---\ntitle: x\n---\n", []string{"front matter must start on the first line"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"post.md": tt.md})
			a := load(t, dir, "post.md")
			if !reflect.DeepEqual(a.Meta, tt.want) {
				t.Errorf("Meta:\n got %#v\nwant %#v", a.Meta, tt.want)
			}
			want := tt.body
			switch want {
			case "":
				want = "text\n"
			case "-":
				want = ""
			}
			if got := string(a.Files[0].Data); got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			if len(a.Warnings) != len(tt.warnings) {
				t.Errorf("warnings %q, want %q", a.Warnings, tt.warnings)
			}
			for _, w := range tt.warnings {
				if !slices.ContainsFunc(a.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning %q in %q", w, a.Warnings)
				}
			}
		})
	}
}

func TestFrontMatterImage(t *testing.T) {
	files := map[string]string{"img/lead.png": "PNG", "img/other.png": "OTHER"}
	for _, tt := range []struct {
		name, md, body string
		entries        []string
		warning        string
	}{
		{"lead image put at the top", "---\nimage: ./img/lead.png\n---\n# T\n",
			"![](img/lead.png)\n\n# T\n", []string{"img/lead.png"}, ""},
		{"already in the body", "---\nimage: img/lead.png\n---\n# T\n\n![x](img/lead.png)\n",
			"# T\n\n![x](img/lead.png)\n", []string{"img/lead.png"}, ""},
		{"beside other images", "---\nimage: img/lead.png\n---\n![o](img/other.png)\n",
			"![](img/lead.png)\n\n![o](img/other.png)\n", []string{"img/other.png", "img/lead.png"}, ""},
		{"remote image left out", "---\nimage: https://cdn.example.org/lead.png\n---\ntext\n",
			"text\n", nil, `front matter image "https://cdn.example.org/lead.png" left out: only images beside the article are included`},
		{"missing image left out", "---\nimage: img/missing.png\n---\ntext\n",
			"text\n", nil, `image "img/missing.png" left out: `},
		{"image outside the folder left out", "---\nimage: ../lead.png\n---\ntext\n",
			"text\n", nil, `image "../lead.png" left out: outside the article's folder`},
		{"not an image type", "---\nimage: post.md\n---\ntext\n",
			"text\n", nil, `image "post.md" left out: unknown image type`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := map[string]string{"post.md": tt.md}
			for k, v := range files {
				fs[k] = v
			}
			dir := writeFiles(t, fs)
			a := load(t, dir, "post.md")
			if got := string(a.Files[0].Data); got != tt.body {
				t.Errorf("body %q, want %q", got, tt.body)
			}
			var names []string
			for _, f := range a.Files[1:] {
				names = append(names, f.Name)
				if data, _ := os.ReadFile(filepath.Join(dir, f.Name)); string(data) != string(f.Data) {
					t.Errorf("%s: wrong data", f.Name)
				}
			}
			if !slices.Equal(names, tt.entries) {
				t.Errorf("entries %q, want %q", names, tt.entries)
			}
			if tt.warning == "" && len(a.Warnings) > 0 || tt.warning != "" && (len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], tt.warning)) {
				t.Errorf("warnings %q, want %q", a.Warnings, tt.warning)
			}
			signedBody(t, a)
		})
	}
}

func TestFrontMatterRefused(t *testing.T) {
	var manyAuthors string
	for i := range bundle.MaxAuthors {
		manyAuthors += fmt.Sprintf(", a%d", i)
	}
	big := "---\ntitle: x\nnotes: \"" + strings.Repeat("x", source.MaxFrontMatterSize) + "\"\n---\ntext\n"
	for _, tt := range []struct{ name, md, want string }{
		{"YAML that does not parse", "---\ntitle: [unclosed\n---\n", `front matter (YAML) did not parse: yaml: line `},
		{"TOML that does not parse", "+++\ntitle = \n+++\n", `front matter (TOML) did not parse: toml: line 1`},
		{"not a set of fields", "---\n- a\n- b\n---\n", `front matter (YAML) is not a set of fields`},
		{"a plain string", "---\njust text\n---\n", `front matter (YAML) is not a set of fields`},
		{"title a list", "---\ntitle: [a, b]\n---\n", `front matter field "title": want text, not a list`},
		{"title a table", "+++\n[title]\nx = 1\n+++\n", `front matter field "title": want text, not a table of fields`},
		{"title true", "---\ntitle: true\n---\n", `front matter field "title": want text, not true or false`},
		{"title too long", "---\ntitle: " + strings.Repeat("t", bundle.MaxTitleLen+1) + "\n---\n", `front matter field "title": longer than 1024 bytes`},
		{"language not a tag", "---\nlang: Russian language\n---\n", `front matter field "lang": "Russian language" is not a language tag such as en, ru or fa`},
		{"language too long", "---\nlanguage: " + strings.Repeat("a", bundle.MaxLanguageLen+1) + "\n---\n", `front matter field "language": longer than 35 bytes`},
		{"lang and language disagree", "---\nlang: ru\nlanguage: uk\n---\n", `front matter fields "lang" and "language" disagree`},
		{"date not understood", "---\ndate: yesterday\n---\n", `front matter field "date": "yesterday" is not a date (want YYYY-MM-DD or RFC 3339)`},
		{"date a number", "---\ndate: 2024\n---\n", `front matter field "date": want a date, not a number`},
		{"TOML time of day", "+++\ndate = 07:32:00\n+++\n", `front matter field "date": want a date, not a time of day`},
		{"updated not understood", "---\nupdated: soon\n---\n", `front matter field "updated": "soon" is not a date`},
		{"author a table", "---\nauthor:\n  name: A\n---\n", `front matter field "author": want text, not a table of fields`},
		{"author in a list not text", "---\nauthors: [A, [B]]\n---\n", `front matter field "authors": name 2: want text, not a list`},
		{"too many authors", "---\nauthors: [a" + manyAuthors + "]\n---\n", `front matter field "authors": more than 32 authors`},
		{"author too long", "---\nauthor: " + strings.Repeat("a", bundle.MaxAuthorLen+1) + "\n---\n", `front matter field "author": longer than 256 bytes`},
		{"url relative", "---\nurl: /news/a\n---\n", `front matter field "url": "/news/a" is not an absolute http or https URL`},
		{"url javascript", "---\ncanonical: javascript:alert(1)\n---\n", `front matter field "canonical": "javascript:alert(1)" is not an absolute http or https URL`},
		{"url and canonical disagree", "---\nurl: https://a.example/x\ncanonical: https://b.example/x\n---\n", `front matter fields "canonical" and "url" disagree`},
		{"id a list", "---\nid: [a]\n---\n", `front matter field "id": want text, not a list`},
		{"summary a list", "---\nsummary: [a]\n---\n", `front matter field "summary": want text, not a list`},
		{"image a list", "---\nimage: [a.png]\n---\n", `front matter field "image": want text, not a list`},
		{"two title fields", "---\ntitle: a\nTitle: b\n---\n", `front matter fields "Title" and "title" disagree`},
		{"not closed", "---\ntitle: x\n\ntext\n", `front matter opened by --- is not closed`},
		{"closed by another delimiter", "---\ntitle: x\n+++\ntext\n", `front matter opened by --- is not closed`},
		{"closed by a shorter line", "-----\ntitle: x\n---\ntext\n", `front matter opened by ----- is not closed`},
		{"only a delimiter", "+++", `front matter opened by +++ is not closed`},
		{"two YAML documents", "-----\ntitle: T\n---\nstill: x\n-----\n", `front matter (YAML) holds more than one document`},
		{"too large", big, `front matter is larger than 65536 bytes`},
		{"a list as a key", "---\n? [a, b]\n: c\n---\n", `front matter (YAML) did not parse: `},
		{"alias bomb", "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n---\n", `front matter (YAML) did not parse: yaml: document contains excessive aliasing`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"post.md": tt.md})
			file := filepath.Join(dir, "post.md")
			_, err := source.Load(file, nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if want := "source: " + file + ": " + tt.want; !strings.HasPrefix(msg, want) {
				t.Errorf("error\n %s\nwant it to start\n %s", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error of more than one line: %q", msg)
			}
		})
	}
}

func TestLanguageTag(t *testing.T) {
	for in, want := range map[string]string{
		"fa": "fa", "FA": "fa", "en-us": "en-US", "zh_hant_tw": "zh-Hant-TW", "sr-Latn-RS": "sr-Latn-RS",
		"es-419": "es-419", "x-klingon": "x-klingon", "de-CH-1996": "de-CH-1996", "en-x-us": "en-x-us", " ru ": "ru",
		"i-enochian": "i-enochian", "yue": "yue",
	} {
		if got, err := source.LanguageTag(in); err != nil || got != want {
			t.Errorf("LanguageTag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "e", "english language", "en--us", "en-", "-en", "ру", "en-toolongsubtag", "1a", "en.us", "english", "Persian", "arab-eg", strings.Repeat("a", 36)} {
		if got, err := source.LanguageTag(in); err == nil {
			t.Errorf("LanguageTag(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzFrontMatter feeds Markdown files that open with front matter to
// Load: it must not panic; what it accepts is the file without the block
// (with a lead image line perhaps), and what it refuses it refuses in one
// line naming the file.
func FuzzFrontMatter(f *testing.F) {
	f.Add("---\ntitle: Переговоры в Женеве\nlang: ru\nauthor: A\n---\n", "text\n", false)
	f.Add("+++\ntitle = \"t\"\nlang = \"fa\"\nauthors = [\"a\", \"b\"]\ndate = 2024-01-02\n+++\n", "# h\n", true)
	f.Add("---\nimage: a.png\nsummary: s\nx: [1, {y: 2}]\n---\n", "", false)
	f.Add("---\ntitle: &a [*a]\n---\n", "", false)
	f.Add("---\n", "", false)
	f.Fuzz(func(t *testing.T, block, rest string, crlf bool) {
		md := block + rest
		if crlf {
			md = strings.ReplaceAll(md, "\n", "\r\n")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "post.md")
		if err := os.WriteFile(file, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.png"), []byte("PNG"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := source.Load(file, nil)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "source: "+file+": front matter") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q", msg)
			}
			return
		}
		body := string(a.Files[0].Data)
		body = strings.TrimPrefix(body, "![](a.png)\n\n")
		if !strings.HasSuffix(md, body) {
			t.Fatalf("body %q is not the end of the file %q", body, md)
		}
		if start := strings.TrimPrefix(md, "\uFEFF"); len(body) < len(md) && !strings.HasPrefix(start, "---") && !strings.HasPrefix(start, "+++") {
			t.Fatalf("a block taken out of a file that does not start with one: %q", md)
		}
		m := a.Meta
		if len(m.Title) > bundle.MaxTitleLen || len(m.Language) > bundle.MaxLanguageLen || len(m.CanonicalURL) > bundle.MaxURLLen || len(m.Authors) > bundle.MaxAuthors {
			t.Fatalf("metadata over the manifest's limits: %+v", m)
		}
		if m.ID != "" {
			if err := bundle.CheckID(m.ID); err != nil {
				t.Fatal(err)
			}
		}
	})
}
