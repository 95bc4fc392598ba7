package static_test

import (
	"path"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/static"
)

// FuzzParseS3URL checks that an accepted s3:// URL gives a bucket and a
// prefix that name no other place: no empty, . or .. segment, and the
// URL rebuilt from them parses the same.
func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://news", "s3://news/a/b/", "s3://n.e-ws/x", "s3://news/../x", "s3://", "https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, p, err := static.ParseS3URL(s)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(p, "/") {
			if p != "" && (seg == "" || seg == "." || seg == "..") {
				t.Fatalf("%q: prefix %q", s, p)
			}
		}
		b2, p2, err := static.ParseS3URL("s3://" + b + "/" + p)
		if err != nil || b2 != b || p2 != p {
			t.Fatalf("%q: %q %q, rebuilt %q %q %v", s, b, p, b2, p2, err)
		}
	})
}

// FuzzEntryFile checks that an entry is only ever written under a name
// whose extension is its image type's, inside its bundle's directory.
func FuzzEntryFile(f *testing.F) {
	for _, s := range []string{"photo.png|image/png", "evil.html|image/png", "a.svg|image/svg+xml", "x.JPG|image/jpeg", "../x.png|image/png"} {
		f.Add(s)
	}
	safe := map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif"}
	f.Fuzz(func(t *testing.T, s string) {
		name, typ, _ := strings.Cut(s, "|")
		file, ok := static.EntryFile(&bundle.EntryInfo{Name: name, Type: typ})
		if !ok {
			return
		}
		if safe[strings.ToLower(path.Ext(file))] != typ || bundle.CheckName(name) != nil || path.Clean(file) != file || strings.HasPrefix(file, "/") || strings.HasPrefix(file, "..") {
			t.Fatalf("entry %q typed %q written as %q", name, typ, file)
		}
	})
}
