//go:build linux

package web_test

// Real-browser tests: headless Chromium, driven through its command line,
// loads pages from the mirror's handler over loopback. They are skipped
// when no Chromium is installed, unless SAMIZDAT_REQUIRE_BROWSER=1 (as in
// CI, which installs Debian's chromium), in which case they fail.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

const (
	// browserTimeout bounds one Chromium run.
	browserTimeout = 30 * time.Second
	// browserMaxOutput bounds what is kept of a run's stdout (the dumped
	// DOM) and stderr.
	browserMaxOutput = 4 << 20
	browserMaxStderr = 64 << 10
	// browserMinPNG is the least size of a screenshot of a real page:
	// a blank 1024x1400 PNG is about 7 KB.
	browserMinPNG = 20 << 10
)

// chromiumPath returns the Chromium binary, skipping the test when there
// is none unless SAMIZDAT_REQUIRE_BROWSER=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SAMIZDAT_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium found and SAMIZDAT_REQUIRE_BROWSER=1")
	}
	t.Skip("no chromium installed (set SAMIZDAT_REQUIRE_BROWSER=1 to require it)")
	return ""
}

// capWriter keeps at most max bytes and drops the rest.
type capWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *capWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// runChromium runs headless Chromium with a fresh profile on the given
// arguments and returns its stdout. The browser and everything it started
// run in their own process group, killed when the run ends or times out.
func runChromium(t *testing.T, args ...string) string {
	t.Helper()
	bin := chromiumPath(t)
	profile, err := os.MkdirTemp("", "samizdat-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Helper processes may still be writing as they exit; a profile left
	// behind is not the test's failure.
	t.Cleanup(func() { os.RemoveAll(profile) })
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-proxy-server",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--user-data-dir=" + profile,
	}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdout := &capWriter{max: browserMaxOutput}
	stderr := &capWriter{max: browserMaxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err = cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers of this run only
	}
	t.Logf("chromium %s: %v", args[len(args)-1], time.Since(start).Round(time.Millisecond))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v: %w", browserTimeout, err)
		}
		t.Fatalf("chromium %q: %v\nstderr:\n%s", args, err, browserStderr(stderr.String()))
	}
	return stdout.String()
}

// browserStderr drops the D-Bus noise of a headless run without a bus.
func browserStderr(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "dbus") && strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// dumpDOM loads url and returns the DOM as serialised after the load event
// and once the page's timers (up to 2 s of virtual time, so that a meta
// refresh or a setTimeout would fire) have run.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	dom := runChromium(t, "--virtual-time-budget=2000", "--dump-dom", url)
	if strings.TrimSpace(dom) == "" {
		t.Fatalf("chromium dumped an empty DOM for %s", url)
	}
	return dom
}

// screenshot loads url in a 1024x1400 window and returns the PNG.
func screenshot(t *testing.T, url string) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, "--window-size=1024,1400", "--screenshot="+file, url)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no screenshot of %s: %v", url, err)
	}
	if dir := os.Getenv("SAMIZDAT_SCREENSHOT_DIR"); dir != "" {
		name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_") + ".png"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Log(err)
		}
	}
	return b
}

// requestLog records the requests a server answered, with their status.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "GET /path 200"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		l.reqs = append(l.reqs, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), sw.code))
		l.mu.Unlock()
	})
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

func (l *requestLog) has(method, path string, code int) bool {
	want := fmt.Sprintf("%s %s %d", method, path, code)
	for _, r := range l.all() {
		if r == want {
			return true
		}
	}
	return false
}

// newLoggedServer serves h on loopback, logging its requests.
func newLoggedServer(t *testing.T, h http.Handler) (*httptest.Server, *requestLog) {
	t.Helper()
	l := &requestLog{}
	srv := httptest.NewServer(l.wrap(h))
	t.Cleanup(srv.Close)
	return srv, l
}

// Traces left by script that ran. The hostile content builds them by
// concatenation, so they appear in a DOM only if its script executed.
const (
	pwnedAttr  = "data-pwned"
	pwnedText  = "PWNED-BY-SCRIPT"
	pwnedTitle = "PWNED"
)

