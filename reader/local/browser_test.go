//go:build linux

package local_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/reader/local"
)

// longPublisher is as long as a publisher's key name goes (its signing
// key adds "-signing" within 64 bytes): the index heading that shows it
// ran off a phone's screen.
const longPublisher = "radio-farda-persian-service-of-radio-free-europe-liberty"

// TestBrowserReaderPages loads the local reader's index and its English,
// Russian and Persian article pages, verified from a mirror over
// loopback, in one headless Chromium at a phone's size and a laptop's:
// nothing is wider than the window, axe-core finds no violation of
// impact serious or critical, and screenshots are saved (see
// browsertest.ScreenshotDir). Then the mirror goes away, and the saved
// copy of an article is shown with one status line in plain words.
func TestBrowserReaderPages(t *testing.T) {
	b := browsertest.StartBrowser(t)
	browsertest.AxeAvailable(t)
	started := time.Now()
	pub := testkeys.New(t, longPublisher)
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	var items []publish.Item
	for i, a := range browsertest.Articles {
		it := publish.Item{
			Meta: bundle.Metadata{ID: a.ID, Title: a.Title, Language: a.Lang, Authors: a.Authors,
				CanonicalURL: "https://news.example/" + a.Lang + "/" + a.ID + "-a-long-canonical-address-that-must-wrap-on-a-phone.html",
				Created:      now.Add(-time.Duration(i+1) * 26 * time.Hour)},
			Files: []bundle.File{{Type: "text/html", Data: []byte(a.Body)}},
		}
		if strings.Contains(a.Body, "img/photo.png") {
			it.Files = append(it.Files, bundle.File{Name: "img/photo.png", Type: "image/png", Data: browsertest.PhotoPNG(t)})
		}
		items = append(items, it)
	}
	if _, err := p.Publish(items); err != nil {
		t.Fatal(err)
	}
	h, err := web.New(st, []*keys.PublicKey{pub.Root.Public()}, &web.Config{Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	mirror, _ := browsertest.NewLoggedServer(t, h)
	// Full: samizdat read keeps the whole log, for its lists and offline
	// copies.
	c, err := reader.New(&reader.Config{Root: pub.Root.Public(), Mirrors: []string{mirror.URL}, StateDir: t.TempDir(),
		NoDiscovery: true, Timeout: 10 * time.Second, HeaderTimeout: 2 * time.Second, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	srv, _ := browsertest.NewLoggedServer(t, local.NewServer(c, &local.Options{Prefetch: -1, FreshFor: time.Nanosecond}))
	// Every article read once, so that the index shows their dates and
	// languages; each is asked for again every time (FreshFor), so that
	// the mirror's going away shows.
	for _, a := range browsertest.Articles {
		resp, err := http.Get(srv.URL + "/a/" + a.ID + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("article %s: %s", a.ID, resp.Status)
		}
	}
	pages := []struct{ name, path string }{{"reader-index", "/"}}
	for _, a := range browsertest.Articles {
		pages = append(pages, struct{ name, path string }{"reader-article-" + a.Lang, "/a/" + a.ID + "/"})
	}
	var saved []string
	for _, pg := range pages {
		for _, v := range []browsertest.Viewport{browsertest.Phone, browsertest.Desktop} {
			t.Run(pg.name+"-"+v.Name, func(t *testing.T) {
				saved = append(saved, b.CheckPage(t, srv.URL+pg.path, pg.name, v)...)
			})
		}
	}

	// Offline: the saved copy, with one status line that says so.
	mirror.Close()
	fa := browsertest.Articles[2]
	pg := b.Open(t, srv.URL+"/a/"+fa.ID+"/", browsertest.Phone)
	var status []string
	if err := pg.Eval(`[...document.querySelectorAll('[role="status"]')].map(e => e.textContent)`, &status); err != nil {
		t.Fatal(err)
	}
	if len(status) != 1 || !strings.Contains(status[0], "copy saved earlier") || strings.Contains(status[0], "reader:") {
		t.Errorf("offline article: status lines %q, want one that says it is the saved copy, in plain words", status)
	}
	saved = append(saved, browsertest.SaveScreenshot(t, "reader-article-fa-offline-phone", pg.Screenshot(t, false)))
	t.Logf("%d pages at 2 sizes and one offline in %v; screenshots: %s", len(pages), time.Since(started).Round(time.Millisecond), strings.Join(saved, " "))
}
