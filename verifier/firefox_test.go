//go:build linux

package verifier_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/verifier"
)

// TestFirefoxPage runs the page in headless Firefox (Debian's firefox-esr,
// when installed), which has no DevTools pipe here: a test-only page on
// the mirror's origin opens the page in two windows, one against the
// honest mirror and one against a tampering one, and frames it once, and
// reports each one's data-samizdat, whether the article's text is in its
// DOM and its status to the test server. The framed page must refuse to
// run (a static host sends no frame-ancestors header). It is skipped when
// no Firefox is installed, unless SAMIZDAT_REQUIRE_FIREFOX=1.
//
// (It is TestFirefoxPage; TestFirefoxEd25519 runs the corpus vectors.)
func TestFirefoxPage(t *testing.T) {
	verifier.Firefox(t)
	m := newMirror(t)
	en := browsertest.Articles[0]
	text := "Delegations from both countries ended eight hours of talks"
	tampering := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/b/") {
			b = append([]byte(nil), b...)
			b[len(b)-10] ^= 1
		}
		return b, 0
	})
	results := make(chan string, 3)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/firefox.html":
			honest := fragment(m.pub.Root.Public().String(), en.ID, srv.URL+"/")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><meta charset="utf-8"><title>firefox</title>
<iframe id="framed" src="/verify.html%s"></iframe>
<script>
const wins = {honest: open('/verify.html%s'), tampering: open('/verify.html%s'), framed: document.getElementById('framed').contentWindow};
for (const id in wins) {
  const poll = () => {
    try {
      const d = wins[id].document, s = d && d.documentElement.dataset.samizdat;
      if (s && s !== 'working' && d.getElementById('status').textContent !== 'Starting…') {
        const dom = d.documentElement.outerHTML + [...d.querySelectorAll('iframe')].map((f) => f.srcdoc).join('');
        fetch('/result?r=' + encodeURIComponent([id, s, dom.includes(%q), d.getElementById('status').textContent, d.getElementById('engine').textContent].join('|')));
        return;
      }
    } catch (e) {}
    setTimeout(poll, 100);
  };
  poll();
}
</script>`, honest, honest, fragment(m.pub.Root.Public().String(), en.ID, tampering), text)
		case "/verify.html":
			// The page itself, framable by this test page (a mirror's
			// /verify.html refuses every frame, mirror/web), to show that
			// the page refuses to run framed where no header stops it.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", verifier.CSP())
			w.Write(verifier.Page())
		case "/result":
			results <- r.URL.Query().Get("r")
		default:
			m.h.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()

	start := time.Now()
	got := map[string][]string{}
	for _, r := range verifier.RunFirefox(t, srv.URL+"/firefox.html", results, 3) {
		f := strings.Split(r, "|")
		got[f[0]] = f
	}
	t.Logf("firefox: all three pages settled in %v; the page says it uses %q", time.Since(start).Round(time.Millisecond), got["honest"][4])
	if h := got["honest"]; h[1] != "verified" || h[2] != "true" {
		t.Errorf("honest mirror in firefox: %q", h)
	}
	if tp := got["tampering"]; tp[1] != "failed" || tp[2] != "false" || !strings.Contains(tp[3], "Failed") {
		t.Errorf("tampering mirror in firefox: %q", tp)
	}
	if f := got["framed"]; f[1] != "failed" || f[2] != "false" || !strings.Contains(f[3], "inside a frame") {
		t.Errorf("framed in firefox: %q", f)
	}
}
