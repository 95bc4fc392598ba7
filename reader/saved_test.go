package reader_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/reader/local"
)

// evilHTML is an entry named evil.html and typed image/png: opened from a
// saved copy on disk, a browser takes it for a page and runs its script.
var evilHTML = bundle.File{Name: "evil.html", Type: "image/png", Data: []byte(`<script>document.title = "ran"</script>`)}

// hostileNames fetches, over a real mirror, an article whose entries are
// named to be taken on disk for something other than their type.
func hostileNames(t *testing.T, extra ...bundle.File) *reader.Result {
	t.Helper()
	w := newWorld(t)
	st := w.store(honest...)
	files := append([]bundle.File{
		{Type: "text/html", Data: []byte(`<p>Hostile names.</p><img src="photo.png"><a href="evil.html">open</a>`)},
		evilHTML,
		{Name: "photo.png", Type: "image/png", Data: pngBytes},
		{Name: "Pic.JPG", Type: "image/jpeg", Data: []byte("a jpeg")},
		{Name: "img/x.webp", Type: "image/webp", Data: []byte("a webp")},
		{Name: "shot.png", Type: "image/gif", Data: []byte("GIF89a")},
		{Name: "evil.svg", Type: "image/svg+xml", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)},
		{Name: "noext", Type: "image/png", Data: pngBytes},
		{Name: "index.html/a.png", Type: "image/png", Data: pngBytes},
	}, extra...)
	it := publish.Item{Meta: bundle.Metadata{ID: "h", Title: "Hostile names", Language: "en"}, Files: files}
	if _, err := w.publisher(st, t2.Add(time.Minute)).Publish([]publish.Item{it}); err != nil {
		t.Fatal(err)
	}
	r, err := w.client("", serve(t, w.handler(st))).Fetch(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tree lists the files under dir, relative, with "/" separators.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSavedCopyWritesOnlyImages: a saved copy holds the page and the
// images whose names say their type, nothing else; the rest is named as
// skipped, with a reason.
func TestSavedCopyWritesOnlyImages(t *testing.T) {
	r := hostileNames(t)
	dir := t.TempDir()
	wrote, skipped, err := local.WriteArticle(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Pic.JPG", "img/x.webp", "index.html", "photo.png"}
	if got := tree(t, dir); !slices.Equal(got, want) {
		t.Errorf("saved %q, want %q", got, want)
	}
	if len(wrote) != len(want) {
		t.Errorf("reported %q written", wrote)
	}
	reasons := map[string]string{
		"evil.html":        "not named as an image",
		"shot.png":         "named .png but typed image/gif",
		"evil.svg":         "SVG",
		"noext":            "not named as an image",
		"index.html/a.png": "has the name of another file",
	}
	if len(skipped) != len(reasons) {
		t.Errorf("skipped %v, want %d entries", skipped, len(reasons))
	}
	for _, s := range skipped {
		if !strings.Contains(s.Reason, reasons[s.Name]) || reasons[s.Name] == "" {
			t.Errorf("skipped %v, want a reason with %q", s, reasons[s.Name])
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil || !strings.Contains(string(page), "Hostile names.") {
		t.Errorf("page: %v\n%s", err, page)
	}
}

// TestSavedCopyStaysInDir: links already in the folder do not lead the
// saved copy elsewhere.
func TestSavedCopyStaysInDir(t *testing.T) {
	r := hostileNames(t)
	for _, tc := range []struct {
		name string
		link string // a link in the folder to the outside
		ok   bool
	}{
		{"a link where an image goes is replaced, not followed", "photo.png", true},
		{"a folder that is a link out is refused", "img", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			victim := filepath.Join(outside, "victim")
			if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			target := victim
			if !tc.ok {
				target = outside
			}
			dir := t.TempDir()
			if err := os.Symlink(target, filepath.Join(dir, tc.link)); err != nil {
				t.Fatal(err)
			}
			_, _, err := local.WriteArticle(dir, r)
			if tc.ok != (err == nil) {
				t.Errorf("WriteArticle: %v", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep" {
				t.Errorf("a file outside the folder was changed: %q", b)
			}
			if got := tree(t, outside); !slices.Equal(got, []string{"victim"}) {
				t.Errorf("wrote outside the folder: %q", got)
			}
			if fi, err := os.Lstat(filepath.Join(dir, tc.link)); tc.ok && (err != nil || !fi.Mode().IsRegular()) {
				t.Errorf("%s: %v, %v; want the image in place of the link", tc.link, fi, err)
			}
		})
	}
}
