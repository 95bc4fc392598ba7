//go:build linux

package web_test

// Real-browser tests: headless Chromium (see internal/browsertest) loads
// pages from the mirror's handler over loopback.

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
)

func TestBrowserHostileContentNeverRuns(t *testing.T) {
	browsertest.Chromium(t)
	t.Parallel()
	evil, evilLog := browsertest.NewLoggedServer(t, http.NotFoundHandler())

	// The control: the same script, served raw, runs in the same procedure.
	control, _ := browsertest.NewLoggedServer(t, browsertest.ControlHandler(browsertest.HostileBody(evil.URL, true), browsertest.HostileBody(evil.URL, false)))
	dom := browsertest.DumpDOM(t, control.URL+"/")
	for _, v := range browsertest.ScriptVectors {
		if v.Control && !strings.Contains(dom, browsertest.PwnedAttr+"-"+v.Name) {
			t.Errorf("control: vector %s did not run, so the test cannot see script run:\n%s", v.Name, dom)
		}
	}
	if !strings.Contains(dom, browsertest.PwnedText) || !strings.Contains(dom, "<title>"+browsertest.PwnedTitle+"</title>") {
		t.Errorf("control: inline script's text and title missing:\n%s", dom)
	}
	if found := browsertest.ScriptTraces(dom, "control"); len(found) < 3 {
		t.Errorf("control: the check finds only %q of the script that ran", found)
	}
	dom = browsertest.DumpDOM(t, control.URL+"/img/evil.svg")
	if !strings.Contains(dom, browsertest.PwnedAttr+"-svg-entry") {
		t.Errorf("control: script in the SVG did not run:\n%s", dom)
	}
	// Served raw, the full hostile body makes the browser contact the
	// third party, so its silence below means something.
	browsertest.DumpDOM(t, control.URL+"/full")
	if len(evilLog.All()) == 0 {
		t.Errorf("control: the raw hostile body did not make the browser contact the third party")
	}
	t.Logf("control: third party saw %q", evilLog.All())

	// A fresh third party for the mirror, so that a late request of the
	// control cannot count against it.
	evil, evilLog = browsertest.NewLoggedServer(t, http.NotFoundHandler())

	// The mirror.
	f := newFixture(t, nil)
	f.publish(item("browser-hostile", "text/html", browsertest.HostileBody(evil.URL, false), "en", "Browser hostile",
		bundle.File{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(browsertest.HostileSVGScript)}))
	srv, mirrorLog := browsertest.NewLoggedServer(t, f.h)
	page := srv.URL + "/p/" + f.alpha.ID() + "/a/browser-hostile/"
	dom = browsertest.DumpDOM(t, page)
	browsertest.AssertNoScriptRan(t, "article page", dom, "Browser hostile · samizdat mirror")
	if !strings.Contains(dom, "Hostile article, kept readable.") || !strings.Contains(dom, "Provenance") {
		t.Errorf("article page: the DOM is not the article's (navigated away?):\n%s", dom)
	}
	for _, bad := range []string{"javascript:", "<iframe", "<base", "<meta http-equiv", "<script", "onerror", "onload", "expression(", "<object", "<embed", "<form"} {
		if strings.Contains(strings.ToLower(dom), strings.ToLower(bad)) {
			t.Errorf("article page: DOM contains %q", bad)
		}
	}
	if !mirrorLog.Has("GET", "/p/"+f.alpha.ID()+"/a/browser-hostile/img/evil.svg", 200) {
		t.Errorf("the page's SVG image was not loaded; mirror requests: %q", mirrorLog.All())
	}
	// The entries opened on their own, as a reader following a link would.
	dom = browsertest.DumpDOM(t, page+"img/evil.svg")
	browsertest.AssertNoScriptRan(t, "SVG entry loaded directly", dom, "")
	if !strings.Contains(dom, "<circle") {
		t.Errorf("SVG entry: not shown as SVG:\n%s", dom)
	}
	dom = browsertest.DumpDOM(t, page+"index.html")
	browsertest.AssertNoScriptRan(t, "body entry loaded directly", dom, "")
	if r := evilLog.All(); len(r) > 0 {
		t.Errorf("the browser contacted a third party from the mirror's pages: %q", r)
	}
	for _, r := range mirrorLog.All() {
		if strings.HasSuffix(r, " 500") || strings.HasSuffix(r, " 503") {
			t.Errorf("mirror answered the browser with a server error: %s", r)
		}
	}
}

// pngInk reports the share of a PNG's pixels differing from its top-left
// pixel (the page background) in the columns [x0, x1) and rows [y0, y1).
func pngInk(img image.Image, x0, x1, y0, y1 int) float64 {
	bg := img.At(img.Bounds().Min.X, img.Bounds().Min.Y)
	br, bgG, bb, _ := bg.RGBA()
	var ink, all int
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			all++
			if absDiff(r, br)+absDiff(g, bgG)+absDiff(b, bb) > 0x6000 {
				ink++
			}
		}
	}
	if all == 0 {
		return 0
	}
	return float64(ink) / float64(all)
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

