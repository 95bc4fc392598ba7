//go:build linux

package reader_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader/local"
)

// TestBrowserReaderPagesRunNoScript loads a hostile article in headless
// Chromium from the local reader's server and as fetch saves it: no script
// runs and nothing is loaded from elsewhere. A control page with the same
// content, unsanitised, shows the procedure does see script that runs.
func TestBrowserReaderPagesRunNoScript(t *testing.T) {
	browsertest.Chromium(t)
	w := newWorld(t)
	evil, evilLog := browsertest.NewLoggedServer(t, http.NotFoundHandler())
	st := w.store(honest...)
	hostile := publish.Item{
		Meta: bundle.Metadata{ID: "h", Title: "Browser hostile", Language: "en"},
		Files: []bundle.File{
			{Type: "text/html", Data: []byte(browsertest.HostileBody(evil.URL, false))},
			{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(browsertest.HostileSVGScript)},
		},
	}
	if _, err := w.publisher(st, t2.Add(time.Minute)).Publish([]publish.Item{hostile}); err != nil {
		t.Fatal(err)
	}
	mirror := serve(t, w.handler(st))

	// The control: the same body, saved raw, runs its script.
	dir := t.TempDir()
	control := filepath.Join(dir, "control.html")
	if err := os.WriteFile(control, []byte("<!doctype html><title>control</title><body>"+browsertest.HostileBody(evil.URL, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	if found := browsertest.ScriptTraces(browsertest.DumpDOM(t, "file://"+control), "control"); len(found) < 3 {
		t.Fatalf("control page: only %q; the procedure cannot see script run", found)
	}

	c := w.client(t.TempDir(), mirror)
	srv, _ := browsertest.NewLoggedServer(t, local.NewServer(c, &local.Options{Prefetch: -1}))
	dom := browsertest.DumpDOM(t, srv.URL+"/a/h/")
	if !strings.Contains(dom, "Browser hostile") {
		t.Fatalf("the article did not load:\n%s", dom)
	}
	browsertest.AssertNoScriptRan(t, "local reader page", dom, "Browser hostile")
	browsertest.AssertNoScriptRan(t, "SVG entry loaded directly", browsertest.DumpDOM(t, srv.URL+"/a/h/img/evil.svg"), "")

	r, err := c.Fetch(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "saved")
	if _, _, err := local.WriteArticle(saved, r); err != nil {
		t.Fatal(err)
	}
	browsertest.AssertNoScriptRan(t, "saved page", browsertest.DumpDOM(t, "file://"+filepath.Join(saved, "index.html")), "Browser hostile")
	// Neither page nor control reached the server standing for the rest
	// of the web (the control's vectors are local).
	if reqs := evilLog.All(); len(reqs) > 0 {
		t.Errorf("pages loaded from elsewhere: %q", reqs)
	}
}
