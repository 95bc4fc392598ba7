package render

import (
	"net/url"
	"strings"
	"testing"
)

func TestDropTitle(t *testing.T) {
	for _, tc := range []struct{ body, title, want string }{
		{"<h1>Talks &amp; more</h1>\n<p>Body.</p>", "Talks & more", "<p>Body.</p>"},
		{"\n<h2>T</h2><p>B</p>", "T", "<p>B</p>"},
		{"<h1>Another</h1><p>B</p>", "T", "<h1>Another</h1><p>B</p>"},
		{"<p>B</p><h1>T</h1>", "T", "<p>B</p><h1>T</h1>"},
		{"<h1></h1><p>B</p>", "", "<h1></h1><p>B</p>"},
	} {
		if got := string(dropTitle([]byte(tc.body), tc.title)); got != tc.want {
			t.Errorf("dropTitle(%q, %q) = %q, want %q", tc.body, tc.title, got, tc.want)
		}
	}
}

func TestDirectionOf(t *testing.T) {
	for lang, want := range map[string]string{
		"fa": "rtl", "ar": "rtl", "he": "rtl", "ur": "rtl", "fa-IR": "rtl", "AR-eg": "rtl", "ar-Latn": "auto",
		"az-Arab": "rtl", "en": "auto", "": "auto", "de-DE": "auto", "ru": "auto",
	} {
		if got := Direction(lang); got != want {
			t.Errorf("Direction(%q) = %s, want %s", lang, got, want)
		}
	}
}

// TestAltAndTitleKeepPunctuation checks that alt and title text survives
// with any punctuation, escaped, and that nothing but text gets through.
func TestAltAndTitleKeepPunctuation(t *testing.T) {
	keep := func(*url.URL) {}
	for _, tc := range []struct{ in, want string }{
		{`<img src="a.png" alt="Photo: who is this?">`, `alt="Photo: who is this?"`},
		{`<img src="a.png" alt="«Переговоры» в Женеве">`, `alt="«Переговоры» в Женеве"`},
		{`<img src="a.png" alt='He said "no" &amp; left'>`, `alt="He said &#34;no&#34; &amp; left"`},
		{`<img src="a.png" alt="عکس: «آینه» چیست؟">`, `alt="عکس: «آینه» چیست؟"`},
		{`<img src="a.png" alt="it's 50% off; (really) — #1 @ 10:30 = ok + {x} | y ~ z * ^ $">`, `alt="it&#39;s 50% off; (really) — #1 @ 10:30 = ok + {x} | y ~ z * ^ $"`},
		{`<p title="Note: «quoted»?">x</p>`, `<p title="Note: «quoted»?">x</p>`},
		{`<abbr title="Who? What: &quot;this&quot;">W</abbr>`, `title="Who? What: &#34;this&#34;"`},
		{`<img src="a.png" alt="line one
line two">`, "alt=\"line one\nline two\""},
	} {
		got := string(sanitize([]byte(tc.in), keep))
		if !strings.Contains(got, tc.want) {
			t.Errorf("sanitize(%q) = %q, want it to contain %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, gone string }{
		{`<img src="a.png" alt="x" onerror="alert(1)">`, "onerror"},
		{`<img src="a.png" alt="" onerror="alert(1)//">`, "onerror"},
		{`<img src="a.png" alt="bell` + "\x07" + `">`, "alt="},
		{`<img src="a.png" alt="` + strings.Repeat("?", MaxAttrText+1) + `">`, "alt="},
		{`<p style="color:red" title="t">x</p>`, "style"},
	} {
		if got := string(sanitize([]byte(tc.in), keep)); strings.Contains(got, tc.gone) {
			t.Errorf("sanitize(%q) = %q, still holds %q", tc.in, got, tc.gone)
		}
	}
	if got := string(sanitize([]byte(`<img src="a.png" alt="`+strings.Repeat("я", MaxAttrText)+`">`), keep)); !strings.Contains(got, "alt=") {
		t.Errorf("alt of %d Cyrillic characters dropped", MaxAttrText)
	}
}

func TestLanguageName(t *testing.T) {
	for lang, want := range map[string]string{
		"fa": "فارسی", "fa-IR": "فارسی", "RU": "Русский", "en-GB": "English", "xx-Yy": "xx-Yy", "": "", "en US": "", "zh-Hant": "中文",
	} {
		if got := LanguageName(lang); got != want {
			t.Errorf("LanguageName(%q) = %q, want %q", lang, got, want)
		}
	}
}

func TestComma(t *testing.T) {
	for lang, want := range map[string]string{"fa": "، ", "ar-EG": "، ", "ar-Latn": ", ", "he": ", ", "en": ", ", "": ", "} {
		if got := Comma(lang); got != want {
			t.Errorf("Comma(%q) = %q, want %q", lang, got, want)
		}
	}
}