const persianBody = `<p>این یک مقالهٔ آزمایشی است که از راست به چپ نوشته می‌شود. آینه‌ها نوشته‌ها را بدون تغییر نگه می‌دارند و امضای ناشر را نشان می‌دهند.</p>
<p>کوتاه.</p>
<p>هر خواننده می‌تواند درستی این نوشته را با کلید ناشر بررسی کند، حتی اگر سایت اصلی در دسترس نباشد.</p>`

func TestBrowserRightToLeft(t *testing.T) {
	browsertest.Chromium(t)
	t.Parallel()
	f := newFixture(t, nil)
	f.publish(item("browser-fa", "text/html", persianBody, "fa", "آینه‌ای برای خبرها"))
	srv, _ := browsertest.NewLoggedServer(t, f.h)
	page := srv.URL + "/p/" + f.alpha.ID() + "/a/browser-fa/"

	dom := browsertest.DumpDOM(t, page)
	if !regexp.MustCompile(`<article lang="fa" dir="rtl">`).MatchString(dom) {
		t.Errorf("article element not lang=fa dir=rtl in the browser's DOM:\n%s", dom)
	}
	if !strings.Contains(dom, "کوتاه.") {
		t.Errorf("Persian body missing from the DOM")
	}
	if !regexp.MustCompile(`<aside class="provenance" lang="en" dir="ltr">`).MatchString(dom) {
		t.Errorf("provenance box not left-to-right")
	}

	shot := browsertest.Screenshot(t, page)
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG: % x", shot[:min(len(shot), 8)])
	}
	if len(shot) < browsertest.MinPNG {
		t.Errorf("screenshot only %d bytes: a blank page?", len(shot))
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1024 || b.Dy() < 1000 {
		t.Errorf("screenshot is %v, want 1024 wide", b)
	}
	t.Logf("screenshot: %d bytes, %v", len(shot), img.Bounds())
	// Right to left, the title and the short paragraph ("کوتاه.") end at
	// the right edge of the text column (160 to 864 px: 44rem centred),
	// leaving its left part empty: find such a band of rows in the upper
	// part of the page. Left to right, every line of the article and of
	// the header starts at the left edge.
	w := img.Bounds().Dx()
	found := false
	for y := 0; y+8 < min(img.Bounds().Dy(), 900); y += 4 {
		left, right := pngInk(img, w/2-300, w/2-20, y, y+8), pngInk(img, w/2+120, w/2+340, y, y+8)
		if right > 0.02 && left == 0 {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("no right-aligned line found in the screenshot: the Persian article is not laid out right to left")
	}
}

func TestBrowserPagesWithoutScript(t *testing.T) {
	browsertest.Chromium(t)
	t.Parallel()
	f := newFixture(t, nil)
	srv, mirrorLog := browsertest.NewLoggedServer(t, f.h)

	// Pages carry no script at all, and the policy forbids any: what the
	// browser shows works without JavaScript.
	for _, p := range []string{"/", "/p/" + f.alpha.ID() + "/", "/p/" + f.alpha.ID() + "/a/plain/", "/status"} {
		if r := f.get(p); strings.Contains(strings.ToLower(r.body), "<script") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: page holds script or lacks the policy", p)
		}
	}
	dom := browsertest.DumpDOM(t, srv.URL+"/")
	for _, id := range []string{"plain", "markdown", "farsi", "hostile"} {
		if !strings.Contains(dom, `href="/p/`+f.alpha.ID()+`/a/`+id+`/"`) {
			t.Errorf("index: no link to article %s:\n%s", id, dom)
		}
	}
	if !strings.Contains(dom, `<link rel="stylesheet" href="/static/style.css">`) {
		t.Errorf("index: no style sheet link")
	}
	if !mirrorLog.Has("GET", "/static/style.css", 200) {
		t.Errorf("the browser did not load the style sheet: %q", mirrorLog.All())
	}

	// The style sheet is applied: the index's column is centred with wide
	// empty margins (max-width 44rem in a 1024 px window); unstyled, text
	// would start at the left edge.
	img, err := png.Decode(bytes.NewReader(browsertest.Screenshot(t, srv.URL+"/")))
	if err != nil {
		t.Fatal(err)
	}
	if ink := pngInk(img, 0, 140, 0, 1000); ink != 0 {
		t.Errorf("left margin has ink (%.3f): the style sheet is not applied", ink)
	}
	if ink := pngInk(img, 160, 860, 0, 400); ink < 0.01 {
		t.Errorf("the text column is empty (%.3f)", ink)
	}
}
