package source_test

import (
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

// writeFiles makes files (name -> content) in a new directory and returns
// the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func load(t *testing.T, dir, name string) *source.Article {
	t.Helper()
	a, err := source.Load(filepath.Join(dir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// loadRaw loads an HTML page as it is (--raw).
func loadRaw(t *testing.T, dir, name string) *source.Article {
	t.Helper()
	a, err := source.Load(filepath.Join(dir, name), &source.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHTMLMetadata(t *testing.T) {
	tests := []struct {
		name string
		html string
		want bundle.Metadata // ID is derived from the canonical URL or the file name
	}{
		{"everything", `<!DOCTYPE html>
<html lang="ru"><head>
<meta charset="utf-8">
<title>  Not this one, Open Graph's comes first </title>
<meta property="og:title" content="  Зеркала
   работают ">
<link rel="canonical" href="https://example.org/news/story">
<meta name="author" content="Anna Petrova">
<meta property="article:author" content="Ivan Ivanov">
<meta property="article:author" content="https://example.org/ivan">
<meta property="article:published_time" content="2024-03-01T13:00:00+03:00">
</head><body><p>text</p></body></html>`,
			bundle.Metadata{Title: "Зеркала работают", Language: "ru", CanonicalURL: "https://example.org/news/story",
				Authors: []string{"Anna Petrova", "Ivan Ivanov"}, Created: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}},
		{"og:title and og:url when there is no title or canonical link", `<html><head>
<meta property="og:title" content="From Open Graph">
<meta property="og:url" content="http://example.org/og">
<meta name="date" content="2020-01-02">
</head></html>`,
			bundle.Metadata{Title: "From Open Graph", CanonicalURL: "http://example.org/og", Created: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{"canonical link beats og:url", `<html><head>
<meta property="og:url" content="https://example.org/og">
<link rel="Canonical" href="https://example.org/canonical">
</head></html>`,
			bundle.Metadata{CanonicalURL: "https://example.org/canonical"}},
		{"canonical URL must be http or https", `<link rel="canonical" href="javascript:alert(1)">`,
			bundle.Metadata{}},
		{"relative canonical URL dropped", `<link rel="canonical" href="/news/1">`,
			bundle.Metadata{}},
		{"first date wins, bad dates skipped", `<meta name="date" content="yesterday">
<meta name="dc.date" content="2019-05-06T07:08:09">
<meta name="pubdate" content="2021-01-01">`,
			bundle.Metadata{Created: time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)}},
		{"control characters and long text cleaned", "<title>A\x01\tB\u0085C</title>",
			bundle.Metadata{Title: "A B C"}},
		{"empty author skipped", `<meta name="author" content="   "><meta name="author" content="Real Name">`,
			bundle.Metadata{Authors: []string{"Real Name"}}},
		{"SVG title is not the document's", `<html><head></head><body><svg><title>icon</title></svg><p>x</p></body></html>`,
			bundle.Metadata{}},
		{"SVG title before the document's", `<html><body><svg><title>icon</title></svg><title>Real</title></body></html>`,
			bundle.Metadata{Title: "Real"}},
		{"meta with both property and name", `<meta property="og:title" name="twitter:title" content="Both">`,
			bundle.Metadata{Title: "Both"}},
		{"entities decoded", `<title>Tom &amp; Jerry&nbsp;&mdash; &#x41;</title>`,
			bundle.Metadata{Title: "Tom & Jerry — A"}},
		{"language cut to its limit", `<html lang="` + strings.Repeat("x", 40) + `">`,
			bundle.Metadata{Language: strings.Repeat("x", bundle.MaxLanguageLen)}},
		{"nothing", `<p>no metadata at all</p>`, bundle.Metadata{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"article.html": tt.html})
			a := loadRaw(t, dir, "article.html")
			tt.want.ID = source.DeriveID(source.IDSources{CanonicalURL: tt.want.CanonicalURL, FileName: "article.html"})
			if !reflect.DeepEqual(a.Meta, tt.want) {
				t.Errorf("Meta:\n got %#v\nwant %#v", a.Meta, tt.want)
			}
			// Kept as it is, but for a UTF-8 declaration where there was none.
			body := string(a.Files[0].Data)
			if body != tt.html {
				body = strings.Replace(body, `<meta charset="utf-8">`, "", 1)
			}
			if len(a.Files) != 1 || a.Files[0].Type != "text/html" || body != tt.html {
				t.Errorf("body not kept as it is: %+v", a.Files)
			}
		})
	}
}

func TestHTMLLongTitle(t *testing.T) {
	long := strings.Repeat("ж", bundle.MaxTitleLen) // 2 bytes each
	dir := writeFiles(t, map[string]string{"a.html": "<title>" + long + "</title>"})
	a := loadRaw(t, dir, "a.html")
	if len(a.Meta.Title) != bundle.MaxTitleLen || !strings.HasPrefix(long, a.Meta.Title) {
		t.Errorf("title of %d bytes, want the first %d bytes of whole characters", len(a.Meta.Title), bundle.MaxTitleLen)
	}
}

func TestHTMLImages(t *testing.T) {
	html := `<html><body>
<img src="img/a.png">
<img src="./img/a.png" alt="again">
<img src="img/b.jpg?v=2#top" srcset="img/b-2x.webp 2x, img/b-3x.avif 3x">
<picture><source srcset="pic/c.svg"><img src="pic/d.gif"></picture>
<video poster="poster.jpeg"></video>
<img src="https://cdn.example.org/remote.png">
<img src="//cdn.example.org/remote2.png">
<img src="data:image/png;base64,iVBORw0KGgo=">
<img src="/absolute.png">
<img src="../outside.png">
<img src="img/../../outside2.png">
<img src="img/missing.png">
<img src="notes.txt">
<img src="bad name.png">
<img src="#fragment">
<img src="">
<img src="/absolute.png">
</body></html>`
	dir := writeFiles(t, map[string]string{
		"story/article.html":   html,
		"story/img/a.png":      "A",
		"story/img/b.jpg":      "B",
		"story/img/b-2x.webp":  "B2",
		"story/img/b-3x.avif":  "B3",
		"story/pic/c.svg":      "<svg/>",
		"story/pic/d.gif":      "GIF",
		"story/poster.jpeg":    "P",
		"story/notes.txt":      "not an image",
		"story/bad name.png":   "X",
		"outside.png":          "O",
		"story/absolute.png":   "no",
		"story/img/unused.png": "U",
	})
	a := loadRaw(t, filepath.Join(dir, "story"), "article.html")
	want := map[string]string{
		"img/a.png": "image/png", "img/b.jpg": "image/jpeg", "img/b-2x.webp": "image/webp", "img/b-3x.avif": "image/avif",
		"pic/c.svg": "image/svg+xml", "pic/d.gif": "image/gif", "poster.jpeg": "image/jpeg",
	}
	got := map[string]string{}
	for _, f := range a.Files[1:] {
		if _, dup := got[f.Name]; dup {
			t.Errorf("%s included twice", f.Name)
		}
		got[f.Name] = f.Type
		data, err := os.ReadFile(filepath.Join(dir, "story", filepath.FromSlash(f.Name)))
		if err != nil || string(data) != string(f.Data) {
			t.Errorf("%s: data %q, file %q (%v)", f.Name, f.Data, data, err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("images:\n got %v\nwant %v", got, want)
	}
	wantWarnings := []string{"/absolute.png", "../outside.png", "img/../../outside2.png", "img/missing.png", "notes.txt", "bad name.png"}
	if len(a.Warnings) != len(wantWarnings) {
		t.Errorf("%d warnings, want %d:\n%s", len(a.Warnings), len(wantWarnings), strings.Join(a.Warnings, "\n"))
	}
	for _, ref := range wantWarnings {
		if !slices.ContainsFunc(a.Warnings, func(w string) bool { return strings.HasPrefix(w, `image "`+ref+`" left out: `) }) {
			t.Errorf("no warning for %q", ref)
		}
	}
	for _, w := range a.Warnings {
		if strings.Contains(w, "example.org") || strings.Contains(w, "data:") {
			t.Errorf("warning about a reference that is not a file: %s", w)
		}
	}
	// What Load returns builds into a bundle.
	a.Meta.Revision, a.Meta.Updated = 1, time.Now()
	a.Meta.Created = a.Meta.Updated
	pub := testkeys.New(t, "pub")
	if _, err := bundle.Build(a.Meta, a.Files, pub.Root.Public(), pub.Signer, nil); err != nil {
		t.Errorf("Build: %v", err)
	}
}

func TestSrcset(t *testing.T) {
	for _, tt := range []struct {
		srcset string
		want   []string
	}{
		{"a.png", []string{"a.png"}},
		{"a.png 1x, b.png 2x", []string{"a.png", "b.png"}},
		{"  a.png   100w ,b.png 200w,, c.png", []string{"a.png", "b.png", "c.png"}},
		{"a.png,b.png", []string{"a.png,b.png"}},
		{"a.png, b.png,", []string{"a.png", "b.png"}},
		{"a.png,, b.png", []string{"a.png", "b.png"}},
		{"img/x_extract=0,0,10,10.jpg 1x, img/y_resize=2,3.jpg 2x", []string{"img/x_extract=0,0,10,10.jpg", "img/y_resize=2,3.jpg"}},
		{"a.png (max-width: 1px, 2px) 1x, b.png", []string{"a.png", "b.png"}},
		{"data:image/png;base64,AAAA 1x, b.png 2x", []string{"data:image/png;base64,AAAA", "b.png"}},
		{"\ta.png\n1x,\nb.png", []string{"a.png", "b.png"}},
		{"", nil},
		{" , ,", nil},
	} {
		html := `<img srcset="` + tt.srcset + `">`
		dir := writeFiles(t, map[string]string{"a.html": html})
		files := map[string]string{}
		for _, n := range tt.want {
			if !strings.HasPrefix(n, "data:") {
				files[n] = "x"
			}
		}
		for n, c := range files {
			p := filepath.Join(dir, n)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(c), 0o644)
		}
		a := loadRaw(t, dir, "a.html")
		var got []string
		for _, f := range a.Files[1:] {
			got = append(got, f.Name)
		}
		for _, w := range a.Warnings {
			// An image with an unusable name is left out with a warning.
			got = append(got, strings.SplitN(w, `"`, 3)[1])
		}
		var want []string
		for _, n := range tt.want {
			if !strings.HasPrefix(n, "data:") {
				want = append(want, n)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("srcset %q: got %q, want %q (warnings %q)", tt.srcset, got, want, a.Warnings)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := "Some intro line\n\n## The *real* title `here`\n\n# Later heading\n\n![a](img/a.png) ![b](<img/b c.png>) ![r](https://example.org/r.png) ![o](../o.png)\n"
	dir := writeFiles(t, map[string]string{"post/My Post.md": md, "post/img/a.png": "A", "post/img/b c.png": "B"})
	a := load(t, filepath.Join(dir, "post"), "My Post.md")
	if a.Meta.ID != "my-post" || a.Meta.Title != "The real title here" {
		t.Errorf("Meta = %+v", a.Meta)
	}
	if a.Files[0].Type != "text/markdown" || string(a.Files[0].Data) != md {
		t.Errorf("body = %+v", a.Files[0])
	}
	if len(a.Files) != 2 || a.Files[1].Name != "img/a.png" || a.Files[1].Type != "image/png" {
		t.Errorf("images: %+v", a.Files[1:])
	}
	// "img/b c.png" has a space: a bundle cannot name it.
	if len(a.Warnings) != 2 || !strings.Contains(a.Warnings[0], "img/b c.png") || !strings.Contains(a.Warnings[1], "../o.png") {
		t.Errorf("warnings: %q", a.Warnings)
	}
	// Setext heading; no heading at all.
	for body, want := range map[string]string{
		"Title\n=====\n\ntext\n":       "Title",
		"\n\n  first line  \nsecond\n": "first line",
		"":                             "",
	} {
		dir := writeFiles(t, map[string]string{"x.markdown": body})
		if got := load(t, dir, "x.markdown").Meta.Title; got != want {
			t.Errorf("Markdown %q: title %q, want %q", body, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for body, want := range map[string]string{
		"Headline\nbody\n":                  "Headline",
		"\n \t\n  Headline  after blanks\n": "Headline after blanks",
		"\r\nWindows line\r\nnext":          "Windows line",
		"":                                  "",
		"\n\n\n":                            "",
		"bad \xff byte":                     "bad \uFFFD byte",
	} {
		dir := writeFiles(t, map[string]string{"note.TXT": body})
		a := load(t, dir, "note.TXT")
		if a.Meta.Title != want || a.Meta.ID != "note" || a.Files[0].Type != "text/plain" || string(a.Files[0].Data) != body {
			t.Errorf("text %q: %+v", body, a.Meta)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.doc": "x", "big.txt": strings.Repeat("x", 101), "sub/x.png": "x"})
	for _, name := range []string{"a.doc", "missing.html", "sub"} {
		if _, err := source.Load(filepath.Join(dir, name), nil); err == nil {
			t.Errorf("Load(%s) succeeded", name)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := source.Load(filepath.Join(dir, "d.html"), nil); err == nil {
		t.Error("Load of a directory succeeded")
	}
	if _, err := source.Load(filepath.Join(dir, "big.txt"), &source.Options{Limits: &bundle.Limits{EntrySize: 100}}); err == nil {
		t.Error("Load of a file over the limit succeeded")
	}
	if _, err := source.Load(filepath.Join(dir, "big.txt"), &source.Options{Limits: &bundle.Limits{EntrySize: 101}}); err != nil {
		t.Errorf("Load of a file at the limit: %v", err)
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2024-02-29":                time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"2024-02-29T10:11:12Z":      time.Date(2024, 2, 29, 10, 11, 12, 0, time.UTC),
		"2024-02-29T10:11:12+02:00": time.Date(2024, 2, 29, 8, 11, 12, 0, time.UTC),
		" 2024-02-29T10:11:12 ":     time.Date(2024, 2, 29, 10, 11, 12, 0, time.UTC),
	} {
		got, err := source.ParseDate(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2024-02-30", "29.02.2024", "2024-02-29 10:11"} {
		if _, err := source.ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) succeeded", in)
		}
	}
}

func TestImageSymlinkOutsideRefused(t *testing.T) {
	outside := writeFiles(t, map[string]string{"secret.svg": "<svg>private</svg>"})
	dir := writeFiles(t, map[string]string{
		"a.html":   `<p><img src="leak.svg"><img src="ok.svg"></p>`,
		"ok.svg":   "<svg>fine</svg>",
		"keep.svg": "<svg>linked inside</svg>",
	})
	if err := os.Symlink(filepath.Join(outside, "secret.svg"), filepath.Join(dir, "leak.svg")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	a := loadRaw(t, dir, "a.html")
	if len(a.Files) != 2 || a.Files[1].Name != "ok.svg" {
		t.Fatalf("files = %d (want the body and ok.svg only)", len(a.Files))
	}
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "leak.svg") || !strings.Contains(a.Warnings[0], "outside") {
		t.Errorf("warnings = %q, want one about leak.svg leading outside", a.Warnings)
	}
}
