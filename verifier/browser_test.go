//go:build linux

package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/browsertest"
)

// The browser tests load the page in headless Chromium over loopback (a
// secure context, so WebCrypto is there) and call the samizdat object its
// script defines, on the same vectors the Go tests load, under both
// implementations: "webcrypto" (the browser's Ed25519 and SHA-256) and
// "pure" (the page's own JavaScript).
var engines = []string{"webcrypto", "pure"}

// openPage starts Chromium and returns a tab that has loaded the verifier page.
func openPage(t *testing.T) *browsertest.Page {
	t.Helper()
	b := browsertest.StartBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(Page())
	}))
	t.Cleanup(srv.Close)
	p := b.Open(t, srv.URL+"/verify.html", browsertest.Phone)
	var text string
	if err := p.Eval(`samizdat.ready()`, &text); err != nil {
		t.Fatalf("the page's script did not load: %v", err)
	}
	return p
}

// call runs body, an async function of one argument a (args, as JSON), in
// the page, under the given engine, and decodes its result into out.
func call(t *testing.T, p *browsertest.Page, engine, body string, args, out any) {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	expr := `(async (a) => { const s = samizdat; await s.use(` + jsString(engine) + `);
const {hex, unhex} = s; const enc = new TextEncoder();
const refused = async (f) => { try { await f(); return ''; } catch (e) { if (!(e instanceof s.VerifyError)) return 'not a VerifyError: ' + e; return e.message; } };
` + body + `
})(` + string(a) + `)`
	if err := p.Eval(expr, out); err != nil {
		t.Fatalf("%s: %v", engine, err)
	}
}

func TestPage(t *testing.T) {
	p := Page()
	if len(p) > MaxSize {
		t.Errorf("page is %d bytes, more than %d", len(p), MaxSize)
	}
	t.Logf("page: %d bytes (script %d), sha256 %s", len(p), len(script), SHA256())
	s := string(p)
	for _, bad := range []string{"src=", "href=", "@import", "url(", "<link", "<iframe", "<img"} {
		if strings.Contains(s, bad) {
			t.Errorf("page holds %q: it must load nothing from outside", bad)
		}
	}
	if !strings.Contains(s, `http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-`) {
		t.Error("page has no strict CSP meta element")
	}
	if string(Page()) != s {
		t.Error("Page is not the same bytes twice")
	}
}

// TestPageRunsUnderItsCSP checks that the page's own script runs under
// its CSP (the hash is right) and that the page says which
// implementation it uses; and that an inline script the CSP does not
// name does not run.
func TestPageRunsUnderItsCSP(t *testing.T) {
	b := browsertest.StartBrowser(t)
	evil := strings.Replace(string(Page()), "</main>", `<script>document.documentElement.setAttribute('data-pwned','1')</script></main>`, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/evil.html" {
			w.Write([]byte(evil))
			return
		}
		w.Write(Page())
	}))
	defer srv.Close()
	for _, path := range []string{"/verify.html", "/evil.html"} {
		p := b.Open(t, srv.URL+path, browsertest.Phone)
		var text string
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if err := p.Eval(`document.getElementById('engine').textContent`, &text); err != nil {
				t.Fatal(err)
			}
			if text != "not chosen yet" {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling the page's DOM, an external process
		}
		if !strings.HasPrefix(text, "WebCrypto") {
			t.Errorf("%s: the page says %q, want it to use WebCrypto in a secure context", path, text)
		}
		var pwned bool
		if err := p.Eval(`document.documentElement.hasAttribute('data-pwned')`, &pwned); err != nil {
			t.Fatal(err)
		}
		if pwned {
			t.Errorf("%s: an inline script the CSP does not allow ran", path)
		}
	}
}

// TestEngineSays checks that the page names the pure-JS path when it
// uses it.
func TestEngineSays(t *testing.T) {
	p := openPage(t)
	for _, e := range engines {
		var got struct {
			Ed, Sha, Text string
		}
		call(t, p, e, `return s.engine();`, nil, &got)
		if got.Ed != e || got.Sha != e {
			t.Errorf("use(%q): engine %+v", e, got)
		}
		if want := map[string]string{"webcrypto": "WebCrypto", "pure": "pure JavaScript for Ed25519 and SHA-256"}[e]; !strings.HasPrefix(got.Text, want) {
			t.Errorf("use(%q): the page says %q, want %q...", e, got.Text, want)
		}
	}
}
