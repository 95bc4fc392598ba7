package local

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/reader"
)

// Defaults of Options.
const (
	DefaultRefresh  = 5 * time.Minute
	DefaultPrefetch = 30
	DefaultFreshFor = time.Minute
	maxListed       = 200
)

// Options tunes a Server. The zero value is the defaults.
type Options struct {
	// Refresh is how often the server asks the mirrors for news in the
	// background. Zero means DefaultRefresh.
	Refresh time.Duration
	// Prefetch is how many of the newest articles are downloaded in the
	// background for offline reading. Zero means DefaultPrefetch;
	// negative means none.
	Prefetch int
	// FreshFor is how long an article shown is not asked for again.
	// Zero means DefaultFreshFor.
	FreshFor time.Duration
	// Logger receives the background work's outcomes; nil means silent.
	Logger *slog.Logger
	// Hosts are the host names (without port) requests may name besides
	// localhost and loopback addresses, such as the address of a
	// non-loopback --listen. Any other Host is refused, so that a web page
	// cannot reach the reader through DNS rebinding and learn what its
	// user reads. "*" allows any (a reader listening on every address).
	Hosts []string
}

// Server is the local verifying reader: a web server for one reader on
// their own machine. It shows only what its client verified.
type Server struct {
	c    *reader.Client
	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex
	titles  map[bundle.Digest]listed         // what the index shows of verified bundles
	lastErr error                            // the last failed fetch, shown until one succeeds
	alarm   string                           // a fork seen since the server started
	recent  map[bundle.Digest]*bundle.Bundle // verified bundles whose images were asked for
	checked map[string]time.Time             // when each article was last fetched
}

// NewServer returns a reader server over c.
func NewServer(c *reader.Client, opts *Options) *Server {
	s := &Server{c: c, titles: map[bundle.Digest]listed{}, checked: map[string]time.Time{}, recent: map[bundle.Digest]*bundle.Bundle{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Refresh <= 0 {
		s.opts.Refresh = DefaultRefresh
	}
	if s.opts.Prefetch == 0 {
		s.opts.Prefetch = DefaultPrefetch
	}
	if s.opts.FreshFor <= 0 {
		s.opts.FreshFor = DefaultFreshFor
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.serveIndex)
	// Asking the mirrors changes the state: a POST, which every browser
	// marks with its Origin.
	s.mux.HandleFunc("POST /refresh", s.serveRefresh)
	s.mux.HandleFunc("GET /style.css", s.serveStyle)
	s.mux.HandleFunc("GET /a/{id}/{$}", s.serveArticle)
	s.mux.HandleFunc("GET /a/{id}/{name...}", s.serveImage)
	return s
}

// ServeHTTP serves the reader's pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		http.Error(w, "this reader answers only to its own address", http.StatusForbidden)
		return
	}
	// Pages elsewhere must not learn that the reader runs or what it
	// saved (an image that loads, a style sheet), nor make it fetch.
	if fromElsewhere(r) {
		http.Error(w, "this reader answers only its own pages and what you type", http.StatusForbidden)
		return
	}
	w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Same-origin: the reader's own requests say where they come from
	// (a form's POST carries its Origin, not "null"); links elsewhere
	// carry nothing.
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Run refreshes in the background until ctx ends: the list of articles,
// then the newest articles not yet downloaded.
func (s *Server) Run(ctx context.Context) {
	for {
		s.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.Refresh):
		}
	}
}

func (s *Server) refresh(ctx context.Context) {
	r, err := s.c.List(ctx)
	s.setErr(err)
	if r != nil {
		s.noteForks(r.Forks())
	}
	if err != nil {
		s.opts.Logger.Warn("reader: no mirror gave a verified list", "err", err)
		return
	}
	s.opts.Logger.Info("reader: verified list", "mirror", r.Mirror, "size", r.Checkpoint.Size, "stale", r.Stale)
	n := 0
	for _, a := range r.Articles() {
		if n >= s.opts.Prefetch || ctx.Err() != nil {
			return
		}
		if a.Retracted {
			continue
		}
		n++
		if c, err := s.c.Cached(a.ID); err == nil && c != nil && c.Bundle != nil {
			s.remember(c.Bundle)
			continue
		}
		if f, err := s.c.Fetch(ctx, a.ID); err == nil && f.Bundle != nil {
			s.remember(f.Bundle)
		}
	}
}

