package web

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/render"
)

// styleCSS is the style sheet the mirror serves at /static/style.css.
var styleCSS = render.StyleSheet()

var styleETag = etagOf(styleCSS)

// freshMarker splits a rendered article page where the per-request part
// (checkpoint freshness and alarms) goes. Sanitised bodies hold no
// comments, and it comes before the body anyway.
const freshMarker = "<!--samizdat:fresh-->"

// common is what every page's head and foot need.
type common = render.Common

// The mirror's absolute routes of the pages' shared parts.
const (
	homeURL   = "/"
	styleURL  = "/static/style.css"
	statusURL = "/status"
)

// withLinks returns c with the links every page has.
func withLinks(c common) common {
	c.Home, c.Style, c.Status = homeURL, styleURL, statusURL
	return c
}

// freshness says how old a publisher's checkpoint is.
type freshness = render.Freshness

// staleAfter is the checkpoint age shown as stale: publishers refresh
// checkpoints far more often.
const staleAfter = 24 * time.Hour

func (h *Handler) freshness(s *pubState) freshness {
	var f freshness
	if h.cfg.Alarms != nil {
		f.Alarms = h.cfg.Alarms(s.id)
	}
	if s.cp == nil {
		return f
	}
	return h.freshnessAt(s, f.Alarms, h.cfg.Now().Sub(s.cp.Time))
}

// freshnessAt is the freshness of s, whose checkpoint is age old.
func (h *Handler) freshnessAt(s *pubState, alarms []string, age time.Duration) freshness {
	return freshness{Size: s.cp.Size, Time: s.cp.Time, Age: ago(age), Stale: age > staleAfter, Alarms: alarms}
}

// freshFrag is a rendered freshness fragment and what it shows.
type freshFrag struct {
	age    ageShown
	stale  bool
	alarms []string
	html   []byte
}

// freshFragment returns the rendered freshness of a publisher's log for
// an article page, reusing the last rendering while it shows the same
// (the same age, as ago words it, and the same alarms): in the common
// case it allocates nothing.
func (h *Handler) freshFragment(s *pubState) []byte {
	var alarms []string
	if h.cfg.Alarms != nil {
		alarms = h.cfg.Alarms(s.id)
	}
	var age time.Duration
	if s.cp != nil {
		age = h.cfg.Now().Sub(s.cp.Time)
	}
	shown, stale := ageWords(age), age > staleAfter
	if ff := s.fresh.Load(); ff != nil && ff.age == shown && ff.stale == stale && slices.Equal(ff.alarms, alarms) {
		return ff.html
	}
	f := freshness{Alarms: alarms}
	if s.cp != nil {
		f = h.freshnessAt(s, alarms, age)
	}
	var buf bytes.Buffer
	if err := render.WriteFreshness(&buf, &f); err != nil {
		h.log.Error("web: rendering freshness", "err", err)
	}
	s.fresh.Store(&freshFrag{age: shown, stale: stale, alarms: slices.Clone(alarms), html: buf.Bytes()})
	return buf.Bytes()
}

// ageShown is what ago says of an age: a unit and a count of it.
type ageShown struct {
	unit ageUnit
	n    int
}

type ageUnit int

const (
	ageFuture ageUnit = iota
	ageSeconds
	ageMinutes
	ageHours
	ageDays
)

// ageWords returns what ago says of d, without making the words.
func ageWords(d time.Duration) ageShown {
	switch {
	case d < 0:
		return ageShown{ageFuture, 0}
	case d < time.Minute:
		return ageShown{ageSeconds, 0}
	case d < time.Hour:
		return ageShown{ageMinutes, int(d / time.Minute)}
	case d < 48*time.Hour:
		return ageShown{ageHours, int(d / time.Hour)}
	}
	return ageShown{ageDays, int(d / (24 * time.Hour))}
}

