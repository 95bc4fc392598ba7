package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
)

// Cache-Control values of the reader routes (PROTOCOL.md "Cache headers").
const (
	ccImmutable  = "public, max-age=31536000, immutable"
	ccCheckpoint = "public, max-age=5"
	ccShort      = "public, max-age=60"
)

// TestReaderRouteHeaders checks, route by route, what a cache or CDN in
// front of a mirror acts on: Cache-Control (immutable for tiles, full and
// partial, and bundles; seconds for the checkpoint; a minute for the key
// statement and mirror list; no-store for every error, so a tile that
// does not exist yet is not remembered as missing), Content-Type, a
// validator (ETag), Vary where the body depends on Accept-Encoding, and
// Access-Control-Allow-Origin: * on the reader routes only, errors
// included, never on pages.
func TestReaderRouteHeaders(t *testing.T) {
	f := newFixture(t, nil)
	f.clock.t = f.clock.t.Add(time.Minute)
	if _, err := f.pub.SetMirrors([]string{"https://a.example/"}); err != nil {
		t.Fatal(err)
	}
	f.grow(300) // one full tile of each kind, and a partial one
	a := f.alpha.ID()
	d := f.digest("plain")
	p := "/p/" + a + "/"
	cp, err := catalog.ParseUnverified([]byte(f.get(p + "checkpoint").body))
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.FormatInt(cp.Size, 10)
	older := strconv.FormatInt(cp.Size-1, 10)
	tests := []struct {
		path    string
		code    int
		ctype   string
		cc      string
		vary    string
		etag    bool
		cors    bool
		headers []string
	}{
		// The log and what it points to.
		{p + "key-statement", 200, "text/plain; charset=utf-8", ccShort, "", true, true, nil},
		{p + "checkpoint", 200, "text/plain; charset=utf-8", ccCheckpoint, "", true, true, nil},
		{p + "mirrors", 200, "text/plain; charset=utf-8", ccShort, "", true, true, nil},
		{p + "tile/0/000", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "tile/0/001.p/44", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "tile/1/000.p/1", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "tile/entries/000", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "tile/entries/001.p/44", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "tile/entries/000.p/3", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "index/" + size + "/plain", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{p + "index/" + size + "/never-published", 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{"/b/" + d.String(), 200, "application/octet-stream", ccImmutable, "", true, true, nil},
		{"/b/" + d.String(), 304, "", ccImmutable, "", true, true, []string{`If-None-Match: "` + d.String() + `"`}},
		{p + "a/plain/index.txt", 200, "text/plain; charset=utf-8", "public, max-age=300", "Accept-Encoding", true, true, nil},
		{p + "a/hostile/img/photo.png", 200, "image/png", "public, max-age=300", "Accept-Encoding", true, true, nil},
		// Not there yet, or never: a 404 no cache keeps.
		{p + "tile/0/001.p/45", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "tile/0/002", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "tile/entries/002", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "tile/entries/001.p/45", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "index/" + older + "/plain", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "tile/9/000", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{"/b/" + strings.Repeat("0", 64), 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{"/p/" + f.beta.ID() + "/checkpoint", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{"/p/" + f.beta.ID() + "/tile/0/000.p/1", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "a/nosuch/index.txt", 404, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		{p + "a/withdrawn/index.txt", 410, "text/plain; charset=utf-8", "no-store", "", false, true, nil},
		// The JSON API.
		{"/api/publishers", 200, "application/json", ccCheckpoint, "", false, true, nil},
		{"/api/peers", 200, "application/json", ccShort, "", true, true, nil},
		{"/api" + p + "articles", 200, "application/json", ccCheckpoint, "", false, true, nil},
		{"/api" + p + "a/plain", 200, "application/json", ccShort, "", false, true, nil},
		{"/api" + p + "a/withdrawn", 410, "application/json", "public, max-age=300", "", false, true, nil},
		{"/api" + p + "a/nosuch", 404, "application/json", "no-store", "", false, true, nil},
		// Pages and the feed: cached briefly, never CORS.
		{"/", 200, "text/html; charset=utf-8", ccCheckpoint, "", false, false, nil},
		{"/?lang=en", 200, "text/html; charset=utf-8", ccCheckpoint, "", false, false, nil},
		{p, 200, "text/html; charset=utf-8", ccCheckpoint, "", false, false, nil},
		{p + "a/plain/", 200, "text/html; charset=utf-8", ccShort, "Accept-Encoding", false, false, nil},
		{p + "a/withdrawn/", 410, "text/html; charset=utf-8", "public, max-age=300", "", false, false, nil},
		{p + "a/nosuch/", 404, "text/html; charset=utf-8", "no-store", "", false, false, nil},
		{p + "feed.atom", 200, "application/atom+xml; charset=utf-8", ccShort, "Accept-Encoding", true, false, nil},
		{"/static/style.css", 200, "text/css; charset=utf-8", "public, max-age=86400", "", true, false, nil},
		{"/status", 200, "text/html; charset=utf-8", "no-store", "", false, false, nil},
		{"/healthz", 200, "text/plain; charset=utf-8", "no-store", "", false, false, nil},
		{"/metrics", 200, "", "no-store", "Accept", false, false, nil},
		{"/nosuch", 404, "text/html; charset=utf-8", "no-store", "", false, false, nil},
	}
	for _, tt := range tests {
		r := f.get(tt.path, tt.headers...)
		what := tt.path + " " + strings.Join(tt.headers, " ")
		if r.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d", what, r.StatusCode, tt.code)
			continue
		}
		hd := r.Header
		if got := hd.Get("Content-Type"); tt.ctype != "" && got != tt.ctype {
			t.Errorf("%s: Content-Type %q, want %q", what, got, tt.ctype)
		}
		if got := hd.Get("Cache-Control"); got != tt.cc {
			t.Errorf("%s: Cache-Control %q, want %q", what, got, tt.cc)
		}
		if got := hd.Get("Vary"); got != tt.vary {
			t.Errorf("%s: Vary %q, want %q", what, got, tt.vary)
		}
		if got := hd.Get("ETag") != ""; got != tt.etag {
			t.Errorf("%s: ETag %q, want one: %v", what, hd.Get("ETag"), tt.etag)
		}
		if got, want := hd.Values("Access-Control-Allow-Origin"), tt.cors; (len(got) == 1 && got[0] == "*") != want || len(got) > 1 {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want * %v", what, got, want)
		}
		if hd.Get("Set-Cookie") != "" || hd.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: a cookie or credentials header", what)
		}
	}
}

// TestCORSOnRefusals checks that refusals on a reader route, before any
// route runs, still carry Access-Control-Allow-Origin, so a page that
// reads the mirror learns the status instead of a network error.
func TestCORSOnRefusals(t *testing.T) {
	f := newFixture(t, nil)
	p := "/p/" + f.alpha.ID() + "/"
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{http.MethodPost, p + "checkpoint", http.StatusMethodNotAllowed},
		{http.MethodGet, p + "tile/0/000.p/1?x=1", http.StatusBadRequest},
		{http.MethodGet, p + "tile/0/" + strings.Repeat("x", 2000), http.StatusRequestURITooLong},
		{http.MethodGet, "/b/" + strings.Repeat("z", 64), http.StatusBadRequest},
	} {
		r := f.do(tt.method, tt.path)
		if r.StatusCode != tt.code || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %.60s: %d, Access-Control-Allow-Origin %q, Cache-Control %q", tt.method, tt.path, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"), r.Header.Get("Cache-Control"))
		}
		if tt.code == http.StatusMethodNotAllowed && r.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s %s: Allow %q", tt.method, tt.path, r.Header.Get("Allow"))
		}
	}
}

