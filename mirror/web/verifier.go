package web

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/verifier"
)

// serveVerifier serves the browser verifier page (package verifier), which
// checks in the reader's browser what it reads from this mirror or any
// other. It is sent with the page's own Content-Security-Policy, the one
// its meta element states, in place of the mirror's policy for pages,
// which allows no script.
func (h *Handler) serveVerifier(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", verifier.CSP())
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("ETag", `"`+verifier.SHA256()+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(verifier.Page()))
}

// anyOrigin is the Access-Control-Allow-Origin of the reader routes.
var anyOrigin = []string{"*"}

// readerRoute reports whether path is one of the routes the verifier page
// fetches, possibly from another origin (a file opened from disk, or
// another mirror's /verify.html): the key statement, checkpoint, mirror
// list, tiles, index proofs, bundles and entries. They serve public,
// signed data, so any origin may read them.
func readerRoute(path string) bool {
	if strings.HasPrefix(path, "/b/") {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/p/")
	if !ok {
		return false
	}
	seg := strings.SplitN(rest, "/", 4) // publisher, route, ...
	if len(seg) < 2 {
		return false
	}
	switch seg[1] {
	case "key-statement", "checkpoint", "mirrors":
		return len(seg) == 2
	case "tile", "index":
		return len(seg) > 2
	case "a": // entries, not the article's page
		return len(seg) == 4 && seg[3] != ""
	}
	return false
}
