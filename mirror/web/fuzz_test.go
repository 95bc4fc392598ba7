package web_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary request lines through the handler: whatever
// the method, path and query, the answer is never a server error, and
// every HTML answer carries the page policy.
func FuzzRequest(f *testing.F) {
	fx := newFixture(f, nil)
	a := fx.alpha.ID()
	d := fx.digest("hostile").String()
	for _, s := range []string{
		"/", "/status", "/healthz", "/static/style.css", "/api/publishers",
		"/p/" + a + "/", "/p/" + a + "/?page=2", "/p/" + a + "/a/hostile/", "/p/" + a + "/a/withdrawn/",
		"/p/" + a + "/a/hostile/img/photo.png", "/p/" + a + "/a/hostile/../x", "/p/" + a + "/a/hostile/img%2f..%2f..",
		"/p/" + a + "/tile/0/000.p/2", "/p/" + a + "/tile/entries/000.p/3",
		"/p/" + a + "/tile/1/x001/000.p/3", "/p/" + a + "/feed.atom", "/b/" + d, "/b/zz",
		"/api/p/" + a + "/articles?page=1", "/api/p/" + a + "/a/hostile", "//", "/%00", "/p//a//",
	} {
		f.Add("GET", s, "zstd")
	}
	f.Add("POST", "/", "")
	f.Add("HEAD", "/p/"+a+"/a/hostile/img/logo.svg", "gzip, zstd;q=0")
	f.Fuzz(func(t *testing.T, method, target, enc string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: mirror\r\nAccept-Encoding: " + enc + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d: %s", raw, rec.Code, rec.Body.String())
		}
		h := rec.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%q: no nosniff", raw)
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") && h.Get("Content-Security-Policy") != pageCSP {
			t.Fatalf("%q: HTML without the page policy", raw)
		}
	})
}
