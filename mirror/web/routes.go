package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/render"
)

// routes registers every route on the handler's mux. PROTOCOL.md (part 2) documents
// them; keep the two in step.
func (h *Handler) routes() {
	m := http.NewServeMux()
	// Pages for people.
	m.HandleFunc("GET /{$}", h.serveIndex)
	m.HandleFunc("GET /status", h.serveStatus)
	m.HandleFunc("GET /static/style.css", h.serveCSS)
	m.HandleFunc("GET /verify.html", h.serveVerifier)
	m.HandleFunc("GET /p/{pub}/{$}", h.servePublisher)
	m.HandleFunc("GET /p/{pub}", redirectSlash)
	m.HandleFunc("GET /p/{pub}/a/{id}/{$}", h.serveArticle)
	m.HandleFunc("GET /p/{pub}/a/{id}", redirectSlash)
	m.HandleFunc("GET /p/{pub}/a/{id}/{name...}", h.serveEntry)
	// For clients.
	m.HandleFunc("GET /p/{pub}/feed.atom", h.serveFeed)
	m.HandleFunc("GET /p/{pub}/key-statement", h.serveStatement)
	m.HandleFunc("GET /p/{pub}/checkpoint", h.serveCheckpoint)
	m.HandleFunc("GET /p/{pub}/mirrors", h.serveMirrors)
	m.HandleFunc("GET /p/{pub}/tile/{path...}", h.serveTile)
	m.HandleFunc("GET /p/{pub}/index/{size}/{id}", h.serveIndexProof)
	m.HandleFunc("GET /p/{pub}/index/t/{size}/{bucket}", h.serveIndexTop)
	m.HandleFunc("GET /p/{pub}/index/n/{node}/{id}", h.serveIndexBottom)
	m.HandleFunc("GET /b/{digest}", h.serveBundle)
	m.HandleFunc("GET /api/publishers", h.apiPublishers)
	m.HandleFunc("GET /api/peers", h.apiPeers)
	m.HandleFunc("GET /api/p/{pub}/articles", h.apiArticles)
	m.HandleFunc("GET /api/p/{pub}/a/{id}", h.apiArticle)
	// Operations.
	m.HandleFunc("GET /healthz", h.serveHealth)
	if !h.cfg.NoMetricsRoute {
		m.HandleFunc("GET /metrics", h.serveMetrics)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.notFound(w, r, pageKind, "no such page")
	})
	h.mux = m
}

// routeKinds groups the route patterns for the request-duration
// histogram; any other route is "other", and a request refused before
// routing "invalid".
var routeKinds = map[string]string{
	"GET /{$}":                             "page",
	"GET /status":                          "page",
	"GET /p/{pub}/{$}":                     "page",
	"GET /p/{pub}/a/{id}/{$}":              "page",
	"GET /p/{pub}":                         "redirect",
	"GET /p/{pub}/a/{id}":                  "redirect",
	"GET /static/style.css":                "static",
	"GET /verify.html":                     "static",
	"GET /p/{pub}/a/{id}/{name...}":        "entry",
	"GET /p/{pub}/feed.atom":               "feed",
	"GET /p/{pub}/key-statement":           "log",
	"GET /p/{pub}/checkpoint":              "log",
	"GET /p/{pub}/mirrors":                 "log",
	"GET /p/{pub}/tile/{path...}":          "log",
	"GET /p/{pub}/index/{size}/{id}":       "log",
	"GET /p/{pub}/index/t/{size}/{bucket}": "log",
	"GET /p/{pub}/index/n/{node}/{id}":     "log",
	"GET /b/{digest}":                      "bundle",
	"GET /api/publishers":                  "api",
	"GET /api/peers":                       "api",
	"GET /api/p/{pub}/articles":            "api",
	"GET /api/p/{pub}/a/{id}":              "api",
	"GET /healthz":                         "ops",
	"GET /metrics":                         "ops",
}

// ServeHTTP serves a request. Only GET and HEAD are allowed, and OPTIONS
// (a CORS preflight) on the reader routes; paths and queries are bounded
// and checked before routing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, head: r.Method == http.MethodHead}
	hd := w.Header()
	hd["X-Content-Type-Options"] = nosniff
	hd["Referrer-Policy"] = noReferrer
	hd["Content-Security-Policy"] = dataCSPValue
	public := publicPath(r.URL.Path)
	if public {
		hd["Access-Control-Allow-Origin"] = corsAnyOrigin // cors.go
	}
	route := "invalid"
	start := time.Now()
	defer func() {
		h.metrics.observe(route, sw, time.Since(start))
	}()
	switch {
	case !h.clients.allow(r):
		hd.Set("Retry-After", "1")
		h.fail(sw, r, textKind, http.StatusTooManyRequests, "too many requests from your address; try again in a moment")
		return
	case r.Method == http.MethodOptions && public:
		route = "preflight"
		preflight(sw)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		hd.Set("Allow", "GET, HEAD")
		if public {
			hd["Allow"] = corsAllow
		}
		h.fail(sw, r, textKind, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: this mirror is read-only")
		return
	case len(r.URL.Path) > h.cfg.MaxPathLen || len(r.URL.RawPath) > 3*h.cfg.MaxPathLen:
		h.fail(sw, r, textKind, http.StatusRequestURITooLong, "path longer than "+strconv.Itoa(h.cfg.MaxPathLen)+" bytes")
		return
	case len(r.URL.RawQuery) > h.cfg.MaxQueryLen:
		h.fail(sw, r, textKind, http.StatusRequestURITooLong, "query longer than "+strconv.Itoa(h.cfg.MaxQueryLen)+" bytes")
		return
	case !cleanPath(r.URL.Path):
		h.fail(sw, r, textKind, http.StatusBadRequest, "path is not clean (empty, . or .. segments, or control characters)")
		return
	}
	if pub, id, ok := articlePath(r); ok {
		// The one route read most, served without the mux's matching
		// (which allocates its path values): the same handler, and the
		// same pattern for metrics.
		route = articlePattern
		h.serveArticleOf(sw, r, pub, id)
		return
	}
	h.mux.ServeHTTP(sw, r)
	route = r.Pattern
	if route == "" || route == "/" {
		route = "other"
	}
}