// TestPreflight checks the answer to a CORS preflight: 204 allowing GET
// and HEAD on the reader routes, 405 without CORS headers elsewhere.
func TestPreflight(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	pre := []string{"Origin: null", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: range"}
	for _, path := range []string{"/p/" + a + "/checkpoint", "/p/" + a + "/key-statement", "/p/" + a + "/mirrors", "/p/" + a + "/tile/entries/000.p/3", "/p/" + a + "/index/7/plain", "/b/" + f.digest("plain").String(), "/api/publishers", "/p/" + a + "/a/plain/index.txt"} {
		r := f.do(http.MethodOptions, path, pre...)
		hd := r.Header
		if r.StatusCode != http.StatusNoContent || r.body != "" ||
			hd.Get("Access-Control-Allow-Origin") != "*" ||
			hd.Get("Access-Control-Allow-Methods") != "GET, HEAD" ||
			!strings.EqualFold(hd.Get("Access-Control-Allow-Headers"), "range") ||
			hd.Get("Access-Control-Max-Age") == "" || hd.Get("Cache-Control") != "no-store" {
			t.Errorf("OPTIONS %s: %d %v", path, r.StatusCode, hd)
		}
	}
	for _, path := range []string{"/", "/p/" + a + "/", "/p/" + a + "/a/plain/", "/p/" + a + "/feed.atom", "/status", "/metrics", "/healthz", "/static/style.css"} {
		r := f.do(http.MethodOptions, path, pre...)
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("OPTIONS %s: %d %v", path, r.StatusCode, r.Header)
		}
	}
}
