package web

import (
	"net/http"
	"net/url"
	"testing"
)

// publicKinds are the route kinds (routeKinds) of the reader routes,
// which carry Access-Control-Allow-Origin; the others never do.
var publicKinds = map[string]bool{
	"log": true, "bundle": true, "api": true, "entry": true,
	"page": false, "redirect": false, "static": false, "feed": false, "ops": false,
}

// checkPublicPath checks that publicPath, which looks at a path's shape,
// agrees with the route the mux picks for it: every path that a reader
// route serves is public, and none that a page or operations route
// serves is.
func checkPublicPath(t *testing.T, mux *http.ServeMux, p string) {
	if !cleanPath(p) {
		return // refused before routing
	}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}, Host: "mirror.example"}
	_, pattern := mux.Handler(r)
	kind := routeKinds[pattern]
	if kind == "" {
		return // not found: the path's shape decides, either way is fine
	}
	public, known := publicKinds[kind]
	if !known {
		t.Fatalf("route kind %q of %s: add it to publicKinds", kind, pattern)
	}
	if got := publicPath(p); got != public {
		t.Errorf("publicPath(%q) = %v, but its route %s is of kind %s", p, got, pattern, kind)
	}
}

func testMux() *http.ServeMux {
	h := &Handler{}
	h.routes()
	return h.mux
}

func TestPublicPath(t *testing.T) {
	mux := testMux()
	pub := "/p/0123456789abcdef0123456789abcdef"
	for _, p := range []string{
		"/", "/status", "/static/style.css", "/healthz", "/metrics",
		pub, pub + "/", pub + "/feed.atom", pub + "/key-statement", pub + "/checkpoint", pub + "/mirrors",
		pub + "/tile/0/000", pub + "/tile/entries/x001/234.p/5", pub + "/index/12/a", pub + "/index/12/a/b",
		pub + "/a/x", pub + "/a/x/", pub + "/a/x/index.html", pub + "/a/x/img/y.png", pub + "/a/x/img/",
		pub + "/a/index.html/", "/p/a/checkpoint", "/p/a/a/b/c",
		"/b/" + "00", "/api/publishers", "/api/peers", "/api/p/x/articles", "/api/p/x/a/y",
	} {
		checkPublicPath(t, mux, p)
	}
	// Every route kind is known, so a new route cannot slip through.
	for pattern, kind := range routeKinds {
		if _, ok := publicKinds[kind]; !ok {
			t.Errorf("route %s of kind %q: add the kind to publicKinds", pattern, kind)
		}
	}
}

func FuzzPublicPath(f *testing.F) {
	for _, s := range []string{"/p/x/a/y/z", "/p/x/a/y/", "/b/", "/api/", "/p/x/tile/0/000", "/p/x/index/1/a", "/p//checkpoint"} {
		f.Add(s)
	}
	mux := testMux()
	f.Fuzz(func(t *testing.T, p string) {
		checkPublicPath(t, mux, p)
	})
}
