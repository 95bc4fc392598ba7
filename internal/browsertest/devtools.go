//go:build linux

package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of a DevTools session.
const (
	// devtoolsMaxMessage bounds one message from the browser (a
	// screenshot, base64-encoded, is the largest).
	devtoolsMaxMessage = 64 << 20
	// devtoolsCallTimeout bounds one call, a page load included.
	devtoolsCallTimeout = 30 * time.Second
	// browserLife bounds the whole life of a Browser: the tests that
	// share it must be done by then.
	browserLife = 5 * time.Minute
	// maxShotHeight bounds a full-page screenshot, in CSS pixels.
	maxShotHeight = 6000
)

// Browser is one headless Chromium driven over the DevTools protocol
// through a pipe (--remote-debugging-pipe: the browser reads commands on
// its file descriptor 3 and writes answers and events on 4, each a JSON
// object ended by a NUL byte). Starting Chromium costs about a second,
// so one Browser serves many pages, each in its own tab. A Browser is
// safe for concurrent use; it is closed, with every process it started,
// when the test that started it ends.
type Browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	toB     *os.File // commands to the browser
	stderr  *capWriter
	writeMu sync.Mutex

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan devtoolsMessage
	loaded  map[string]chan struct{} // session ID -> load events
	dead    error                    // why the pipe closed
	done    chan struct{}            // closed when the reader stops
}

type devtoolsMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// StartBrowser starts headless Chromium for the test and its subtests,
// skipping the test when there is none (see Chromium).
func StartBrowser(t *testing.T) *Browser {
	t.Helper()
	bin := Chromium(t)
	profile, err := os.MkdirTemp("", "samizdat-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	// Pipes: the browser reads cmdR (fd 3) and writes evW (fd 4).
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserLife)
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-proxy-server",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--font-render-hinting=none", "--force-color-profile=srgb",
		"--remote-debugging-pipe", "--user-data-dir="+profile, "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	b := &Browser{t: t, cmd: cmd, toB: cmdW, stderr: &capWriter{max: browserMaxStderr},
		pending: map[int64]chan devtoolsMessage{}, loaded: map[string]chan struct{}{}, done: make(chan struct{})}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting chromium: %v", err)
	}
	cmdR.Close()
	evW.Close()
	go b.read(evR)
	t.Cleanup(func() {
		cmdW.Close() // the browser exits when its command pipe closes
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		cancel()
		evR.Close()
	})
	return b
}