// fromElsewhere reports whether a browser says that r comes from a page
// other than the reader's own: Sec-Fetch-Site says cross-site or
// same-site, or Origin or Referer name another origin (an Origin of
// "null", from a sandboxed frame, a file or a data: URL, is another).
// Browsers too old to send Sec-Fetch-Site still send Origin on every POST
// and on scripts' cross-origin requests, and mostly a Referer on the rest.
// A request with none of them is what the user typed, or a page of the
// reader's own in a browser that keeps quiet: it is served.
func fromElsewhere(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	own := "http://" + r.Host
	if r.TLS != nil {
		own = "https://" + r.Host
	}
	if o := r.Header.Values("Origin"); len(o) > 0 && (len(o) > 1 || !strings.EqualFold(o[0], own)) {
		return true
	}
	if ref := r.Header.Values("Referer"); len(ref) > 0 {
		u, err := url.Parse(ref[0])
		if len(ref) > 1 || err != nil || !strings.EqualFold(u.Scheme+"://"+u.Host, own) {
			return true
		}
	}
	return false
}

// hostAllowed reports whether a request's Host names this reader:
// localhost, a loopback address, or one of Options.Hosts.
func (s *Server) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || slices.Contains(s.opts.Hosts, host) || slices.Contains(s.opts.Hosts, "*") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
	var re *reader.Error
	if errors.As(err, &re) {
		s.noteForks(re.Forks())
	}
}

// noteForks keeps the first fork seen, to show on every page: the
// publisher's key signed two histories.
func (s *Server) noteForks(forks []reader.Failure) {
	if len(forks) == 0 {
		return
	}
	s.mu.Lock()
	if s.alarm == "" {
		s.alarm = "Alarm: the mirror " + forks[0].Mirror + " served a list of articles signed with the publisher's key that contradicts the one this reader verified before. Only someone holding the publisher's key can do that: it may have been stolen. What is shown here is what this reader verified first; tell the publisher."
	}
	s.mu.Unlock()
}

func (s *Server) alarmText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alarm == "" {
		// A fork seen before this run: its evidence is in the state.
		if ev := s.c.ForkEvidence(); len(ev) > 0 {
			s.alarm = "Alarm: a mirror once served a list of articles signed with the publisher's key that contradicts the one this reader verified. Only someone holding the publisher's key can do that: it may have been stolen. The evidence is in " + ev[len(ev)-1] + "; send it to the publisher."
		}
	}
	return s.alarm
}

func (s *Server) remember(b *bundle.Bundle) {
	s.mu.Lock()
	m := b.Manifest
	s.titles[b.Digest] = listed{Title: m.Title, Lang: m.Language, Created: m.Created}
	s.mu.Unlock()
}

func (s *Server) serveStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write(styleCSS)
}

// listed is what the index shows of a verified bundle.
type listed struct {
	Title, Lang string
	Created     time.Time
}

type listItem struct {
	ID, Title, Lang   string
	Created           time.Time
	Retracted, Cached bool
}

type indexPage struct {
	head
	*reader.Result
	PubName  string
	Articles []listItem
	Status   status
	Alarm    string
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	res, err := s.c.Cached("")
	if err != nil {
		s.problem(w, http.StatusInternalServerError, "The reader's saved state cannot be used", err)
		return
	}
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	if res == nil {
		if lastErr != nil {
			s.problem(w, http.StatusBadGateway, "No mirror could be verified yet", lastErr)
			return
		}
		s.problem(w, http.StatusServiceUnavailable, "Asking the mirrors", errors.New("nothing is verified yet: the reader is asking the mirrors. Reload this page in a few seconds."))
		return
	}
	p := &indexPage{head: head{Title: res.Trust.Root().Name()}, Result: res, PubName: res.Trust.Root().Name(), Alarm: s.alarmText(),
		Status: statusOf(res, lastErr, "This list", false)}
	s.mu.Lock()
	for i, a := range res.Articles() {
		if i == maxListed {
			break
		}
		l, ok := s.titles[a.Digest]
		if !ok || l.Title == "" {
			l.Title = a.ID
		}
		p.Articles = append(p.Articles, listItem{ID: a.ID, Title: l.Title, Lang: l.Lang, Created: l.Created, Retracted: a.Retracted, Cached: ok})
	}
	s.mu.Unlock()
	s.render(w, http.StatusOK, "index", p)
}

