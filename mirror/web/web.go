// Package web is a mirror's HTTP face: one http.Handler that serves, from a
// store, readable pages for people (no JavaScript, sanitised article HTML,
// a strict Content-Security-Policy), and raw bundles, checkpoints, proofs,
// key statements, a JSON API and Atom feeds for clients. It also serves
// /healthz, /metrics and a /status page. The routes are listed in
// PROTOCOL.md, part 2.
//
// Only the publishers whose root keys the operator trusts are served. Every
// bundle is verified with bundle.Open against the publisher's key statement
// before anything of it is shown; verified bundles and rendered article
// pages are kept in bounded caches keyed by digest, so a popular article
// costs one verification and one rendering.
//
// NewServer serves a Handler over TCP with per-address and total
// connection caps and header timeouts (package internal/netlimit), so that
// one client's slow connections cannot hold up other readers.
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Limits on requests. Requests beyond them are refused with a 4xx status.
const (
	// DefaultMaxPathLen bounds a request's path, in bytes (414 beyond).
	DefaultMaxPathLen = 1024
	// DefaultMaxQueryLen bounds a request's raw query, in bytes (414 beyond).
	DefaultMaxQueryLen = 256
	// DefaultCacheBytes bounds the verified bundles kept in memory, for
	// the routes that serve a bundle's bytes (entries, /b/, the JSON
	// manifest). The two cache defaults are sized so that a mirror of
	// 100,000 bundles with full caches stays under 100 MB resident
	// (BENCHMARKS.md); the Go heap holds up to about twice what is live.
	DefaultCacheBytes = 4 << 20
	// DefaultPageCacheBytes bounds the rendered article pages kept
	// (counting 1.5 times a page's size, for its gzip copy): about 450
	// pages of 12 KB.
	DefaultPageCacheBytes = 8 << 20
	// DefaultRefresh is how long a publisher's log state is reused.
	DefaultRefresh = time.Second
	// PageSize is the number of articles on one page of a list (HTML and
	// JSON); ?page=N selects the page, counting from 1.
	PageSize = 200
	// maxPage bounds ?page=.
	maxPage = 1 << 20
	// recentArticles is the number of articles on the index page.
	recentArticles = 30
	// maxLanguages bounds the languages the index offers to filter by.
	maxLanguages = 16
	// languageScan is how many of each publisher's most recent articles
	// the index reads for the languages it offers.
	languageScan = 100
)

// Content security policies.
const (
	// PageCSP is sent with every HTML page: no script, no frames, no
	// forms; images and the style sheet from the mirror only.
	PageCSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	// EntryCSP is sent with every bundle entry (images, including SVG, and
	// raw bodies): a publisher's bytes can never run script on the
	// mirror's origin.
	EntryCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
	// dataCSP is sent with everything else (JSON, text, bundles).
	dataCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
)

// Config tunes a Handler. A nil *Config, and every zero field, means the
// documented default.
type Config struct {
	// Logger receives what goes wrong while serving (damaged store
	// entries, bundles that fail verification). Nil means silent.
	Logger *slog.Logger
	// SiteName is shown in page headers and titles. Empty means
	// "samizdat mirror".
	SiteName string
	// Alarms, if set, returns the alarms to show for a publisher (for
	// example a fork reported by the sync side) on the status page, the
	// publisher's pages and its articles. It must be safe for concurrent
	// use and fast; nil means no alarms.
	Alarms func(publisherID string) []string
	// Collectors are registered on the handler's private Prometheus
	// registry and exported on /metrics with the handler's own metrics.
	// See also Handler.Registerer.
	Collectors []prometheus.Collector
	// Refresh is how long the handler reuses what it read of a
	// publisher's log state (key statement, checkpoint, article list,
	// each article's current revision) before reading the store again. Zero means DefaultRefresh; a
	// negative value means read it on every request. Invalidate forgets
	// it at once.
	Refresh time.Duration
	// Now gives the time used to show how fresh checkpoints are. Nil
	// means time.Now.
	Now func() time.Time
	// MaxPathLen bounds request paths; zero means DefaultMaxPathLen.
	MaxPathLen int
	// MaxQueryLen bounds raw queries; zero means DefaultMaxQueryLen.
	MaxQueryLen int
	// CacheBytes bounds the verified bundles kept in memory; zero means
	// DefaultCacheBytes.
	CacheBytes int64
	// PageCacheBytes bounds the rendered article pages kept in memory;
	// zero means DefaultPageCacheBytes.
	PageCacheBytes int64
	// Limits bound bundles read from the store; nil means
	// bundle.DefaultLimits.
	Limits *bundle.Limits
	// Rate is the requests per second one client (an IPv4 address, an
	// IPv6 /64) may make on average, beyond its Burst; more get 429.
	// Zero means DefaultRate and DefaultBurst; a negative Rate means no
	// limit.
	Rate  float64
	Burst int
	// RateClients bounds the clients whose rate is tracked; zero means
	// DefaultRateClients.
	RateClients int
	// LimitLoopback rate-limits loopback clients too. False (the
	// default) exempts them: a reverse proxy in front of the mirror
	// connects from loopback for all its clients, and limits them
	// itself. Tests set it to act as many clients from 127.0.0.x.
	LimitLoopback bool
	// NoMetricsRoute turns off the /metrics route (it is then 404), for
	// a mirror that exports Handler.Metrics on a listener of its own.
	NoMetricsRoute bool
	// PublicURL is this mirror's own public HTTP URL, listed first by
	// /api/peers. Empty means not listed.
	PublicURL string
	// Peers, if set, returns the public HTTP URLs of the mirrors this one
	// syncs with, for /api/peers: unsigned hints, each checked like a
	// mirror list URL (catalog.CheckMirrorURL) and at most MaxPeerURLs in
	// all. It must be safe for concurrent use and fast; nil means none.
	Peers func() []string
}

