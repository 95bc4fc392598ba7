package web

import (
	"net/http"
	"strings"
)

// Cross-origin reads (issue 11). The reader routes serve public data that
// every client verifies itself: the key statement, checkpoint, mirror
// list, tiles, index proofs, bundles, bundle entries and the JSON API. A
// page from any origin, or a verifier page opened from disk (origin
// "null"), may read them, so they carry Access-Control-Allow-Origin: *.
// The value never depends on the request's Origin, so caches need no
// Vary: Origin. Pages for people (HTML, the feed, the style sheet, the
// status page) and the operations routes carry none.
//
// A plain GET with no headers of its own is a CORS "simple request": a
// browser sends it without a preflight. A preflight (OPTIONS with
// Access-Control-Request-Method) on a reader route is answered 204,
// allowing GET and HEAD and the Range header, and may be reused for
// preflightMaxAge; OPTIONS on any other route is 405 like every other
// method but GET and HEAD. The mirror sets no cookies and reads no
// credentials, so Access-Control-Allow-Credentials is never sent.
const (
	// preflightMaxAge is how long, in seconds, a browser may reuse a
	// preflight's answer (Chromium caps it at 7200).
	preflightMaxAge = "86400"
)

// Header values of the CORS responses, shared and never modified.
var (
	corsAnyOrigin    = []string{"*"}
	corsMethods      = []string{"GET, HEAD"}
	corsHeaders      = []string{"Range"}
	corsMaxAge       = []string{preflightMaxAge}
	corsAllow        = []string{"GET, HEAD, OPTIONS"}
	corsPreflightTTL = []string{"no-store"}
)

// publicPath reports whether p is a reader route's path: /b/..., /api/...,
// or /p/{pub}/ followed by key-statement, checkpoint, mirrors, tile/...,
// index/... or an entry a/{id}/{name}. It looks at the path's shape only;
// the route decides whether it exists.
func publicPath(p string) bool {
	switch {
	case strings.HasPrefix(p, "/b/"), strings.HasPrefix(p, "/api/"):
		return true
	case !strings.HasPrefix(p, "/p/"):
		return false
	}
	_, rest, ok := strings.Cut(p[len("/p/"):], "/")
	if !ok {
		return false
	}
	switch {
	case rest == "key-statement", rest == "checkpoint", rest == "mirrors":
		return true
	case rest == "tile", strings.HasPrefix(rest, "tile/"), strings.HasPrefix(rest, "index/"):
		// tile alone is redirected to tile/, and a page that follows
		// the redirect needs the header on it too.
		return true
	case strings.HasPrefix(rest, "a/"):
		// An entry, a/{id}/{name}; a/{id}/ is the article's page.
		_, name, ok := strings.Cut(rest[len("a/"):], "/")
		return ok && name != ""
	}
	return false
}

// preflight answers a CORS preflight request on a reader route.
func preflight(w http.ResponseWriter) {
	hd := w.Header()
	hd["Access-Control-Allow-Methods"] = corsMethods
	hd["Access-Control-Allow-Headers"] = corsHeaders
	hd["Access-Control-Max-Age"] = corsMaxAge
	hd["Allow"] = corsAllow
	hd["Cache-Control"] = corsPreflightTTL
	w.WriteHeader(http.StatusNoContent)
}
