package source

import (
	"strings"

	"github.com/samizdat-news/samizdat/bundle"
)

// Slug turns a name into an article id: lowercase letters and digits, runs
// of anything else made one '-'. It returns "" when nothing is left.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() >= bundle.MaxIDLen-1 {
			break
		}
	}
	return b.String()
}
