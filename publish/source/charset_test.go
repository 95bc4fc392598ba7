package source_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/publish/source"
)

// charsetPage is a page's text in one language, to be encoded.
type charsetPage struct {
	lang, title, para string
}

var (
	russian = charsetPage{"ru", "Зеркала работают и в Ярославле",
		"Независимые зеркала продолжают работать: читатели получают подписанные статьи, даже когда сайт редакции заблокирован. Ёлки, щи, съезд, объявление, «кавычки» и — тире."}
	// KOI8-R has no guillemets or dashes.
	russianKOI = charsetPage{"ru", "Зеркала работают и в Ярославле",
		"Независимые зеркала продолжают работать: читатели получают подписанные статьи, даже когда сайт редакции заблокирован. Ёлки, щи, съезд, объявление, \"кавычки\" и - дефис."}
	french = charsetPage{"fr", "Café crème à Besançon",
		"Les miroirs indépendants continuent de fonctionner : les lecteurs reçoivent des articles signés, même quand le site est bloqué. Ça coûte très peu, naïveté à part ; Straße, Æsir, ½ £ ©."}
)

// page returns the HTML of p with the given head declarations.
func (p charsetPage) page(decl string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"" + p.lang + "\">\n<head>\n" + decl + "\n<title>" + p.title + "</title>\n</head>\n<body>\n<nav><a href=\"/\">home</a></nav>\n<article>\n<h1>" + p.title + "</h1>\n")
	for range 4 {
		b.WriteString("<p>" + p.para + "</p>\n")
	}
	b.WriteString("</article>\n</body>\n</html>\n")
	return b.String()
}

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	out, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return out
}

