//go:build linux

package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/verifier"
)

// TestBrowserVerifierNotFramed (red team, issue 11): a page on another
// origin, here another loopback address (another site), frames the
// mirror's /verify.html with a fragment of its choosing. Framed, the
// page's script would run in the mirror's origin, out of the reader's
// sight: pin the key the hostile page gives (in browsers that do not
// partition a frame's storage) and fetch from the mirrors it names, under
// a button it can overlay. The mirror's other pages refuse to be framed;
// /verify.html must too (frame-ancestors 'none'). The framed page's script
// fetching the key statement is the sign that it ran.
func TestBrowserVerifierNotFramed(t *testing.T) {
	browsertest.Chromium(t)
	t.Parallel()
	f := newFixture(t, nil)
	mirror, mirrorLog := browsertest.NewLoggedServer(t, f.h)

	// The control: the same frame of a copy of the page served without
	// the mirror's headers, and without the page's own refusal to run
	// framed (its CSP hash made anew), runs, so the test can see a framed
	// page run.
	page, script := verifierPage(t, mirror.URL), verifier.Script()
	framable := strings.Replace(script, "window.top !== window.self", "false", 1)
	cspHash := func(s string) string { h := sha256.Sum256([]byte(s)); return base64.StdEncoding.EncodeToString(h[:]) }
	page = strings.Replace(strings.Replace(page, script, framable, 1), cspHash(script), cspHash(framable), 1)
	if framable == script || !strings.Contains(page, cspHash(framable)) {
		t.Fatal("the page's frame check or its CSP hash is not where the control expects it")
	}
	control, controlLog := browsertest.NewLoggedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/verify.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
			return
		}
		f.h.ServeHTTP(w, r)
	}))

	key := f.alpha.Root.Public().String()
	pub := "/p/" + f.alpha.ID() + "/key-statement"
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		log  *browsertest.RequestLog
		runs bool
	}{
		{"control", control, controlLog, true},
		{"mirror", mirror, mirrorLog, false},
	} {
		frag := "#k=" + url.QueryEscape(key) + "&m=" + url.QueryEscape(tc.srv.URL+"/") + "&a=article"
		evil := serveOn(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><html><body><iframe src="%s" width="800" height="600"></iframe></body></html>`,
				html.EscapeString(tc.srv.URL+"/verify.html"+frag))
		}))
		browsertest.DumpDOM(t, evil+"/")
		ran := false
		for _, r := range tc.log.All() {
			if strings.HasPrefix(r, "GET "+pub+" ") {
				ran = true
			}
		}
		if ran != tc.runs {
			t.Errorf("%s: the framed verifier ran: %v, want %v (requests %q)", tc.name, ran, tc.runs, tc.log.All())
		}
	}
}

// verifierPage returns the body of the mirror's /verify.html.
func verifierPage(t *testing.T, mirror string) string {
	t.Helper()
	resp, err := http.Get(mirror + "/verify.html")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serveOn serves h on host (a loopback address), returning its base URL.
func serveOn(t *testing.T, host string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}
