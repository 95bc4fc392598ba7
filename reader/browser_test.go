//go:build linux

package reader_test

import (
	"net/http"
	"net/http/httptest"
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

// TestBrowserRefreshButton presses the local reader's "check mirrors now"
// button in headless Chromium, under the reader's own page headers
// (Content-Security-Policy with script allowed only to press it, and
// Referrer-Policy): the POST it sends carries what the reader accepts as
// its own page. The same form on a page elsewhere is refused.
func TestBrowserRefreshButton(t *testing.T) {
	browsertest.Chromium(t)
	w := newWorld(t)
	c := w.client(t.TempDir(), serve(t, w.handler(w.store(honest...))))
	reader := local.NewServer(c, &local.Options{Prefetch: -1})
	const press = `<script>document.querySelector('header form').submit()</script>`
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/press" {
			reader.ServeHTTP(rw, r)
			return
		}
		// The reader's index page as it is, with a script to press.
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = r.Host
		rec := httptest.NewRecorder()
		reader.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.Header().Set("Content-Security-Policy", rec.Header().Get("Content-Security-Policy")+"; script-src 'unsafe-inline'")
		rw.Write([]byte(strings.Replace(rec.Body.String(), "</body>", press+"</body>", 1)))
	})
	srv, log := browsertest.NewLoggedServer(t, h)
	dom := browsertest.DumpDOM(t, srv.URL+"/press")
	if !log.Has("POST", "/refresh", http.StatusSeeOther) || !log.Has("GET", "/", http.StatusOK) || !strings.Contains(dom, `href="/a/a/"`) {
		t.Errorf("pressing the button: requests %q\n%s", log.All(), dom)
	}

	// A page elsewhere with the same form.
	evil, _ := browsertest.NewLoggedServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte(`<!doctype html><form method="post" action="` + srv.URL + `/refresh"><button>x</button></form>` + strings.Replace(press, "header ", "", 1)))
	}))
	browsertest.DumpDOM(t, evil.URL+"/")
	if !log.Has("POST", "/refresh", http.StatusForbidden) || strings.Count(strings.Join(log.All(), "\n"), "POST /refresh 303") != 1 {
		t.Errorf("a page elsewhere pressing the button: requests %q", log.All())
	}
}
