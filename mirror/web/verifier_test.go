package web_test

import (
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/verifier"
)

// TestVerifierRoute: /verify.html is the verifier page, under its own
// policy (the mirror's page policy allows no script); the reader routes,
// and only they, may be read from any origin (the page opened from disk
// or from another mirror).
func TestVerifierRoute(t *testing.T) {
	f := newFixture(t, nil)
	r := f.get("/verify.html")
	if r.StatusCode != 200 || r.body != string(verifier.Page()) || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/verify.html: %d %q, %d bytes", r.StatusCode, r.Header.Get("Content-Type"), len(r.body))
	}
	checkSecurityHeaders(t, "/verify.html", r, verifier.CSP())
	if !strings.Contains(r.body, `content="`+verifier.CSP()+`"`) {
		t.Error("the header policy is not the page's own")
	}
	if r2 := f.get("/verify.html", "If-None-Match: "+r.Header.Get("ETag")); r2.StatusCode != 304 {
		t.Errorf("conditional request: %d", r2.StatusCode)
	}
	a := "/p/" + f.alpha.ID()
	for path, cors := range map[string]bool{
		a + "/key-statement":                 true,
		a + "/checkpoint":                    true,
		a + "/mirrors":                       true,
		a + "/tile/0/000.p/9":                true,
		a + "/tile/entries/000.p/9":          true,
		a + "/index/9/hostile":               true,
		a + "/a/hostile/index.html":          true,
		a + "/a/hostile/img/photo.png":       true,
		"/b/" + f.digest("hostile").String(): true,
		"/":                                  false,
		"/verify.html":                       false,
		a + "/":                              false,
		a + "/a/hostile/":                    false,
		a + "/feed.atom":                     false,
		"/api/publishers":                    false,
		"/static/style.css":                  false,
		a + "/checkpoint/extra":              false,
	} {
		if got := f.get(path).Header.Get("Access-Control-Allow-Origin"); (got == "*") != cors {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want it %v", path, got, cors)
		}
	}
}