// scriptVectors are the ways of running script that the browser test
// tries; each leaves its own trace (data-pwned-<name>) when it runs.
// "{evil}" is replaced by the URL of a loopback server that must never
// be contacted. The first five run in a page without policy and sanitiser
// (the control); the rest need a click or navigate away, and are checked
// through the "evil" server and the DOM only.
var scriptVectors = []struct {
	name, html string
	control    bool
}{
	{"script", `<script>document.title='PW'+'NED';document.documentElement.setAttribute('data-'+'pwned-script','1');document.body.setAttribute('data-'+'pwned','1');document.body.append('PWNED-'+'BY-SCRIPT')</script>`, true},
	{"onerror", `<img src="x-missing.png" onerror="document.documentElement.setAttribute('data-'+'pwned-onerror','1')">`, true},
	{"svg-onload", `<svg onload="document.documentElement.setAttribute('data-'+'pwned-svg-onload','1')"><circle r="4"/></svg>`, true},
	{"iframe-srcdoc", `<iframe srcdoc="&lt;script&gt;parent.document.documentElement.setAttribute('data-'+'pwned-iframe-srcdoc','1')&lt;/script&gt;"></iframe>`, true},
	{"timer", `<script>setTimeout(function(){document.documentElement.setAttribute('data-'+'pwned-timer','1')},200)</script>`, true},
	{"javascript-link", `<a id="jslink" href="javascript:document.documentElement.setAttribute('data-'+'pwned-js-link','1')">click me</a>`, false},
	{"meta-refresh", `<meta http-equiv="refresh" content="0;url={evil}/meta-refresh">`, false},
	{"style", `<style>body{background:url({evil}/style-bg);width:expression(document.documentElement.setAttribute('data-'+'pwned-style','1'))}</style><p style="background:url({evil}/style-attr)">styled</p>`, false},
	{"base", `<base href="{evil}/base/">`, false},
	{"remote", `<img src="{evil}/img.png"><iframe src="{evil}/frame"></iframe><link rel="stylesheet" href="{evil}/sheet.css"><object data="{evil}/object"></object><embed src="{evil}/embed">`, false},
	{"body-onload", `<body onload="document.documentElement.setAttribute('data-'+'pwned-body-onload','1')">`, false},
	{"form", `<form action="{evil}/form"><input name="q" autofocus onfocus="document.documentElement.setAttribute('data-'+'pwned-onfocus','1')"></form>`, false},
}