// checkUTF8Body checks that a signed body is UTF-8, declares UTF-8 and
// nothing else, and holds the title and the paragraph exactly.
func checkUTF8Body(t *testing.T, a *source.Article, p charsetPage) {
	t.Helper()
	body := a.Files[0].Data
	if !utf8.Valid(body) {
		t.Fatalf("the body is not UTF-8")
	}
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		t.Errorf("the body keeps a byte order mark")
	}
	if a.Meta.Title != p.title {
		t.Errorf("title %q, want %q", a.Meta.Title, p.title)
	}
	if bytes.Contains(body, []byte("\uFFFD")) {
		t.Errorf("replacement characters in the body")
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(textOf(doc), p.para) {
		t.Errorf("the text does not round-trip:\n%s", body)
	}
	utf8Decls := 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "meta" {
			for _, at := range n.Attr {
				switch {
				case at.Key == "charset" && strings.EqualFold(at.Val, "utf-8"):
					utf8Decls++
				case at.Key == "charset", at.Key == "http-equiv" && strings.EqualFold(at.Val, "content-type"):
					t.Errorf("the body keeps a declaration %s=%q", at.Key, at.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if utf8Decls != 1 {
		t.Errorf("%d <meta charset=\"utf-8\">, want 1", utf8Decls)
	}
	if bytes.Contains(bytes.ToLower(body), []byte("<?xml")) {
		t.Errorf("the body keeps an XML declaration")
	}
}

// TestCharsets makes pages in Windows-1251, KOI8-R, ISO-8859-1 and
// UTF-16 with x/text's encoders, declared in several ways, and checks
// that what is signed, extracted or raw, is UTF-8 that says so and holds
// the text exactly.
func TestCharsets(t *testing.T) {
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	utf16be := unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	utf8bom := unicode.UTF8BOM
	tests := []struct {
		name        string
		p           charsetPage
		enc         encoding.Encoding
		decl        string // in the page
		contentType string // FromHTML only
		xml         string // an XML declaration before the doctype
	}{
		{"windows-1251 meta charset", russian, charmap.Windows1251, `<meta charset="windows-1251">`, "", ""},
		{"windows-1251 http-equiv", russian, charmap.Windows1251, `<meta http-equiv="Content-Type" content="text/html; charset=cp1251">`, "", ""},
		{"windows-1251 Content-Type only", russian, charmap.Windows1251, "", "text/html; charset=windows-1251", ""},
		{"koi8-r meta charset", russianKOI, charmap.KOI8R, `<META CHARSET=koi8-r>`, "", ""},
		{"koi8-r Content-Type beats meta", russianKOI, charmap.KOI8R, `<meta charset="windows-1251">`, "text/html; charset=KOI8-R", ""},
		{"koi8-r XML declaration", russianKOI, charmap.KOI8R, "", "", `<?xml version="1.0" encoding="koi8-r"?>`},
		{"iso-8859-1 meta charset", french, charmap.ISO8859_1, `<meta charset="iso-8859-1">`, "", ""},
		{"iso-8859-1 http-equiv", french, charmap.ISO8859_1, `<meta http-equiv="content-type" content="text/html;charset=ISO-8859-1">`, "", ""},
		{"iso-8859-1 Content-Type only", french, charmap.ISO8859_1, "", "text/html; charset=latin1", ""},
		{"utf-8 with BOM", russian, utf8bom, "", "", ""},
		{"utf-8 with BOM beats a meta", french, utf8bom, `<meta charset="iso-8859-1">`, "", ""},
		{"utf-16le with BOM", russian, utf16le, "", "", ""},
		{"utf-16be with BOM and a meta", french, utf16be, `<meta charset="utf-16">`, "", ""},
		{"utf-8 declared windows-1251 (a lie)", russian, encoding.Nop, `<meta charset="windows-1251">`, "", ""},
		{"utf-8 Content-Type declared koi8-r (a lie)", russian, encoding.Nop, "", "text/html; charset=koi8-r", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := encode(t, tt.enc, tt.xml+tt.p.page(tt.decl))
			for _, raw := range []bool{false, true} {
				opts := &source.Options{Raw: raw}
				a, err := source.FromHTML(data, tt.contentType, "https://example.org/news/", opts)
				if err != nil {
					t.Fatal(err)
				}
				checkUTF8Body(t, a, tt.p)
				if a.Meta.Language != tt.p.lang {
					t.Errorf("language %q", a.Meta.Language)
				}
				if !raw && bytes.Contains(a.Files[0].Data, []byte("<nav")) {
					t.Errorf("extracted body keeps the navigation")
				}
				if tt.contentType != "" {
					continue
				}
				// Load reads the same file; it has no Content-Type.
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "a.html"), data, 0o644); err != nil {
					t.Fatal(err)
				}
				a, err = source.Load(filepath.Join(dir, "a.html"), opts)
				if err != nil {
					t.Fatal(err)
				}
				checkUTF8Body(t, a, tt.p)
			}
		})
	}
}

// TestCharsetRawKeepsUTF8 checks that --raw keeps a UTF-8 page byte for
// byte when it declares UTF-8, and that the page is made to declare it,
// with every other byte kept, when it declares something else or nothing.
func TestCharsetRawKeepsUTF8(t *testing.T) {
	for _, decl := range []string{`<meta charset="utf-8">`, `<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">`} {
		page := []byte(russian.page(decl))
		a, err := source.FromHTML(page, "", "", &source.Options{Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Files[0].Data, page) {
			t.Errorf("declaration %q: the raw page was changed", decl)
		}
	}
	for _, decl := range []string{`<meta charset="windows-1251">`, ""} {
		page := russian.page(decl)
		a, err := source.FromHTML([]byte(page), "text/html; charset=utf-8", "", &source.Options{Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(page, decl, "", 1)
		want = strings.Replace(want, "<head>", `<head><meta charset="utf-8">`, 1)
		if string(a.Files[0].Data) != want {
			t.Errorf("re-declared raw page:\n%s\nwant\n%s", a.Files[0].Data, want)
		}
	}
}

// TestCharsetQQ loads the corpus page that declares gb2312 but is UTF-8:
// it is read as UTF-8, with a warning.
func TestCharsetQQ(t *testing.T) {
	page := corpus.Path(t, "articles", "qq", "source.html")
	for _, raw := range []bool{false, true} {
		a, err := source.Load(page, &source.Options{Raw: raw})
		if err != nil {
			t.Fatal(err)
		}
		if want := "DeepMind新电脑已可利用记忆自学 人工智能迈上新台阶_科技_腾讯网"; a.Meta.Title != want {
			t.Errorf("raw %v: title %q, want %q", raw, a.Meta.Title, want)
		}
		body := a.Files[0].Data
		if !utf8.Valid(body) || !bytes.Contains(body, []byte("人工智能")) || bytes.Contains(body, []byte("\uFFFD")) {
			t.Errorf("raw %v: the body is not the page's text in UTF-8", raw)
		}
		if bytes.Contains(bytes.ToLower(body), []byte("gb2312")) || !bytes.Contains(body, []byte(`<meta charset="utf-8">`)) {
			t.Errorf("raw %v: the body still declares gb2312 or does not declare UTF-8", raw)
		}
		if len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], "declares charset gb2312, but it is UTF-8") {
			t.Errorf("raw %v: warnings %q", raw, a.Warnings)
		}
	}
}

// TestCharsetWarnings checks the warnings of doubtful decodings: an
// undeclared legacy page (guessed), and a page whose decoding leaves many
// replacement characters.
func TestCharsetWarnings(t *testing.T) {
	// Undeclared Windows-1251: guessed, and said so.
	a, err := source.FromHTML(encode(t, charmap.Windows1251, russian.page("")), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], "no charset declared; read as windows-1251 (a guess)") {
		t.Errorf("warnings %q", a.Warnings)
	}
	checkUTF8Body(t, a, russian)

	// A UTF-8 byte order mark on Latin-1 bytes: most accented letters
	// become U+FFFD, which is reported.
	data := append([]byte("\xef\xbb\xbf"), encode(t, charmap.ISO8859_1, french.page(""))...)
	a, err = source.FromHTML(data, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(a.Files[0].Data) {
		t.Error("the body is not UTF-8")
	}
	if !containsWarning(a.Warnings, "could not be decoded from utf-8") {
		t.Errorf("no warning about replacement characters: %q", a.Warnings)
	}
	// A clean page gives no warning.
	a, err = source.FromHTML([]byte(french.page(`<meta charset="utf-8">`)), "", "", nil)
	if err != nil || len(a.Warnings) != 0 {
		t.Errorf("clean page: %v, warnings %q", err, a.Warnings)
	}
}

// textOf returns the text of the nodes under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func containsWarning(ws []string, s string) bool {
	for _, w := range ws {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}