// ago renders an age for people.
func ago(d time.Duration) string {
	a := ageWords(d)
	switch a.unit {
	case ageFuture:
		return "in the future: check this mirror's clock"
	case ageSeconds:
		return "less than a minute ago"
	case ageMinutes:
		return plural(a.n, "minute") + " ago"
	case ageHours:
		return plural(a.n, "hour") + " ago"
	}
	return plural(a.n, "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// Header values of every HTML page, shared and never modified.
var (
	htmlType  = []string{"text/html; charset=utf-8"}
	pageCSP   = []string{PageCSP}
	frameDeny = []string{"DENY"}
)

// setPageHeaders sets the headers of an HTML page.
func setPageHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd["Content-Type"] = htmlType
	hd["Content-Security-Policy"] = pageCSP
	hd["X-Frame-Options"] = frameDeny
}

// writePage renders a page with write and writes it with the page
// headers.
func writePage[P any](h *Handler, w http.ResponseWriter, code int, name string, write func(io.Writer, *P) error, data *P) {
	var buf bytes.Buffer
	if err := write(&buf, data); err != nil {
		h.log.Error("web: rendering page", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("internal error rendering the page\n"))
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (h *Handler) common(title string) common {
	return withLinks(common{Site: h.cfg.SiteName, PageTitle: title})
}

// pubInfo is one publisher as the index and status pages list it.
type pubInfo = render.PublisherInfo

func publisherURL(pub string) string { return "/p/" + pub + "/" }

func (h *Handler) pubInfos() ([]pubInfo, []*pubState) {
	var out []pubInfo
	var states []*pubState
	for _, id := range h.order {
		s := h.state(id)
		pi := pubInfo{ID: id, Name: s.root.Name(), URL: publisherURL(id), Held: s.held && s.err == nil}
		if pi.Held {
			if l, err := h.listIndex(s); err == nil {
				pi.Articles = l.live
			}
			states = append(states, s)
		}
		pi.Fresh = h.freshness(s)
		out = append(out, pi)
	}
	return out, states
}

// listed is one article in a list, and its state.
type listed struct {
	render.Item
	art *catalog.Article
}

// items returns the list items of listed articles.
func items(l []listed) []render.Item {
	out := make([]render.Item, len(l))
	for i := range l {
		out[i] = l[i].Item
	}
	return out
}

func articleURL(pub, id string) string { return "/p/" + pub + "/a/" + id + "/" }

func (h *Handler) listItem(s *pubState, a *catalog.Article) listed {
	l := listed{Item: render.Item{ID: a.ID, URL: articleURL(s.id, a.ID), Publisher: s.root.Name(), Revision: a.Revision, Retracted: a.Retracted, Time: a.Time}, art: a}
	if !a.Retracted {
		if sm, err := h.summary(s, a.Digest); err == nil {
			l.Title, l.Lang, l.Updated, l.Created, l.Authors = sm.Title, sm.Language, sm.Updated, sm.Created, sm.Authors
			if l.Title == "" {
				l.Title = a.ID
			}
		}
	}
	return l
}

// languageLink is one language the index offers to filter by.
type languageLink = render.LanguageLink

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	want, ok := queryLang(r)
	if !ok {
		h.fail(w, r, pageKind, http.StatusBadRequest, "this page takes only ?lang=, a language code of 2 to 8 lowercase letters (as in ?lang=fa)")
		return
	}
	infos, states := h.pubInfos()
	var recent []listed
	seen := map[string]bool{}
	for _, s := range states {
		keep := func(l *listed) bool { return l.Title != "" }
		if want != "" {
			keep = func(l *listed) bool { return l.Title != "" && render.Primary(l.Lang) == want }
		}
		l, _ := h.recent(s, recentArticles, keep)
		recent = append(recent, l...)
		for _, lang := range h.languages(s) {
			seen[lang] = true
		}
	}
	sortByUpdated(recent)
	if len(recent) > recentArticles {
		recent = recent[:recentArticles]
	}
	var langs []languageLink
	for lang := range seen {
		langs = append(langs, languageLink{Tag: lang, Name: render.LanguageName(lang), URL: "/?lang=" + lang, Current: lang == want})
	}
	slices.SortFunc(langs, func(a, b languageLink) int { return strings.Compare(a.Tag, b.Tag) })
	if len(langs) > maxLanguages {
		langs = langs[:maxLanguages]
	}
	title := "Publishers and recent articles"
	if want != "" {
		title = "Recent articles in " + render.LanguageName(want)
	}
	w.Header().Set("Cache-Control", cacheList)
	writePage(h, w, http.StatusOK, "index", render.WriteIndex, &render.IndexPage{Common: h.common(title),
		Publishers: infos, Recent: items(recent), Languages: langs, AllURL: homeURL, Lang: want})
}

// queryLang parses the index's ?lang=, a primary language subtag of 2 to
// 8 lowercase ASCII letters; "" when there is none. It is the only query
// the index takes.
func queryLang(r *http.Request) (string, bool) {
	if !queryKnown(r, "lang") {
		return "", false
	}
	vals, present := r.URL.Query()["lang"]
	if !present {
		return "", true
	}
	if len(vals) != 1 || len(vals[0]) < 2 || len(vals[0]) > 8 {
		return "", false
	}
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 'a' || c > 'z' {
			return "", false
		}
	}
	return vals[0], true
}

func (h *Handler) servePublisher(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, pageKind)
	if s == nil {
		return
	}
	page, ok := queryPage(r)
	if !ok {
		h.fail(w, r, pageKind, http.StatusBadRequest, "page must be a number from 1")
		return
	}
	arts, index, err := h.listPage(s, page)
	if err != nil {
		h.storeError(w, r, pageKind, err)
		return
	}
	var list []listed
	for i := range arts {
		list = append(list, h.listItem(s, &arts[i]))
	}
	next := ""
	if page*PageSize < index.total {
		next = fmt.Sprintf("/p/%s/?page=%d", s.id, page+1)
	}
	feed := "/p/" + s.id + "/feed.atom"
	c := h.common(s.root.Name())
	c.Feed = feed
	var version uint64
	if s.trust != nil {
		version = s.trust.Statement().Version
	}
	w.Header().Set("Cache-Control", cacheList)
	writePage(h, w, http.StatusOK, "publisher", render.WritePublisher, &render.PublisherPage{Common: c,
		ID: s.id, Name: s.root.Name(), Root: s.root.String(), StatementVersion: version, StatementURL: "/p/" + s.id + "/key-statement",
		Fresh: h.freshness(s), List: items(list), Next: next})
}