// hostileSVGScript is an SVG image entry with script; run, it marks the
// document.
const hostileSVGScript = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="document.documentElement.setAttribute('data-'+'pwned-svg-entry-onload','1')">` +
	`<script>document.documentElement.setAttribute('data-'+'pwned-svg-entry','1')</script><circle cx="20" cy="20" r="10"/></svg>`

func hostileBody(evil string, controlOnly bool) string {
	var b strings.Builder
	b.WriteString("<p>Hostile article, kept readable.</p>\n")
	for _, v := range scriptVectors {
		if controlOnly && !v.control {
			continue
		}
		b.WriteString(strings.ReplaceAll(v.html, "{evil}", evil))
		b.WriteString("\n")
	}
	b.WriteString(`<p><img src="img/evil.svg" alt="svg entry"></p>` + "\n")
	return b.String()
}

// scriptTraces returns the traces of executed script a DOM shows: a
// trace attribute or text, or a title other than wantTitle (if given).
func scriptTraces(dom, wantTitle string) []string {
	var found []string
	for _, trace := range []string{pwnedAttr, pwnedText} {
		if strings.Contains(dom, trace) {
			found = append(found, trace)
		}
	}
	if wantTitle != "" {
		if m := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(dom); m == nil || m[1] != wantTitle {
			found = append(found, fmt.Sprintf("title %q, want %q", m, wantTitle))
		}
	}
	return found
}

// assertNoScriptRan fails when a DOM shows any trace of executed script.
func assertNoScriptRan(t *testing.T, what, dom, wantTitle string) {
	t.Helper()
	if found := scriptTraces(dom, wantTitle); len(found) > 0 {
		t.Errorf("%s: script ran (%q):\n%s", what, found, dom)
	}
}

// controlHandler serves the hostile content as it is, with neither
// policy nor sanitiser, to prove that the browser procedure sees script
// that runs.
func controlHandler(body, full string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/", "/full":
			if r.URL.Path == "/full" {
				body = full
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><html><head><title>control</title></head><body>\n%s</body></html>\n", body)
		case "/img/evil.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			w.Write([]byte(hostileSVGScript))
		default:
			http.NotFound(w, r)
		}
	})
}

func TestBrowserHostileContentNeverRuns(t *testing.T) {
	chromiumPath(t)
	t.Parallel()
	evil, evilLog := newLoggedServer(t, http.NotFoundHandler())

	// The control: the same script, served raw, runs in the same procedure.
	control, _ := newLoggedServer(t, controlHandler(hostileBody(evil.URL, true), hostileBody(evil.URL, false)))
	dom := dumpDOM(t, control.URL+"/")
	for _, v := range scriptVectors {
		if v.control && !strings.Contains(dom, pwnedAttr+"-"+v.name) {
			t.Errorf("control: vector %s did not run, so the test cannot see script run:\n%s", v.name, dom)
		}
	}
	if !strings.Contains(dom, pwnedText) || !strings.Contains(dom, "<title>"+pwnedTitle+"</title>") {
		t.Errorf("control: inline script's text and title missing:\n%s", dom)
	}
	if found := scriptTraces(dom, "control"); len(found) < 3 {
		t.Errorf("control: the check finds only %q of the script that ran", found)
	}
	dom = dumpDOM(t, control.URL+"/img/evil.svg")
	if !strings.Contains(dom, pwnedAttr+"-svg-entry") {
		t.Errorf("control: script in the SVG did not run:\n%s", dom)
	}
	// Served raw, the full hostile body makes the browser contact the
	// third party, so its silence below means something.
	dumpDOM(t, control.URL+"/full")
	if len(evilLog.all()) == 0 {
		t.Errorf("control: the raw hostile body did not make the browser contact the third party")
	}
	t.Logf("control: third party saw %q", evilLog.all())

	// A fresh third party for the mirror, so that a late request of the
	// control cannot count against it.
	evil, evilLog = newLoggedServer(t, http.NotFoundHandler())

	// The mirror.
	f := newFixture(t, nil)
	f.publish(item("browser-hostile", "text/html", hostileBody(evil.URL, false), "en", "Browser hostile",
		bundle.File{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(hostileSVGScript)}))
	srv, mirrorLog := newLoggedServer(t, f.h)
	page := srv.URL + "/p/" + f.alpha.ID() + "/a/browser-hostile/"
	dom = dumpDOM(t, page)
	assertNoScriptRan(t, "article page", dom, "Browser hostile · samizdat mirror")
	if !strings.Contains(dom, "Hostile article, kept readable.") || !strings.Contains(dom, "Provenance") {
		t.Errorf("article page: the DOM is not the article's (navigated away?):\n%s", dom)
	}
	for _, bad := range []string{"javascript:", "<iframe", "<base", "<meta http-equiv", "<script", "onerror", "onload", "expression(", "<object", "<embed", "<form"} {
		if strings.Contains(strings.ToLower(dom), strings.ToLower(bad)) {
			t.Errorf("article page: DOM contains %q", bad)
		}
	}
	if !mirrorLog.has("GET", "/p/"+f.alpha.ID()+"/a/browser-hostile/img/evil.svg", 200) {
		t.Errorf("the page's SVG image was not loaded; mirror requests: %q", mirrorLog.all())
	}
	// The entries opened on their own, as a reader following a link would.
	dom = dumpDOM(t, page+"img/evil.svg")
	assertNoScriptRan(t, "SVG entry loaded directly", dom, "")
	if !strings.Contains(dom, "<circle") {
		t.Errorf("SVG entry: not shown as SVG:\n%s", dom)
	}
	dom = dumpDOM(t, page+"index.html")
	assertNoScriptRan(t, "body entry loaded directly", dom, "")
	if r := evilLog.all(); len(r) > 0 {
		t.Errorf("the browser contacted a third party from the mirror's pages: %q", r)
	}
	for _, r := range mirrorLog.all() {
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
	chromiumPath(t)
	t.Parallel()
	f := newFixture(t, nil)
	f.publish(item("browser-fa", "text/html", persianBody, "fa", "آینه‌ای برای خبرها"))
	srv, _ := newLoggedServer(t, f.h)
	page := srv.URL + "/p/" + f.alpha.ID() + "/a/browser-fa/"

	dom := dumpDOM(t, page)
	if !regexp.MustCompile(`<article lang="fa" dir="rtl">`).MatchString(dom) {
		t.Errorf("article element not lang=fa dir=rtl in the browser's DOM:\n%s", dom)
	}
	if !strings.Contains(dom, "کوتاه.") {
		t.Errorf("Persian body missing from the DOM")
	}
	if !regexp.MustCompile(`<aside class="provenance" lang="en" dir="ltr">`).MatchString(dom) {
		t.Errorf("provenance box not left-to-right")
	}

	shot := screenshot(t, page)
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG: % x", shot[:min(len(shot), 8)])
	}
	if len(shot) < browserMinPNG {
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
	chromiumPath(t)
	t.Parallel()
	f := newFixture(t, nil)
	srv, mirrorLog := newLoggedServer(t, f.h)

	// Pages carry no script at all, and the policy forbids any: what the
	// browser shows works without JavaScript.
	for _, p := range []string{"/", "/p/" + f.alpha.ID() + "/", "/p/" + f.alpha.ID() + "/a/plain/", "/status"} {
		if r := f.get(p); strings.Contains(strings.ToLower(r.body), "<script") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: page holds script or lacks the policy", p)
		}
	}
	dom := dumpDOM(t, srv.URL+"/")
	for _, id := range []string{"plain", "markdown", "farsi", "hostile"} {
		if !strings.Contains(dom, `href="/p/`+f.alpha.ID()+`/a/`+id+`/"`) {
			t.Errorf("index: no link to article %s:\n%s", id, dom)
		}
	}
	if !strings.Contains(dom, `<link rel="stylesheet" href="/static/style.css">`) {
		t.Errorf("index: no style sheet link")
	}
	if !mirrorLog.has("GET", "/static/style.css", 200) {
		t.Errorf("the browser did not load the style sheet: %q", mirrorLog.all())
	}

	// The style sheet is applied: the index's column is centred with wide
	// empty margins (max-width 44rem in a 1024 px window); unstyled, text
	// would start at the left edge.
	img, err := png.Decode(bytes.NewReader(screenshot(t, srv.URL+"/")))
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
