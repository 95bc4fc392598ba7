//go:build linux

package web_test

import (
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
)

// longPublisher is a publisher's key name as long as names go, to show
// that long names wrap on a phone (its signing key adds "-signing", and
// a key name is at most 64 bytes).
const longPublisher = "radio-farda-persian-service-of-radio-free-europe-liberty"

// syntheticMirror serves a store holding the synthetic articles, signed
// by a publisher with a long name, and returns its URL and the
// publisher's ID.
func syntheticMirror(t *testing.T) (string, string) {
	pub := testkeys.New(t, longPublisher)
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	photo := browsertest.PhotoPNG(t)
	var items []publish.Item
	for i, a := range browsertest.Articles {
		it := publish.Item{
			Meta: bundle.Metadata{ID: a.ID, Title: a.Title, Language: a.Lang, Authors: a.Authors,
				CanonicalURL: "https://news.example/" + a.Lang + "/2026/11/" + a.ID + "-a-long-canonical-address-that-must-wrap-on-a-phone.html",
				Created:      now.Add(-time.Duration(i+1) * 26 * time.Hour)},
			Files: []bundle.File{{Type: "text/html", Data: []byte(a.Body)}},
		}
		if strings.Contains(a.Body, "img/photo.png") {
			it.Files = append(it.Files, bundle.File{Name: "img/photo.png", Type: "image/png", Data: photo})
		}
		items = append(items, it)
	}
	if _, err := p.Publish(items); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, st, []*keys.PublicKey{pub.Root.Public()}, &web.Config{
		Now: func() time.Time { return now.Add(3 * time.Hour) }, Rate: -1, Refresh: -1,
	})
	srv, _ := browsertest.NewLoggedServer(t, h)
	return srv.URL, pub.ID()
}

// TestBrowserPagesAccessibleAndShown loads the mirror's index and the
// English, Russian and Persian article pages in one headless Chromium at
// a phone's size (390×844) and a laptop's (1366×900). On each it runs
// axe-core, which must find no violation of impact serious or critical;
// checks that nothing is wider than the window; and saves a screenshot
// in browsertest.ScreenshotDir() for people to look at.
func TestBrowserPagesAccessibleAndShown(t *testing.T) {
	b := browsertest.StartBrowser(t)
	browsertest.AxeAvailable(t)
	started := time.Now()
	base, pub := syntheticMirror(t)
	pages := []struct{ name, path string }{
		{"index", "/"},
		{"index-fa", "/?lang=fa"},
		{"publisher", "/p/" + pub + "/"},
	}
	for _, a := range browsertest.Articles {
		pages = append(pages, struct{ name, path string }{"article-" + a.Lang, "/p/" + pub + "/a/" + a.ID + "/"})
	}
	var saved []string
	for _, pg := range pages {
		views := []browsertest.Viewport{browsertest.Phone, browsertest.Desktop}
		if pg.name == "index" || pg.name == "article-fa" {
			views = append(views, browsertest.PhoneDark)
		}
		for _, v := range views {
			t.Run(pg.name+"-"+v.Name, func(t *testing.T) {
				saved = append(saved, b.CheckPage(t, base+pg.path, "mirror-"+pg.name, v)...)
			})
		}
	}
	// The image's alt text, with its colon, question mark, guillemets
	// and quotes, reaches the browser whole.
	en := browsertest.Articles[0]
	p := b.Open(t, base+"/p/"+pub+"/a/"+en.ID+"/", browsertest.Desktop)
	var alt string
	if err := p.Eval(`document.querySelector("article img").alt`, &alt); err != nil {
		t.Fatal(err)
	}
	if want := `Delegates arrive: who sat where? «Round one» of the "security" talks`; alt != want {
		t.Errorf("image alt in the browser: %q, want %q", alt, want)
	}
	t.Logf("%d pages at 2 sizes (index and Persian article also dark) in %v; screenshots: %s", len(pages), time.Since(started).Round(time.Millisecond), strings.Join(saved, " "))
}