// queryPage parses ?page=, from 1; the only query a list takes.
func queryPage(r *http.Request) (int, bool) {
	if !queryKnown(r, "page") {
		return 0, false
	}
	p, ok := queryInt(r, "page", 1, maxPage, 1)
	return int(p), ok
}

// renderedPage is an article page rendered once per bundle. Its one copy
// is the page as last served: the per-request part (checkpoint freshness
// and alarms) starts at offset fresh, and is replaced, making a new copy,
// when it changes; the sanitised body is at [bodyStart, bodyEnd), before
// it, in every copy.
type renderedPage struct {
	trust              *keys.Trust
	fresh              int
	bodyStart, bodyEnd int
	full               atomic.Pointer[fullPage] // never nil
}

// body returns the page's sanitised article body.
func (rp *renderedPage) body() []byte { return rp.full.Load().page[rp.bodyStart:rp.bodyEnd] }

// articlePattern is the article page's route, which ServeHTTP matches
// itself (articlePath) before the mux.
const articlePattern = "GET /p/{pub}/a/{id}/{$}"

// articlePath returns the {pub} and {id} of a request the mux would route
// to articlePattern, if r is one: a GET or HEAD of /p/PUB/a/ID/ where PUB
// and ID are non-empty and hold no slash. It answers false for any path
// with escapes that change it (r.URL.RawPath set), leaving those to the
// mux. ServeHTTP has checked that the path is clean.
func articlePath(r *http.Request) (pub, id string, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.URL.RawPath != "" {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/p/")
	if !ok {
		return "", "", false
	}
	pub, rest, ok = strings.Cut(rest, "/")
	if !ok || pub == "" {
		return "", "", false
	}
	if rest, ok = strings.CutPrefix(rest, "a/"); !ok {
		return "", "", false
	}
	id, rest, ok = strings.Cut(rest, "/")
	if !ok || id == "" || rest != "" {
		return "", "", false
	}
	return pub, id, true
}

func (h *Handler) serveArticle(w http.ResponseWriter, r *http.Request) {
	h.serveArticleOf(w, r, r.PathValue("pub"), r.PathValue("id"))
}

// serveArticleOf serves the page of article id of publisher pub.
func (h *Handler) serveArticleOf(w http.ResponseWriter, r *http.Request, pub, id string) {
	s := h.publisherOf(w, r, pageKind, pub)
	if s == nil {
		return
	}
	if bundle.CheckID(id) != nil {
		h.notFound(w, r, pageKind, "no such article: not a valid article ID")
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, pageKind, http.StatusBadRequest, "this page takes no query")
		return
	}
	a, err := s.article(h.st, id)
	if err != nil {
		h.storeError(w, r, pageKind, err)
		return
	}
	fresh := h.freshFragment(s)
	var rp *renderedPage
	if !a.Retracted {
		rp, err = h.articlePage(s, a, fresh)
		if errors.Is(err, store.ErrNotFound) {
			// Superseded since the state read it (the old bundle is
			// gone): the article as the store holds it now.
			if a, err = s.reread(h.st, id); err == nil && !a.Retracted {
				rp, err = h.articlePage(s, a, fresh)
			}
		}
	}
	if err != nil {
		h.storeError(w, r, pageKind, err)
		return
	}
	if a.Retracted {
		w.Header().Set("Cache-Control", "public, max-age=300")
		writePage(h, w, http.StatusGone, "gone", render.WriteGone, &render.GonePage{Common: h.common("Withdrawn"),
			ID: a.ID, PubID: s.id, PubName: s.root.Name(), PubURL: publisherURL(s.id), Revision: a.Revision, Time: a.Time})
		return
	}
	fp := rp.withFreshness(fresh)
	page, length := fp.page, fp.length
	setPageHeaders(w)
	hd := w.Header()
	hd["Cache-Control"] = cacheArticle
	hd["Vary"] = varyEncoding
	if accepts(r, "gzip") {
		if gz, gzLength := fp.gzipped(); gz != nil {
			page, length = gz, gzLength
			hd["Content-Encoding"] = gzipEncoding
		}
	}
	hd["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// One write: net/http then sends the page in as few system calls
	// as it can.
	w.Write(page)
}

var (
	varyEncoding = []string{"Accept-Encoding"}
	gzipEncoding = []string{"gzip"}
)

var cacheArticle = []string{"public, max-age=60"}

// cacheList is the caching of the index and publisher pages: as long as
// the checkpoint's, whose state they show, so that a cache in front of
// the mirror renders them once for every reader in those seconds.
const cacheList = "public, max-age=5"

// fullPage is a whole article page with one freshness fragment, and its
// gzip encoding, made on first use. Each comes with its Content-Length
// header value, made once and shared by every response (never modified).
type fullPage struct {
	fresh  []byte // the freshness fragment, within page
	page   []byte
	length []string

	gzOnce   sync.Once
	gz       []byte
	gzLength []string
}

// gzipped returns the page gzip-compressed and its Content-Length value,
// or nil if that fails.
func (fp *fullPage) gzipped() ([]byte, []string) {
	fp.gzOnce.Do(func() {
		if fp.gz = gzipBytes(fp.page); fp.gz != nil {
			fp.gzLength = []string{strconv.Itoa(len(fp.gz))}
		}
	})
	return fp.gz, fp.gzLength
}

// gzipBytes returns b gzip-compressed at the best compression, in an
// exactly sized copy, or nil if that fails.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(b); err != nil || zw.Close() != nil {
		return nil
	}
	return bytes.Clone(buf.Bytes())
}

