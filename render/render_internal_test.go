package render

import "testing"

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