// Handler serves a store over HTTP. It is safe for concurrent use. It
// only reads the store, which another goroutine (sync) may write at the
// same time; changes show within Config.Refresh, or at once after
// Invalidate.
type Handler struct {
	st      *store.Store
	cfg     Config
	log     *slog.Logger
	trusted map[string]*pubSlot // by publisher ID; not modified after New
	order   []string            // trusted publisher IDs, in the order given
	mux     *http.ServeMux
	metrics *metrics

	clients   *clients
	bundles   *lru[bundle.Digest, *openBundle]
	pages     *lru[bundle.Digest, *renderedPage]
	summaries *lru[bundle.Digest, *summary]
}

// New returns a handler serving the publishers in trusted from st.
// Publishers the store holds but trusted does not list are not served.
// It fails only if one of cfg.Collectors cannot be registered (for
// example, it describes a metric the handler already has).
func New(st *store.Store, trusted []*keys.PublicKey, cfg *Config) (*Handler, error) {
	h := &Handler{st: st, trusted: map[string]*pubSlot{}}
	if cfg != nil {
		h.cfg = *cfg
	}
	c := &h.cfg
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	h.log = c.Logger
	if c.SiteName == "" {
		c.SiteName = "samizdat mirror"
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxPathLen <= 0 {
		c.MaxPathLen = DefaultMaxPathLen
	}
	if c.MaxQueryLen <= 0 {
		c.MaxQueryLen = DefaultMaxQueryLen
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.PageCacheBytes <= 0 {
		c.PageCacheBytes = DefaultPageCacheBytes
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.RateClients <= 0 {
		c.RateClients = DefaultRateClients
	}
	h.clients = newClients(c.Rate, c.Burst, c.RateClients, c.LimitLoopback)
	for _, k := range trusted {
		if k == nil {
			continue
		}
		if _, dup := h.trusted[k.ID()]; !dup {
			h.trusted[k.ID()] = &pubSlot{root: k}
			h.order = append(h.order, k.ID())
		}
	}
	h.bundles = newLRU[bundle.Digest, *openBundle](4096, c.CacheBytes)
	h.pages = newLRU[bundle.Digest, *renderedPage](4096, c.PageCacheBytes)
	h.summaries = newLRU[bundle.Digest, *summary](16384, 16384)
	var err error
	if h.metrics, err = newMetrics(h); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// Invalidate makes the handler read a publisher's state from the store on
// the next request. The sync side calls it after storing an update, so
// that new articles show at once.
func (h *Handler) Invalidate(publisherID string) {
	if slot := h.trusted[publisherID]; slot != nil {
		slot.state.Store(nil)
	}
}

// pubSlot is a trusted publisher's root key and the state last read of
// it, which requests load without a lock.
type pubSlot struct {
	root  *keys.PublicKey
	state atomic.Pointer[pubState] // nil until read, and after Invalidate
}

// pubState is what the handler read of one trusted publisher. It is
// immutable once built, except for the lazily read article list.
type pubState struct {
	id     string
	root   *keys.PublicKey
	held   bool             // the store holds this publisher
	pub    *store.Publisher // nil unless held
	trust  *keys.Trust      // nil unless held and the statement verifies
	cp     *catalog.Checkpoint
	loaded time.Time
	err    error // why a held publisher cannot be served

	fresh atomic.Pointer[freshFrag] // the article pages' freshness fragment

	byID sync.Map // article ID -> *catalog.Article, read from the store on first use

	// derived is what lists and the feed read of the log at pub.Size,
	// made on first use and handed on to the next state while the log,
	// its checkpoint and the trust stay the same (lists.go).
	derived *derived
}

// article returns the state of one article of the publisher, as the
// store held it when first asked during this state's lifetime. Unknown
// articles are not remembered, so hostile requests cannot fill memory.
func (s *pubState) article(st *store.Store, id string) (*catalog.Article, error) {
	if a, ok := s.byID.Load(id); ok {
		return a.(*catalog.Article), nil
	}
	a, err := st.Article(s.id, id)
	if err != nil {
		return nil, err
	}
	s.byID.Store(id, a)
	return a, nil
}

// state returns the state of a trusted publisher, or nil if the
// publisher is not trusted.
func (h *Handler) state(id string) *pubState {
	slot := h.trusted[id]
	if slot == nil {
		return nil
	}
	root := slot.root
	now := time.Now()
	old := slot.state.Load()
	if old != nil && h.cfg.Refresh > 0 && now.Sub(old.loaded) < h.cfg.Refresh {
		return old
	}
	s := &pubState{id: id, root: root, loaded: now}
	p, err := h.st.Publisher(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.held, s.err = true, err
	case !p.Root.Equal(root):
		s.held, s.err = true, fmt.Errorf("web: publisher %s is stored under another root key", id)
	default:
		s.held, s.pub = true, p
		if old != nil && old.trust != nil && bytes.Equal(old.pub.Statement, p.Statement) {
			s.trust = old.trust
		} else if s.trust, err = keys.NewTrust(root, p.Statement); err != nil {
			s.err = err
		}
		if old != nil && old.cp != nil && bytes.Equal(old.pub.Checkpoint, p.Checkpoint) {
			s.cp = old.cp
		} else if p.Checkpoint != nil && s.trust != nil {
			s.cp = readCheckpoint(p.Checkpoint, s.trust)
		}
	}
	if s.err != nil {
		h.log.Warn("web: cannot serve publisher", "publisher", id, "err", s.err)
	}
	if old != nil && s.pub != nil && old.pub != nil && old.pub.Size == s.pub.Size && old.cp == s.cp && old.trust == s.trust {
		s.derived = old.derived
	} else {
		s.derived = &derived{}
	}
	slot.state.Store(s)
	return s
}

// readCheckpoint parses a stored checkpoint. The store verified it when it
// stored it; a key statement revoking its signer since does not make it
// unreadable, so the text is parsed as stored when it no longer verifies.
func readCheckpoint(signed []byte, trust *keys.Trust) *catalog.Checkpoint {
	if c, err := catalog.OpenCheckpoint(signed, trust); err == nil {
		return c
	}
	c, err := catalog.ParseUnverified(signed)
	if err != nil {
		return nil
	}
	return c
}

// openBundle is a verified bundle and the trust it was verified under.
type openBundle struct {
	b     *bundle.Bundle
	trust *keys.Trust
}

// bundleOverhead is about what a verified bundle holds beyond its bytes
// (the parsed manifest), counted against Config.CacheBytes.
const bundleOverhead = 1 << 10

// errUnavailable marks a bundle the store lists but cannot give verified.
var errUnavailable = errors.New("web: bundle unavailable")

// bundle returns the verified bundle d of publisher s, from the cache or
// read from the store, verified and cached.
func (h *Handler) bundle(s *pubState, d bundle.Digest) (*bundle.Bundle, error) {
	return h.openBundle(s, d, true)
}

// bundleOnce is bundle for a use that is cached itself (a rendered page,
// a summary): the bundle is not put in the cache, which keeps it for the
// routes that serve a bundle's bytes.
func (h *Handler) bundleOnce(s *pubState, d bundle.Digest) (*bundle.Bundle, error) {
	return h.openBundle(s, d, false)
}

func (h *Handler) openBundle(s *pubState, d bundle.Digest, keep bool) (*bundle.Bundle, error) {
	if s.trust == nil {
		return nil, fmt.Errorf("%w: publisher %s has no usable key statement", errUnavailable, s.id)
	}
	if ob, ok := h.bundles.get(d); ok && ob.trust == s.trust {
		return ob.b, nil
	}
	data, err := h.st.Bundle(d)
	if err != nil {
		return nil, err
	}
	b, err := bundle.Open(data, s.trust, &bundle.OpenOptions{Limits: h.cfg.Limits})
	if err != nil {
		h.log.Warn("web: stored bundle does not verify", "publisher", s.id, "digest", d, "err", err)
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	if b.Digest != d {
		return nil, fmt.Errorf("%w: bundle %s has digest %s", errUnavailable, d, b.Digest)
	}
	if keep {
		h.bundles.put(d, &openBundle{b: b, trust: s.trust}, int64(len(data))+bundleOverhead)
	}
	return b, nil
}

// summary is what lists show of an article's current revision.
type summary struct {
	Title    string
	Language string
	Created  time.Time
	Updated  time.Time
	Authors  []string
	trust    *keys.Trust
}

// summary returns the listing summary of an article's bundle.
func (h *Handler) summary(s *pubState, d bundle.Digest) (*summary, error) {
	if sm, ok := h.summaries.get(d); ok && sm.trust == s.trust {
		return sm, nil
	}
	b, err := h.bundleOnce(s, d)
	if err != nil {
		return nil, err
	}
	m := b.Manifest
	sm := &summary{Title: m.Title, Language: m.Language, Created: m.Created, Updated: m.Updated, Authors: m.Authors, trust: s.trust}
	h.summaries.put(d, sm, 1)
	return sm, nil
}

// etagOf returns a strong entity tag for bytes.
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