// read dispatches the browser's messages until the pipe closes.
func (b *Browser) read(r *os.File) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), devtoolsMaxMessage)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		var m devtoolsMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.pending[m.ID]; ch != nil {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else if m.Method == "Page.loadEventFired" {
			if ch := b.loaded[m.SessionID]; ch != nil {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.dead = fmt.Errorf("browsertest: chromium closed its DevTools pipe (%v); stderr:\n%s", sc.Err(), browserStderr(b.stderr.String()))
	for id, ch := range b.pending {
		delete(b.pending, id)
		close(ch)
	}
	b.mu.Unlock()
}

// call sends one command and decodes its result into out (if not nil).
func (b *Browser) call(session, method string, params, out any) error {
	b.mu.Lock()
	if b.dead != nil {
		b.mu.Unlock()
		return b.dead
	}
	b.nextID++
	id := b.nextID
	ch := make(chan devtoolsMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(devtoolsMessage{ID: id, SessionID: session, Method: method, Params: params})
	if err != nil {
		return err
	}
	b.writeMu.Lock()
	_, err = b.toB.Write(append(msg, 0))
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	timer := time.NewTimer(devtoolsCallTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.dead
		}
		if m.Error != nil {
			return fmt.Errorf("browsertest: %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-timer.C:
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("browsertest: %s: no answer within %v", method, devtoolsCallTimeout)
	}
}

// Viewport is a window size, in CSS pixels; Mobile emulates a phone
// (the page's viewport meta tag applies, touch, no scroll bars), and
// Dark a reader who prefers a dark colour scheme.
type Viewport struct {
	Name          string // for file names: "phone", "desktop"
	Width, Height int
	Mobile        bool
	Dark          bool
}

// The two sizes every page is checked at, a common phone and a laptop,
// and the phone in dark mode.
var (
	Phone     = Viewport{Name: "phone", Width: 390, Height: 844, Mobile: true}
	Desktop   = Viewport{Name: "desktop", Width: 1366, Height: 900}
	PhoneDark = Viewport{Name: "phone-dark", Width: 390, Height: 844, Mobile: true, Dark: true}
)

// Page is one tab of a Browser.
type Page struct {
	b       *Browser
	target  string
	session string
	URL     string
	View    Viewport
}

// Open opens url in a new tab at the viewport's size and waits for its
// load event.
func (b *Browser) Open(t *testing.T, url string, v Viewport) *Page {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	p := &Page{b: b, target: target.TargetID, session: att.SessionID, URL: url, View: v}
	t.Cleanup(p.close)
	loaded := make(chan struct{}, 1)
	b.mu.Lock()
	b.loaded[p.session] = loaded
	b.mu.Unlock()
	for _, c := range []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": v.Width, "height": v.Height, "deviceScaleFactor": 1, "mobile": v.Mobile}},
		{"Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": map[bool]string{false: "light", true: "dark"}[v.Dark]}}}},
		{"Page.navigate", map[string]any{"url": url}},
	} {
		if err := b.call(p.session, c.method, c.params, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-loaded:
	case <-time.After(devtoolsCallTimeout):
		t.Fatalf("browsertest: %s did not load within %v", url, devtoolsCallTimeout)
	}
	return p
}

func (p *Page) close() {
	p.b.call("", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
	p.b.mu.Lock()
	delete(p.b.loaded, p.session)
	p.b.mu.Unlock()
}

// Eval evaluates a JavaScript expression in the page (awaiting it if it
// is a promise) and decodes its value, which must be JSON, into out.
// The page's Content-Security-Policy does not apply to what DevTools
// evaluates.
func (p *Page) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(p.session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		if e.Exception != nil {
			return fmt.Errorf("browsertest: script failed: %s", firstLine(e.Exception.Description))
		}
		return fmt.Errorf("browsertest: script failed: %s", e.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Screenshot returns a PNG of the page: of the viewport, or of the whole
// page (up to maxShotHeight pixels tall) if full.
func (p *Page) Screenshot(t *testing.T, full bool) []byte {
	t.Helper()
	params := map[string]any{"format": "png"}
	if full {
		var h float64
		if err := p.Eval("document.documentElement.scrollHeight", &h); err != nil {
			t.Fatal(err)
		}
		h = max(min(h, maxShotHeight), float64(p.View.Height))
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": p.View.Width, "height": h, "scale": 1}
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := p.b.call(p.session, "Page.captureScreenshot", params, &res); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	return png
}

// ScreenshotDir returns the folder where SaveScreenshot saves:
// $SAMIZDAT_SCREENSHOTS if set, else screenshots/ at the root of the
// repository (ignored by git).
func ScreenshotDir() string {
	if d := os.Getenv("SAMIZDAT_SCREENSHOTS"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "screenshots")
}

// SaveScreenshot writes a PNG as NAME.png in ScreenshotDir, creating it,
// and returns the file's path. NAME keeps letters, digits, '-' and '_'.
func SaveScreenshot(t *testing.T, name string, png []byte) string {
	t.Helper()
	dir := ScreenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	file := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return file
}

// repoRoot returns the root of the repository, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// axeScript returns the source of axe-core as installed by `npm ci` in
// internal/browsertest/axe (.ci/run does it), skipping the test when it
// is missing unless SAMIZDAT_REQUIRE_BROWSER=1.
func axeScript(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(file), "axe", "node_modules", "axe-core", "axe.min.js"))
	if errors.Is(err, os.ErrNotExist) {
		if os.Getenv("SAMIZDAT_REQUIRE_BROWSER") == "1" {
			t.Fatal("axe-core is not installed (run npm ci in internal/browsertest/axe) and SAMIZDAT_REQUIRE_BROWSER=1")
		}
		t.Skip("axe-core is not installed: run npm ci in internal/browsertest/axe (set SAMIZDAT_REQUIRE_BROWSER=1 to require it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// AxeAvailable skips the test (or fails it, as Chromium does) when
// axe-core is not installed.
func AxeAvailable(t *testing.T) {
	t.Helper()
	axeScript(t)
}

// Violation is one rule of axe-core a page breaks, with the elements that
// break it.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"` // minor, moderate, serious or critical
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n    … and %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

// Axe runs axe-core's checks on the page as it is (WCAG 2.0, 2.1 and 2.2,
// levels A and AA, and best practices) and returns the violations.
func (p *Page) Axe(t *testing.T) []Violation {
	t.Helper()
	if err := p.Eval(axeScript(t)+"\n;true", nil); err != nil {
		t.Fatalf("loading axe-core into %s: %v", p.URL, err)
	}
	var out []Violation
	err := p.Eval(`axe.run(document, {resultTypes: ["violations"], runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}).then(r => r.violations)`, &out)
	if err != nil {
		t.Fatalf("axe on %s: %v", p.URL, err)
	}
	return out
}

// Serious returns the violations of impact serious or critical.
func Serious(vs []Violation) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

// Overflow lists the elements wider than the window (at most ten), which
// a reader on a phone would have to scroll sideways to read.
func (p *Page) Overflow(t *testing.T) []string {
	t.Helper()
	var over []string
	if err := p.Eval(overflowScript, &over); err != nil {
		t.Fatal(err)
	}
	return over
}

const overflowScript = `(() => {
  const w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth > w) out.push("page: " + document.documentElement.scrollWidth + " px");
  for (const e of document.body.querySelectorAll("*")) {
    if (out.length >= 10) break;
    const r = e.getBoundingClientRect();
    if (r.right > w + 1 || r.left < -1) out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + ": " + Math.round(r.left) + " to " + Math.round(r.right) + " px");
  }
  return out;
})()`

// CheckPage opens url at the viewport's size and checks it as a reader
// meets it: nothing is wider than the window, and axe-core finds no
// violation of impact serious or critical. It saves a screenshot as
// NAME-VIEWPORT.png in ScreenshotDir (and, on a phone, one of the whole
// page as NAME-VIEWPORT-full.png) and returns the files saved.
func (b *Browser) CheckPage(t *testing.T, url, name string, v Viewport) []string {
	t.Helper()
	p := b.Open(t, url, v)
	if over := p.Overflow(t); len(over) > 0 {
		t.Errorf("%s: wider than the %d px window: %q", url, v.Width, over)
	}
	saved := []string{SaveScreenshot(t, name+"-"+v.Name, p.Screenshot(t, false))}
	if v.Mobile {
		saved = append(saved, SaveScreenshot(t, name+"-"+v.Name+"-full", p.Screenshot(t, true)))
	}
	for _, vi := range Serious(p.Axe(t)) {
		t.Errorf("%s: axe: %s", url, vi)
	}
	return saved
}
