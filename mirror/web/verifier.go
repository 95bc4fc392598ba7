package web

import (
	"bytes"
	"net/http"
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