// withFreshness returns the page with the freshness fragment in place,
// reusing the last one built while the fragment is the same.
func (rp *renderedPage) withFreshness(fresh []byte) *fullPage {
	old := rp.full.Load()
	if bytes.Equal(old.fresh, fresh) {
		return old
	}
	fp := newFullPage(old.page[:rp.fresh], fresh, old.page[rp.fresh+len(old.fresh):])
	rp.full.Store(fp)
	return fp
}

// newFullPage puts a page together in one exactly sized copy.
func newFullPage(head, fresh, tail []byte) *fullPage {
	page := make([]byte, 0, len(head)+len(fresh)+len(tail))
	page = append(append(append(page, head...), fresh...), tail...)
	return &fullPage{fresh: page[len(head) : len(head)+len(fresh) : len(head)+len(fresh)], page: page, length: []string{strconv.Itoa(len(page))}}
}

// bodyOpen is what the article template writes just before the body.
var bodyOpen = []byte(`<div class="body">` + "\n")

// articlePage returns the rendered page of an article's current bundle,
// rendering it with the freshness fragment fresh if it is not cached.
func (h *Handler) articlePage(s *pubState, a *catalog.Article, fresh []byte) (*renderedPage, error) {
	if rp, ok := h.pages.get(a.Digest); ok && rp.trust == s.trust {
		return rp, nil
	}
	b, err := h.bundleOnce(s, a.Digest)
	if err != nil {
		return nil, err
	}
	body, err := b.Body()
	if err != nil {
		h.log.Warn("web: article body does not verify", "publisher", s.id, "digest", a.Digest, "err", err)
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	m := b.Manifest
	base := articleURL(s.id, a.ID)
	title := m.Title
	if title == "" {
		title = m.ID
	}
	clean := render.Body(b, body, base)
	var buf bytes.Buffer
	err = render.WriteArticle(&buf, &render.ArticlePage{Common: h.common(title),
		Title: title, Lang: m.Language, Authors: m.Authors, Body: template.HTML(clean),
		PubID: s.id, PubName: s.root.Name(), PubURL: publisherURL(s.id), Signer: b.Signer.String(),
		Revision: m.Revision, Created: m.Created, Updated: m.Updated, Digest: b.Digest, BundleURL: "/b/" + b.Digest.String(),
		Leaf: a.Leaf, Canonical: m.CanonicalURL, Fresh: freshMarker})
	if err != nil {
		return nil, fmt.Errorf("web: rendering article %s: %w", a.ID, err)
	}
	head, tail, ok := bytes.Cut(buf.Bytes(), []byte(freshMarker))
	if !ok {
		return nil, fmt.Errorf("web: rendering article %s: no freshness marker", a.ID)
	}
	// The title, authors and site name before the body are escaped, so
	// the first bodyOpen is the template's.
	start := bytes.Index(head, bodyOpen) + len(bodyOpen)
	if start < len(bodyOpen) || !bytes.HasPrefix(head[start:], clean) {
		return nil, fmt.Errorf("web: rendering article %s: body not found", a.ID)
	}
	rp := &renderedPage{trust: s.trust, fresh: len(head), bodyStart: start, bodyEnd: start + len(clean)}
	fp := newFullPage(head, fresh, tail)
	rp.full.Store(fp)
	// The cost allows for a gzip copy, made for clients that ask.
	h.pages.put(a.Digest, rp, int64(len(fp.page))*3/2)
	return rp, nil
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	if !queryKnown(r) {
		h.fail(w, r, pageKind, http.StatusBadRequest, "this page takes no query")
		return
	}
	infos, _ := h.pubInfos()
	w.Header().Set("Cache-Control", "no-store")
	writePage(h, w, http.StatusOK, "status", render.WriteStatus, &render.StatusPage{Common: h.common("Status"), Publishers: infos})
}

func (h *Handler) serveCSS(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "the style sheet takes no query")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/css; charset=utf-8")
	hd.Set("Cache-Control", "public, max-age=86400")
	hd.Set("ETag", styleETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(styleCSS))
}

func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "healthz takes no query")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}