func (s *Server) serveRefresh(w http.ResponseWriter, r *http.Request) {
	res, err := s.c.List(r.Context())
	s.setErr(err)
	if res != nil {
		s.noteForks(res.Forks())
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// article returns the article, fetched again unless it was fetched within
// FreshFor; on failure, the saved copy and why it may be old (the
// fetch's error, with a nil error).
func (s *Server) article(ctx context.Context, id string) (res *reader.Result, failed, err error) {
	s.mu.Lock()
	recent := time.Since(s.checked[id]) < s.opts.FreshFor
	s.mu.Unlock()
	cached, cerr := s.c.Cached(id)
	if recent && cerr == nil && cached != nil && (cached.Bundle != nil || cached.Article != nil && cached.Article.Retracted) {
		return cached, nil, nil
	}
	res, err = s.c.Fetch(ctx, id)
	var re *reader.Error
	if errors.As(err, &re) {
		s.noteForks(re.Forks())
	} else if err == nil {
		s.noteForks(res.Forks())
	}
	if err == nil {
		s.mu.Lock()
		s.checked[id] = time.Now()
		s.mu.Unlock()
		return res, nil, nil
	}
	if cerr == nil && cached != nil && cached.Bundle != nil {
		return cached, err, nil
	}
	return nil, nil, err
}

func (s *Server) serveArticle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if bundle.CheckID(id) != nil {
		s.problem(w, http.StatusBadRequest, "No such article", errors.New("that is not an article name"))
		return
	}
	res, problem, err := s.article(r.Context(), id)
	switch {
	case allNotFound(err):
		s.problem(w, http.StatusNotFound, "No such article", err)
		return
	case err != nil:
		s.problem(w, http.StatusBadGateway, "No mirror gave a verified copy", err)
		return
	case res.Article == nil:
		s.problem(w, http.StatusNotFound, "No such article", errors.New("the publisher's log has no article of that name"))
		return
	case res.Article.Retracted:
		s.problem(w, http.StatusGone, "Withdrawn", errors.New("the publisher withdrew this article on "+res.Article.Time.UTC().Format("2006-01-02 15:04 UTC")+"; the withdrawal is signed and verified"))
		return
	}
	s.remember(res.Bundle)
	p, err := newArticlePage(res, "/a/"+id+"/", false)
	if err != nil {
		s.problem(w, http.StatusInternalServerError, "The article cannot be shown", err)
		return
	}
	p.Status, p.Alarm = statusOf(res, problem, "This article", false), s.alarmText()
	s.render(w, http.StatusOK, "article", p)
}

func (s *Server) serveImage(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if bundle.CheckID(id) != nil || bundle.CheckName(name) != nil {
		http.NotFound(w, r)
		return
	}
	b := s.imageBundle(id)
	if b == nil {
		http.NotFound(w, r)
		return
	}
	i := b.Lookup(name)
	if i <= 0 || !bundle.ImageTypes[b.Manifest.Entries[i].Type] {
		http.NotFound(w, r)
		return
	}
	data, err := b.Entry(i)
	if err != nil {
		http.Error(w, "damaged entry", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", b.Manifest.Entries[i].Type)
	// An SVG opened on its own must not run script either.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	w.Write(data)
}

// maxRecent bounds the bundles kept for their images: a page's images
// are asked for together, and each would read and verify the bundle.
const maxRecent = 16

// imageBundle returns the verified current bundle of article id, from
// those kept for their images or from the saved state.
func (s *Server) imageBundle(id string) *bundle.Bundle {
	a, err := s.c.Article(id)
	if err != nil || a == nil || a.Retracted {
		return nil
	}
	s.mu.Lock()
	b := s.recent[a.Digest]
	s.mu.Unlock()
	if b != nil {
		return b
	}
	res, err := s.c.Cached(id)
	if err != nil || res == nil || res.Bundle == nil || res.Bundle.Digest != a.Digest {
		return nil
	}
	s.mu.Lock()
	if len(s.recent) >= maxRecent {
		for d := range s.recent { // any one: a page's images come together
			delete(s.recent, d)
			break
		}
	}
	s.recent[a.Digest] = res.Bundle
	s.mu.Unlock()
	return res.Bundle
}

type problemPage struct {
	head
	Problem string
	Details []string
}

// problem explains in plain words why nothing verified can be shown.
func (s *Server) problem(w http.ResponseWriter, code int, title string, err error) {
	p := &problemPage{head: head{Title: title}}
	var re *reader.Error
	if errors.As(err, &re) {
		p.Problem = "None of the mirrors tried gave a copy that could be verified. Some may be blocked, down or lying; nothing unverified is shown. Try again later, or add other mirrors."
		if errors.Is(re.Err, context.DeadlineExceeded) {
			p.Problem += " The reader stopped waiting for them after its time limit."
		}
		for _, f := range re.Failures {
			p.Details = append(p.Details, f.String())
		}
		for _, m := range re.Untried {
			p.Details = append(p.Details, m+": no answer before the reader gave up")
		}
	} else {
		p.Problem = err.Error()
	}
	s.render(w, code, "problem", p)
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.opts.Logger.Error("reader: rendering", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// allNotFound reports whether every mirror's verified log lacked the
// article (not one that was merely behind while others failed).
func allNotFound(err error) bool {
	var re *reader.Error
	if !errors.As(err, &re) || len(re.Failures) == 0 || len(re.Untried) > 0 {
		return false
	}
	for _, f := range re.Failures {
		if !errors.Is(f.Err, reader.ErrNotFound) {
			return false
		}
	}
	return true
}
