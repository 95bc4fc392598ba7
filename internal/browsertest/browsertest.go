//go:build linux

// Package browsertest drives headless Chromium for the tests of pages
// (the mirror's and the local reader's): it loads pages over loopback,
// dumps their DOM or screenshots them, and carries hostile content whose
// script, if it ever ran, leaves traces in the DOM. A Browser (devtools.go)
// keeps one Chromium for many pages, driven over the DevTools protocol:
// it sizes the window (Phone, Desktop), evaluates script, saves
// screenshots in ScreenshotDir and runs axe-core, installed by npm ci in
// internal/browsertest/axe at the version its package-lock.json pins.
// Tests are skipped when no Chromium (or, for Axe, no axe-core) is
// installed, unless SAMIZDAT_REQUIRE_BROWSER=1 (as in CI, which installs
// both), in which case they fail.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
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
)

const (
	// browserTimeout bounds one Chromium run.
	browserTimeout = 30 * time.Second
	// browserMaxOutput bounds what is kept of a run's stdout (the dumped
	// DOM) and stderr.
	browserMaxOutput = 4 << 20
	browserMaxStderr = 64 << 10
	// MinPNG is the least size of a screenshot of a real page:
	// a blank 1024x1400 PNG is about 7 KB.
	MinPNG = 20 << 10
)

// Chromium returns the Chromium binary, skipping the test when there
// is none unless SAMIZDAT_REQUIRE_BROWSER=1.
func Chromium(t *testing.T) string {
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

// Run runs headless Chromium with a fresh profile on the given
// arguments and returns its stdout. The browser and everything it started
// run in their own process group, killed when the run ends or times out.
func Run(t *testing.T, args ...string) string {
	t.Helper()
	bin := Chromium(t)
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

// DumpDOM loads url and returns the DOM as serialised after the load event
// and once the page's timers (up to 2 s of virtual time, so that a meta
// refresh or a setTimeout would fire) have run.
func DumpDOM(t *testing.T, url string) string {
	t.Helper()
	dom := Run(t, "--virtual-time-budget=2000", "--dump-dom", url)
	if strings.TrimSpace(dom) == "" {
		t.Fatalf("chromium dumped an empty DOM for %s", url)
	}
	return dom
}

// Screenshot loads url in a 1024x1400 window, saves the PNG in
// ScreenshotDir under the test's name and returns it.
func Screenshot(t *testing.T, url string) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "shot.png")
	Run(t, "--window-size=1024,1400", "--screenshot="+file, url)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no screenshot of %s: %v", url, err)
	}
	SaveScreenshot(t, regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"), b)
	return b
}

// RequestLog records the requests a server answered, with their status.
type RequestLog struct {
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

func (l *RequestLog) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		l.reqs = append(l.reqs, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), sw.code))
		l.mu.Unlock()
	})
}

func (l *RequestLog) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

func (l *RequestLog) Has(method, path string, code int) bool {
	want := fmt.Sprintf("%s %s %d", method, path, code)
	for _, r := range l.All() {
		if r == want {
			return true
		}
	}
	return false
}

// NewLoggedServer serves h on loopback, logging its requests.
func NewLoggedServer(t *testing.T, h http.Handler) (*httptest.Server, *RequestLog) {
	t.Helper()
	l := &RequestLog{}
	srv := httptest.NewServer(l.Wrap(h))
	t.Cleanup(srv.Close)
	return srv, l
}

// Traces left by script that ran. The hostile content builds them by
// concatenation, so they appear in a DOM only if its script executed.
const (
	PwnedAttr  = "data-pwned"
	PwnedText  = "PWNED-BY-SCRIPT"
	PwnedTitle = "PWNED"
)

// ScriptVectors are the ways of running script that the browser test
// tries; each leaves its own trace (data-pwned-<name>) when it runs.
// "{evil}" is replaced by the URL of a loopback server that must never
// be contacted. The first five run in a page without policy and sanitiser
// (the control); the rest need a click or navigate away, and are checked
// through the "evil" server and the DOM only.
var ScriptVectors = []struct {
	Name, HTML string
	Control    bool
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

// HostileSVGScript is an SVG image entry with script; run, it marks the
// document.
const HostileSVGScript = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="document.documentElement.setAttribute('data-'+'pwned-svg-entry-onload','1')">` +
	`<script>document.documentElement.setAttribute('data-'+'pwned-svg-entry','1')</script><circle cx="20" cy="20" r="10"/></svg>`

func HostileBody(evil string, controlOnly bool) string {
	var b strings.Builder
	b.WriteString("<p>Hostile article, kept readable.</p>\n")
	for _, v := range ScriptVectors {
		if controlOnly && !v.Control {
			continue
		}
		b.WriteString(strings.ReplaceAll(v.HTML, "{evil}", evil))
		b.WriteString("\n")
	}
	b.WriteString(`<p><img src="img/evil.svg" alt="svg entry"></p>` + "\n")
	return b.String()
}

// ScriptTraces returns the traces of executed script a DOM shows: a
// trace attribute or text, or a title other than wantTitle (if given).
func ScriptTraces(dom, wantTitle string) []string {
	var found []string
	for _, trace := range []string{PwnedAttr, PwnedText} {
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

// AssertNoScriptRan fails when a DOM shows any trace of executed script.
func AssertNoScriptRan(t *testing.T, what, dom, wantTitle string) {
	t.Helper()
	if found := ScriptTraces(dom, wantTitle); len(found) > 0 {
		t.Errorf("%s: script ran (%q):\n%s", what, found, dom)
	}
}

// ControlHandler serves the hostile content as it is, with neither
// policy nor sanitiser, to prove that the browser procedure sees script
// that runs.
func ControlHandler(body, full string) http.Handler {
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
			w.Write([]byte(HostileSVGScript))
		default:
			http.NotFound(w, r)
		}
	})
}
