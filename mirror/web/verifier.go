package web

import (
	"bytes"
	"net/http"
	"time"

	"github.com/samizdat-news/samizdat/verifier"
)

// verifierCSP is the policy /verify.html is sent with: the page's own,
// which allows its script, and frame-ancestors 'none'.
var verifierCSP = []string{verifier.CSP() + "; frame-ancestors 'none'"}

// serveVerifier serves the browser verifier page (package verifier), which
// checks in the reader's browser what it reads from this mirror or any
// other. It is sent with the page's own Content-Security-Policy, the one
// its meta element states, in place of the mirror's policy for pages,
// which allows no script; to it the header adds frame-ancestors 'none',
// which a meta element cannot state. Like the mirror's other pages, the
// verifier refuses to be framed (X-Frame-Options: DENY too, for older
// browsers): framed by a page on another site, its script would run in
// the mirror's origin out of the reader's sight, with a fragment (key to
// pin, mirrors to ask) that page chose, under buttons it can overlay.
func (h *Handler) serveVerifier(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd["Content-Security-Policy"] = verifierCSP
	hd["X-Frame-Options"] = frameDeny
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("ETag", `"`+verifier.SHA256()+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(verifier.Page()))
}