// Header values every response starts with, shared and never modified:
// handlers replace them with Set, which makes a new slice.
var (
	nosniff      = []string{"nosniff"}
	noReferrer   = []string{"no-referrer"}
	dataCSPValue = []string{dataCSP}
)

// cleanPath reports whether p is absolute, has no empty, "." or ".."
// segments (other than a final slash) and no control characters.
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return false
		}
	}
	for start, i := 1, 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if s := p[start:i]; s == "." || s == ".." || (s == "" && i != len(p)) {
			return false
		}
		start = i + 1
	}
	return true
}

func redirectSlash(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, r.URL.EscapedPath()+"/", http.StatusMovedPermanently)
}

// statusWriter records a response's status and size for metrics.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
	head  bool // a HEAD request: the body is dropped here
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.head {
		return len(b), nil
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// kind says how an error is rendered.
type kind int

const (
	pageKind kind = iota // an HTML page
	textKind             // text/plain
	jsonKind             // {"error": "..."}
)

// jsonError is the body of an error response under /api/.
type jsonError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// fail writes an error response of the given kind; under /api/ it is
// always JSON, whoever refuses the request.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, k kind, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		k = jsonKind
	}
	hd := w.Header()
	hd.Del("ETag")
	hd.Del("Content-Encoding")
	hd.Set("Cache-Control", "no-store")
	switch k {
	case pageKind:
		writePage(h, w, code, "errorPage", render.WriteError, &render.ErrorPage{Common: withLinks(common{}), Code: code, Status: http.StatusText(code), Message: msg})
	case jsonKind:
		writeJSON(w, code, &jsonError{Error: msg, Status: code})
	default:
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		w.Write([]byte(msg + "\n"))
	}
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, k kind, msg string) {
	h.fail(w, r, k, http.StatusNotFound, msg)
}

// storeError maps an error from the store or from verification to a
// response: not found is 404, a bundle that cannot be verified 503,
// anything else 500.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, k kind, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.notFound(w, r, k, "not found")
	case errors.Is(err, errUnavailable):
		h.fail(w, r, k, http.StatusServiceUnavailable, "this mirror holds the bundle but cannot verify it; try another mirror")
	default:
		h.log.Error("web: store error", "path", r.URL.Path, "err", err)
		h.fail(w, r, k, http.StatusInternalServerError, "internal error reading the store")
	}
}

// publisher validates the {pub} path value and returns the trusted,
// held publisher's state; otherwise it writes a 404 and returns nil.
func (h *Handler) publisher(w http.ResponseWriter, r *http.Request, k kind) *pubState {
	return h.publisherOf(w, r, k, r.PathValue("pub"))
}

// publisherOf is publisher for the publisher ID id.
func (h *Handler) publisherOf(w http.ResponseWriter, r *http.Request, k kind, id string) *pubState {
	if !validPublisherID(id) {
		h.notFound(w, r, k, "no such publisher: a publisher ID is 32 lowercase hex digits")
		return nil
	}
	s := h.state(id)
	if s == nil || !s.held {
		h.notFound(w, r, k, "this mirror does not carry publisher "+id)
		return nil
	}
	if s.err != nil {
		h.fail(w, r, k, http.StatusServiceUnavailable, "this mirror cannot serve publisher "+id+" now; try another mirror")
		return nil
	}
	return s
}

func validPublisherID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// articleID validates the {id} path value.
func articleID(r *http.Request) (string, bool) {
	id := r.PathValue("id")
	return id, bundle.CheckID(id) == nil
}

// queryInt parses a query parameter as a canonical decimal integer in
// [lo, hi]. A missing parameter gives def (present=false).
func queryInt(r *http.Request, name string, lo, hi, def int64) (v int64, ok bool) {
	q := r.URL.Query()
	vals, present := q[name]
	if !present {
		return def, true
	}
	if len(vals) != 1 || len(vals[0]) == 0 || len(vals[0]) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != vals[0] || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// queryKnown reports whether the query names only the given parameters
// and parses.
func queryKnown(r *http.Request, names ...string) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false
	}
	for k := range q {
		found := false
		for _, n := range names {
			found = found || k == n
		}
		if !found {
			return false
		}
	}
	return true
}
