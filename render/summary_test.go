package render

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextSummary(t *testing.T) {
	long := strings.Repeat("<p>سلام دنیا، <b>خبر</b> تازه</p>\n", 100)
	for _, tc := range []struct {
		html string
		max  int
		want string
	}{
		{"<p>One <b>bold</b> word.</p><p>Two</p>", 100, "One bold word. Two"},
		{"<p>a\n\n   b</p><ul><li>c</li><li>d</li></ul>", 100, "a b c d"},
		{"<p>Tom &amp; Jerry &lt;3</p>", 100, "Tom & Jerry <3"},
		{"<p>one two three four five</p>", 12, "one two…"},
		{"<p>abcdefghijklmnopqrstuvwxyz</p>", 10, "abcdefghi…"},
		{"", 10, ""},
	} {
		if got := TextSummary([]byte(tc.html), tc.max); got != tc.want {
			t.Errorf("TextSummary(%q, %d) = %q, want %q", tc.html, tc.max, got, tc.want)
		}
	}
	got := TextSummary([]byte(long), 600)
	if n := utf8.RuneCountInString(got); !utf8.ValidString(got) || n > 600 || n < 300 || !strings.HasSuffix(got, "…") || strings.Contains(got, "<") {
		t.Errorf("long Farsi summary: %d characters, valid %v: %q", n, utf8.ValidString(got), got)
	}
}
