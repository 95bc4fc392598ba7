//go:build linux

package verifier

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/samizdat-news/samizdat/internal/browsertest"
)

// TestFrameInheritsCSP checks the article frame's last line of defence,
// should clean() ever let a loading element through: a sandboxed srcdoc
// frame made in the page, with no CSP of its own, holding images, style
// sheets, @import, CSS url(), a frame, an object, a poster and a srcset
// that point at a loopback server, loads none of them, because it
// inherits the page's CSP (default-src 'none', img-src data:); the same
// frame in a page without a CSP loads them (the control, which shows the
// test sees the loads). Firefox (129+) was seen to do the same by hand
// (BENCHMARKS.md, "Red team, fourth session").
func TestFrameInheritsCSP(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/blank" {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<!DOCTYPE html><title>blank</title><body></body>"))
		}
	}))
	defer evil.Close()
	body := `<img src="` + evil.URL + `/img"><link rel=stylesheet href="` + evil.URL + `/css"><style>@import url(` + evil.URL + `/imp); body{background:url(` + evil.URL + `/bg)}</style><div style="background:url(` + evil.URL + `/inline)">x</div><iframe src="` + evil.URL + `/frame"></iframe><video poster="` + evil.URL + `/poster"></video><object data="` + evil.URL + `/obj"></object><meta http-equiv=refresh content="0;url=` + evil.URL + `/refresh"><a id=l href="` + evil.URL + `/link">l</a><img srcset="` + evil.URL + `/srcset 1x">`
	expr := `new Promise((res) => { const f = document.createElement('iframe'); f.sandbox = ''; f.onload = () => res('loaded');
f.srcdoc = '<!DOCTYPE html><html><head></head><body>' + ` + jsString(body) + ` + '</body></html>';
document.body.append(f); })`
	for _, where := range []string{"verify.html", "a page without CSP"} {
		var p *browsertest.Page
		if where == "verify.html" {
			p = openPage(t)
		} else {
			p = browsertest.StartBrowser(t).Open(t, evil.URL+"/blank", browsertest.Phone)
		}
		var out string
		if err := p.Eval(expr, &out); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := strings.Join(hits, " ")
		hits = nil
		mu.Unlock()
		t.Logf("%s: %s; requests: %s", where, out, got)
		if where == "verify.html" && got != "" {
			t.Errorf("the sandboxed frame in the page loaded %s", got)
		}
		if where != "verify.html" && !strings.Contains(got, "/img") {
			t.Errorf("the control frame loaded only %q: the test cannot see loads", got)
		}
	}
}
