package source

import (
	"net/url"
	"path"
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

// IDSources are the places an article id can come from, in order of
// precedence after an id the publisher gives explicitly.
type IDSources struct {
	FrontMatter  string // the id or slug field of Markdown front matter
	GUID         string // a feed item's guid or id
	CanonicalURL string // its last path segment
	FileName     string // without its folder; the extension is dropped
}

// DeriveID returns the id made from the first of s that gives one, or ""
// when none does.
func DeriveID(s IDSources) string {
	canonical := ""
	if u, err := url.Parse(s.CanonicalURL); err == nil {
		canonical = path.Base(strings.TrimSuffix(u.Path, "/"))
	}
	file := strings.TrimSuffix(s.FileName, path.Ext(s.FileName))
	for _, c := range []string{s.FrontMatter, s.GUID, canonical, file} {
		if id := Slug(c); id != "" {
			return id
		}
	}
	return ""
}
