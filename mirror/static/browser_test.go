//go:build linux

package static_test

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
)

// TestBrowserExportRunsNoScript opens an exported hostile article in
// headless Chromium, served by python3 -m http.server (which sends no
// Content-Security-Policy and picks types by extension), and checks that
// no script runs: on the article page, on its entries opened on their
// own, and on the index. A control file in the same directory, the
// hostile HTML entry written as .html, shows the procedure sees script
// that runs.
func TestBrowserExportRunsNoScript(t *testing.T) {
	browsertest.Chromium(t)
	evil, evilLog := browsertest.NewLoggedServer(t, http.NotFoundHandler())
	f := newFixture(t)
	f.publish(item("browser-hostile", "text/html", browsertest.HostileBody(evil.URL, false), "en", "Browser hostile",
		bundle.File{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(browsertest.HostileSVGScript)},
		bundle.File{Name: "page.html", Type: "image/png", Data: []byte(evilHTMLEntry)}))
	root := t.TempDir()
	out := filepath.Join(root, "export")
	f.exportDir(out)
	if err := os.WriteFile(filepath.Join(root, "control.html"), []byte(evilHTMLEntry), 0o644); err != nil {
		t.Fatal(err)
	}
	base := servePython(t, root)

	dom := browsertest.DumpDOM(t, base+"/control.html")
	if !strings.Contains(dom, browsertest.PwnedAttr) {
		t.Fatalf("control: the hostile entry served as HTML did not run, so the test cannot see script run:\n%s", dom)
	}

	d := f.digest("browser-hostile").String()
	page := base + "/export/p/" + f.alpha.ID() + "/a/browser-hostile/index.html"
	dom = browsertest.DumpDOM(t, page)
	browsertest.AssertNoScriptRan(t, "exported article page", dom, "Browser hostile · samizdat mirror")
	if !strings.Contains(dom, "Hostile article, kept readable.") || !strings.Contains(dom, "Provenance") {
		t.Errorf("article page: the DOM is not the article's:\n%s", dom)
	}
	// Every entry file written, opened on its own. (Bundles and tiles
	// are served as application/octet-stream: a browser downloads them,
	// shows nothing.)
	var urls []string
	for _, dir := range []string{d, f.digest("hostile").String()} {
		err := filepath.WalkDir(filepath.Join(out, "e", dir), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(out, p)
				urls = append(urls, base+"/export/"+filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(urls) != 3 {
		t.Errorf("entry files %q, want 3 (page.html and evil.html as PNG, photo.png)", urls)
	}
	for _, u := range append(urls,
		base+"/export/index.html",
		base+"/export/p/"+f.alpha.ID()+"/index.html",
		base+"/export/p/"+f.alpha.ID()+"/a/hostile/index.html",
	) {
		dom := browsertest.DumpDOM(t, u)
		browsertest.AssertNoScriptRan(t, u, dom, "")
	}
	if _, err := os.Stat(filepath.Join(out, "e", d, "img", "evil.svg")); err == nil {
		t.Errorf("the SVG entry was written")
	}
	if r := evilLog.All(); len(r) > 0 {
		t.Errorf("the browser contacted a third party from the exported pages: %q", r)
	}
}
