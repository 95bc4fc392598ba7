package web_test

import (
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/verifier"
)

// TestVerifierRoute: /verify.html is the verifier page, under its own
// policy (the mirror's page policy allows no script), and, as every page
// of the mirror, not to be framed.
func TestVerifierRoute(t *testing.T) {
	f := newFixture(t, nil)
	r := f.get("/verify.html")
	if r.StatusCode != 200 || r.body != string(verifier.Page()) || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/verify.html: %d %q, %d bytes", r.StatusCode, r.Header.Get("Content-Type"), len(r.body))
	}
	checkSecurityHeaders(t, "/verify.html", r, verifier.CSP()+"; frame-ancestors 'none'")
	if r.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/verify.html: X-Frame-Options %q, want DENY", r.Header.Get("X-Frame-Options"))
	}
	if !strings.Contains(r.body, `content="`+verifier.CSP()+`"`) {
		t.Error("the header policy is not the page's own")
	}
	if r2 := f.get("/verify.html", "If-None-Match: "+r.Header.Get("ETag")); r2.StatusCode != 304 {
		t.Errorf("conditional request: %d", r2.StatusCode)
	}
}
