// Package reader fetches a publisher's articles from whichever mirrors
// answer and accepts only what it can verify against the publisher's
// pinned root key.
//
// For each mirror it tries, a reader fetches the key statement, the
// newest checkpoint and every log leaf it does not hold yet (the log is
// served as C2SP tlog-tiles: entry bundles of 256 leaves, hash tiles), and
// extends the tree it kept with the new leaves: the tree must hash to the
// checkpoint's root, which proves at once that every article the reader
// lists is in the log, that no leaf was hidden (a newer revision held
// back, a withdrawal, an article left out) and that the checkpoint
// extends the newest one the reader saw before. It refuses a checkpoint
// smaller or older than that one (rollback) and one of the same size with
// another root (fork). Then it fetches the article's bundle by the digest
// its newest leaf names and verifies the signature and every entry's
// hash. A returning reader reads only the new leaves: its state keeps the
// right edge of the tree and an index of the articles, so its cost grows
// with what is new, not with the log; a long sync cut short keeps what it
// checked and goes on from there.
//
// A reader that keeps no copy of the log (Config.Full unset, nothing
// synced yet) takes the light path instead: one article is verified by
// its index proof against the article index root the checkpoint carries,
// which carries the article's newest leaf, and its bundle, in three
// sequential round trips whatever the log's size; the newest
// articles (Newest) by the log's last leaves and the hash tiles that tie
// them to the checkpoint. It keeps the newest checkpoint it verified, and
// a later one must extend it (hash tiles again, O(log n)). A checkpoint
// without an index, or a mirror without index proofs, makes it sync the
// whole log as above.
//
// Mirrors are tried at staggered times, and at once when one fails; the
// first verified answer wins and the others are cancelled. A verified
// checkpoint older than Config.MaxAge is stale: the reader keeps asking
// the other mirrors for a fresher one and reports the staleness if none
// has it. What a reader has verified is kept in a state directory, so the
// next run refuses anything older and can show articles offline.
package reader

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// Defaults of Config.
const (
	DefaultStagger       = 150 * time.Millisecond
	DefaultTimeout       = 30 * time.Second
	DefaultHeaderTimeout = 4 * time.Second
	DefaultMinRate       = 16 << 10
	DefaultMaxAge        = 24 * time.Hour
	DefaultMaxBundleSize = 32 << 20
	// MaxParallel is how many tiles a reader fetches at once from one
	// mirror.
	MaxParallel = 4
	// MaxNewLeaves bounds the leaves one fetch accepts from a mirror.
	MaxNewLeaves = 1 << 20
	// MaxCandidates bounds the mirrors one fetch tries.
	MaxCandidates = 128
	// maxHintsPerMirror bounds the hints one mirror may add, so that one
	// cannot fill the reader's list of hints.
	maxHintsPerMirror = 8
	// MaxClockSkew is how far in the future a checkpoint may be dated.
	MaxClockSkew = 10 * time.Minute
)

// Config configures a Client.
type Config struct {
	// Root is the publisher's pinned root key. Required.
	Root *keys.PublicKey
	// Mirrors are the mirror URLs to try first, in order: http://,
	// https:// or h3:// (HTTP/3), with an optional path prefix. The URL
	// of a page on the mirror is accepted too, and cut back to the
	// mirror's base (see ParseMirrorURL).
	Mirrors []string
	// StateDir keeps what the reader verified, per publisher, in
	// StateDir/<publisher ID>. Empty keeps nothing between runs.
	StateDir string
	// NoDiscovery leaves out the mirrors learned from the publisher's
	// signed mirror list and from mirrors' hints.
	NoDiscovery bool
	// Stagger is the delay before the next mirror is tried while the
	// earlier ones have not answered. Zero means DefaultStagger.
	Stagger time.Duration
	// Timeout bounds a whole fetch. Zero means DefaultTimeout.
	Timeout time.Duration
	// HeaderTimeout bounds connecting to a mirror and waiting for a
	// response's headers. Zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// MinRate is the slowest the whole transfer from a mirror may go, in
	// bytes a second, over the time during which at least one response
	// body is being read, after a second's grace; and some byte must
	// arrive every HeaderTimeout. Streams sharing a slow link may each
	// go slower. Zero means DefaultMinRate.
	MinRate int64
	// MaxAge is the age beyond which a checkpoint is stale. Zero means
	// DefaultMaxAge.
	MaxAge time.Duration
	// MaxBundleSize bounds a bundle fetched. Zero means
	// DefaultMaxBundleSize.
	MaxBundleSize int64
	// TLSConfig is the base TLS configuration (for example RootCAs);
	// nil means the system's roots.
	TLSConfig *tls.Config
	// InsecureTLS skips checking mirrors' TLS certificates. What they
	// serve is verified all the same; only the link's privacy suffers.
	InsecureTLS bool
	// Now gives the time; nil means time.Now.
	Now func() time.Time
	// Full makes every fetch verify the whole log, as a reader that
	// lists every article needs (and then keeps it, and reads only new
	// leaves on later fetches). Without it, a reader that keeps no copy
	// of the log fetches one article (Fetch) or the newest ones (Newest)
	// by the light path: the article's index proof, its leaf and its
	// bundle, or the log's last leaves, never the whole log. It syncs the
	// whole log anyway when a mirror's checkpoint carries no article index
	// or the mirror serves no index proofs (Result.FullSync says why).
	Full bool
	// Logger receives each mirror's outcome at debug level. Nil means
	// silent.
	Logger *slog.Logger
}

// Client fetches and verifies one publisher's articles. It is safe for
// concurrent use; fetches sharing a state directory take turns.
type Client struct {
	cfg     Config
	t       *transports
	dir     string
	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex // guards st
	st      *state     // never changed once set: commits make a new one

}

// New returns a client for cfg.
func New(cfg *Config) (*Client, error) {
	c := &Client{cfg: *cfg}
	cf := &c.cfg
	if cf.Root == nil {
		return nil, errors.New("reader: no publisher root key")
	}
	if cf.Stagger <= 0 {
		cf.Stagger = DefaultStagger
	}
	if cf.Timeout <= 0 {
		cf.Timeout = DefaultTimeout
	}
	if cf.HeaderTimeout <= 0 {
		cf.HeaderTimeout = DefaultHeaderTimeout
	}
	if cf.MinRate <= 0 {
		cf.MinRate = DefaultMinRate
	}
	if cf.MaxAge <= 0 {
		cf.MaxAge = DefaultMaxAge
	}
	if cf.MaxBundleSize <= 0 {
		cf.MaxBundleSize = DefaultMaxBundleSize
	}
	if cf.Now == nil {
		cf.Now = time.Now
	}
	if cf.Logger == nil {
		cf.Logger = slog.New(slog.DiscardHandler)
	}
	// A page's URL pasted from a browser is cut back to the mirror's base.
	cf.Mirrors = slices.Clone(cf.Mirrors)
	for i, m := range cf.Mirrors {
		u, err := ParseMirrorURL(m)
		if err != nil {
			return nil, err
		}
		if u.Publisher != "" && u.Publisher != cf.Root.ID() {
			return nil, fmt.Errorf("reader: mirror URL %q is a page of publisher %s, not of %s, the publisher this reader trusts", m, u.Publisher, cf.Root.ID())
		}
		cf.Mirrors[i] = u.Base
	}
	if cf.StateDir != "" {
		c.dir = filepath.Join(cf.StateDir, cf.Root.ID())
	}
	c.t = newTransports(cf)
	return c, nil
}

// Close releases the client's connections.
func (c *Client) Close() error {
	c.t.close()
	return nil
}

// PublisherID returns the ID of the client's publisher.
func (c *Client) PublisherID() string { return c.cfg.Root.ID() }

// Failure is why one mirror gave no verified answer.
type Failure struct {
	Mirror string
	Err    error
}

func (f Failure) String() string { return f.Mirror + ": " + f.Err.Error() }

// Error is returned when no mirror gave a verified answer.
type Error struct {
	Publisher string    // the publisher's ID
	Failures  []Failure // one per mirror tried, in the order they failed
	Untried   []string  // mirrors not tried, or not done, when the fetch gave up
	Err       error     // the fetch's own reason, such as its timeout
}

// Error says why, one line per mirror. The mirrors that do not carry the
// publisher (ErrNotCarried) share one line; when they are all there is
// to say, the whole message is that line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("reader: no mirror gave a verified copy")
	var absent []string
	var others []Failure
	for _, f := range e.Failures {
		if errors.Is(f.Err, ErrNotCarried) {
			absent = append(absent, f.Mirror)
		} else {
			others = append(others, f)
		}
	}
	if len(absent) > 0 && len(others) == 0 && len(e.Untried) == 0 && e.Err == nil {
		if len(absent) == 1 {
			fmt.Fprintf(&b, ": %s does not carry this publisher (%s)", absent[0], e.Publisher)
		} else {
			fmt.Fprintf(&b, ": none of the %d mirrors tried carries this publisher (%s): %s", len(absent), e.Publisher, strings.Join(absent, ", "))
		}
		return b.String()
	}
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		b.WriteString(" before the fetch ran out of time; what it checked is kept, and the next fetch goes on from there")
	case e.Err != nil:
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	if len(absent) > 0 {
		fmt.Fprintf(&b, "\n  %s: %s (%s)", strings.Join(absent, ", "), ErrNotCarried, e.Publisher)
	}
	for _, f := range others {
		b.WriteString("\n  " + f.String())
	}
	for _, m := range e.Untried {
		b.WriteString("\n  " + m + ": no answer before the fetch gave up")
	}
	return b.String()
}

// Unwrap returns each mirror's failure, so errors.Is finds ErrRollback,
// ErrFork and the others among them.
func (e *Error) Unwrap() []error {
	var out []error
	for _, f := range e.Failures {
		out = append(out, f.Err)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Forks returns the failures that were forks: a mirror served a
// checkpoint the publisher's key signed that contradicts the one this
// reader kept (the same size, another root). Unlike a lie, a fork needs
// the publisher's key: it has been stolen or misused. Tell the publisher.
func (e *Error) Forks() []Failure { return forks(e.Failures) }

// Forks returns the failures before the winner that were forks; see
// Error.Forks.
func (r *Result) Forks() []Failure { return forks(r.Failures) }

func forks(fs []Failure) []Failure {
	var out []Failure
	for _, f := range fs {
		if errors.Is(f.Err, ErrFork) {
			out = append(out, f)
		}
	}
	return out
}

// Result is a verified answer.
type Result struct {
	Mirror     string              // the mirror whose answer won
	Publisher  string              // the publisher's ID
	Trust      *keys.Trust         // the publisher's key statement in force
	Checkpoint *catalog.Checkpoint // the verified checkpoint
	Stale      bool                // Checkpoint is older than MaxAge
	Age        time.Duration       // Checkpoint's age when verified
	// Article is the asked-for article's state in the log (nil when
	// listing); Bundle its verified current bundle, nil if withdrawn.
	Article *catalog.Article
	Bundle  *bundle.Bundle
	// Failures are the mirrors that failed before the winner answered.
	Failures []Failure
	// Light says the answer was verified by the light path, without the
	// whole log: Article by its index proof against Checkpoint, or the
	// newest articles from the log's last leaves. Articles then lists
	// only those.
	Light bool
	// FullSync, when set, says why a fetch that would have taken the
	// light path verified the whole log instead.
	FullSync string
	view     *view
	newest   []*catalog.Article
}

// Articles returns every article of the verified log, most recently
// changed first; withdrawn ones have Retracted set.
//
// It reads the reader's index of the log: nil if the index cannot be read
// (ArticleList says why).
//
// A light answer (Light set) lists only the newest articles it verified.
func (r *Result) Articles() []*catalog.Article {
	l, _ := r.ArticleList()
	return l
}

// ArticleList is Articles with the error that reading the index gave.
func (r *Result) ArticleList() ([]*catalog.Article, error) {
	if r.view == nil {
		return r.newest, nil
	}
	return r.view.list()
}

// Errors a mirror's answer can fail with, besides transport and
// verification errors.
var (
	// ErrRollback is catalog.ErrRollback: a checkpoint smaller or older
	// than the one the reader kept.
	ErrRollback = catalog.ErrRollback
	// ErrFork is wrapped, beside the *catalog.ForkError that holds both
	// signed checkpoints as evidence, when a mirror serves a checkpoint of
	// the kept one's size with another root, or a longer one whose hash
	// tiles (which hash to its root) give the tree the reader kept (its
	// head's, or that of a sync in progress) another root. Client.Fetch
	// keeps the evidence in the state directory's forks/ folder.
	ErrFork     = errors.New("the publisher's log forked")
	ErrNotFound = errors.New("no such article in the publisher's log")
	ErrWithheld = errors.New("the mirror withholds a bundle its log names")
	// ErrNotCarried says a mirror answered 404 for the publisher's key
	// statement: it does not carry this publisher.
	ErrNotCarried = errors.New("this mirror does not carry this publisher")
)

// List fetches the publisher's verified log: Result.Articles lists it.
// It syncs the whole log (and keeps it: later fetches read only new
// leaves).
func (c *Client) List(ctx context.Context) (*Result, error) { return c.fetch(ctx, query{}) }

// Newest fetches the publisher's k most recently changed articles (k at
// most MaxNewest): Result.Articles lists them, each in its newest state
// as of the checkpoint. A reader that keeps no copy of the log (and is not
// Config.Full) reads only the log's last leaves and the hash tiles that
// tie them to the checkpoint; one that keeps the log syncs it, as List.
func (c *Client) Newest(ctx context.Context, k int) (*Result, error) {
	if k < 1 || k > MaxNewest {
		return nil, fmt.Errorf("reader: newest %d articles: want 1 to %d", k, MaxNewest)
	}
	r, err := c.fetch(ctx, query{newest: k})
	if err == nil && r.view != nil {
		// A sync of the whole log: its newest k.
		l, err := r.view.list()
		if err != nil {
			return nil, err
		}
		r.newest, r.view = l[:min(k, len(l))], nil
	}
	return r, err
}

// Fetch fetches the article id's current revision and verifies it. A
// withdrawn article is a verified answer too: Result.Article.Retracted is
// set and Result.Bundle nil.
func (c *Client) Fetch(ctx context.Context, id string) (*Result, error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	return c.fetch(ctx, query{id: id})
}

// Cached returns what the state holds of the article id without asking
// any mirror: its log state and verified bundle, and the checkpoint that
// vouches for them. It is nil when the state holds nothing of the
// publisher.
func (c *Client) Cached(id string) (*Result, error) {
	st, err := c.state()
	if err != nil {
		return nil, err
	}
	if st.cp == nil {
		return nil, nil
	}
	r := &Result{Publisher: c.PublisherID(), Trust: st.trust, Checkpoint: st.cp, view: st.view}
	r.Age = c.cfg.Now().Sub(st.cp.Time)
	r.Stale = r.Age > c.cfg.MaxAge
	if id != "" {
		if r.Article, err = st.view.article(id); err != nil || r.Article == nil {
			return r, err
		}
		r.Bundle = st.cached(r.Article, st.trust)
	}
	return r, nil
}

// Article returns the state of article id in the log the reader kept,
// without reading any bundle, or nil.
func (c *Client) Article(id string) (*catalog.Article, error) {
	st, err := c.state()
	if err != nil {
		return nil, err
	}
	return st.view.article(id)
}

// ForkEvidence returns the files in which the state keeps forks seen,
// newest last; none when there were none (or no state is kept).
func (c *Client) ForkEvidence() []string {
	if c.dir == "" {
		return nil
	}
	des, err := os.ReadDir(filepath.Join(c.dir, "forks"))
	if err != nil {
		return nil
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".txt") {
			out = append(out, filepath.Join(c.dir, "forks", de.Name()))
		}
	}
	return out
}

// Saved returns the verified bundle of article a that the state keeps for
// offline reading, or nil.
func (c *Client) Saved(a *catalog.Article) *bundle.Bundle {
	st, err := c.state()
	if err != nil || st.newestTrust() == nil {
		return nil
	}
	return st.cached(a, st.newestTrust())
}

// Bundle returns the verified bundle of a, an article that res lists (a
// List's result, say): the copy the state keeps, or else one fetched from
// res.Mirror, the mirror whose answer res is, and then kept. It is how a
// list shows each article's title and date without a fetch for each. A
// withdrawn article has no bundle.
func (c *Client) Bundle(ctx context.Context, res *Result, a *catalog.Article) (*bundle.Bundle, error) {
	if a == nil || a.Retracted {
		return nil, errors.New("reader: a withdrawn article has no bundle")
	}
	if b := c.Saved(a); b != nil {
		return b, nil
	}
	base, h3, err := mirrorURL(res.Mirror)
	if err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	if err := c.t.checkRoute(base, h3); err != nil {
		return nil, fmt.Errorf("reader: %s: %w", res.Mirror, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	data, err := c.t.get(ctx, nil, base, h3, "/b/"+a.Digest.String(), c.cfg.MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("reader: %s: %w", res.Mirror, err)
	}
	b, err := verifyBundle(data, res.Trust, a)
	if err != nil {
		return nil, fmt.Errorf("reader: %s: %w", res.Mirror, err)
	}
	if c.dir != "" {
		// Kept like a fetched article's; a failure only costs a download.
		dir := filepath.Join(c.dir, "bundles")
		err := os.MkdirAll(dir, 0o700)
		if err == nil {
			err = writeAtomic(dir, a.Digest.String(), data)
		}
		if err != nil {
			c.cfg.Logger.Warn("reader: cannot save a bundle", "dir", dir, "err", err)
		}
	}
	return b, nil
}

// state returns the client's state, loading it on first use. The caller
// must not change it.
func (c *Client) state() (*state, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		st, err := loadState(c.dir, c.cfg.Root)
		if err != nil {
			return nil, err
		}
		c.st = st
	}
	return c.st, nil
}

// reload returns a copy of the state on disk for a fetch to change: the
// client's own when no other process moved it on, else loaded afresh.
// c.fetchMu and the directory's lock are held.
func (c *Client) reload() (*state, error) {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st != nil && st.current() {
		return st.clone(), nil
	}
	st, err := loadState(c.dir, c.cfg.Root)
	if err != nil {
		return nil, err
	}
	return st.clone(), nil
}

// Verifiers returns the SHA-256 of the verifier pages (package verifier)
// that the publisher's newest mirror list this reader verified vouches
// for, in the list's order, and that list's version: 0 and none if it
// has verified no list. A fetch learns the list unless NoDiscovery is
// set.
func (c *Client) Verifiers() (uint64, [][sha256.Size]byte, error) {
	st, err := c.state()
	if err != nil {
		return 0, nil, err
	}
	var hs [][sha256.Size]byte
	for _, v := range st.mirrors.Verifiers {
		h, err := catalog.ParseVerifierHash(v)
		if err != nil {
			return 0, nil, fmt.Errorf("reader: the kept mirror list: %w", err)
		}
		hs = append(hs, h)
	}
	return st.mirrors.SignedVersion, hs, nil
}

// Mirrors returns the mirrors a fetch would try, in order.
func (c *Client) Mirrors() ([]string, error) {
	st, err := c.state()
	if err != nil {
		return nil, err
	}
	return c.candidates(st), nil
}

func (c *Client) candidates(st *state) []string {
	var out []string
	add := func(list []string) {
		for _, m := range list {
			if len(out) < MaxCandidates && !slices.Contains(out, m) {
				if _, _, err := mirrorURL(m); err == nil {
					out = append(out, m)
				}
			}
		}
	}
	add(c.cfg.Mirrors)
	if !c.cfg.NoDiscovery {
		// Mirrors that answered before go first, then the publisher's
		// list in its order, then hints in a random order.
		var good []string
		for m := range st.mirrors.Good {
			good = append(good, m)
		}
		slices.SortFunc(good, func(a, b string) int { return st.mirrors.Good[b].Compare(st.mirrors.Good[a]) })
		add(good)
		add(st.mirrors.Signed)
		hints := slices.Clone(st.mirrors.Hints)
		rand.Shuffle(len(hints), func(i, j int) { hints[i], hints[j] = hints[j], hints[i] })
		add(hints)
	}
	return out
}

func (c *Client) fetch(ctx context.Context, q query) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	unlock, err := lockDir(c.dir, c.cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	defer unlock()
	st, err := c.reload()
	if err != nil {
		return nil, err
	}
	cands := c.candidates(st)
	if len(cands) == 0 {
		return nil, errors.New("reader: no mirror to ask: give at least one")
	}
	win, failures, untried, err := c.race(ctx, st, q, cands)
	for _, f := range failures {
		var fe *catalog.ForkError
		if errors.As(f.Err, &fe) {
			if err := saveFork(c.dir, f.Mirror, fe); err != nil {
				c.cfg.Logger.Warn("reader: cannot keep the evidence of a fork", "dir", c.dir, "err", err)
			}
		}
	}
	if win == nil {
		c.keepProgress(st, failures)
		return nil, &Error{Publisher: c.PublisherID(), Failures: failures, Untried: untried, Err: err}
	}
	// Losing attempts may still read st: commit into a copy.
	st = st.clone()
	commit := st.commit
	if win.light {
		commit = st.commitLight
	}
	if err := commit(win); err != nil {
		// The answer is verified; only remembering it failed.
		c.cfg.Logger.Warn("reader: cannot save state", "dir", c.dir, "err", err)
		st = nil // load it again next time
	}
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
	return &Result{
		Mirror: win.mirror, Publisher: c.PublisherID(), Trust: win.trust, Checkpoint: win.cp,
		Stale: win.stale, Age: win.at.Sub(win.cp.Time), Article: win.article, Bundle: win.bundle,
		Failures: failures, view: win.view, Light: win.light, FullSync: win.fallback, newest: win.newest,
	}, nil
}

// race tries the candidates at staggered times and returns the first
// fresh verified answer, or the freshest stale one once every mirror has
// answered or the grace for a fresher one has passed.
func (c *Client) race(ctx context.Context, st *state, q query, cands []string) (*attempt, []Failure, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan outcome, len(cands))
	cands = slices.Clone(cands)
	next, running := 0, 0
	syncAll := map[string]bool{} // mirrors asked again, for the whole log
	var deferred []*deferredSync
	start := func() {
		m, q := cands[next], q
		q.sync = syncAll[m]
		next++
		running++
		go func() {
			a, err := c.try(ctx, st, m, q)
			results <- outcome{m, a, err}
		}()
	}
	var failures []Failure
	var stale *attempt
	var staleDeadline <-chan time.Time
	tick := time.NewTicker(c.cfg.Stagger)
	defer tick.Stop()
	start()
	for {
		if running == 0 && next == len(cands) && stale == nil && len(deferred) > 0 {
			// No mirror proved the article: sync the whole log from
			// those that serve no proofs, in the order they answered.
			for _, d := range deferred {
				syncAll[d.mirror] = true
				cands = append(cands, d.mirror)
			}
			deferred = nil
			start()
			tick.Reset(c.cfg.Stagger)
			continue
		}
		if running == 0 && next == len(cands) {
			return stale, failures, nil, nil
		}
		select {
		case <-ctx.Done():
			failures = append(failures, c.drain(results, running)...)
			return stale, failures, untriedOf(cands[next:], failures, cands[:next]), context.Cause(ctx)
		case <-staleDeadline:
			return stale, failures, nil, nil
		case <-tick.C:
			if next < len(cands) {
				start()
			}
		case o := <-results:
			running--
			if d := (*deferredSync)(nil); errors.As(o.err, &d) {
				d.mirror = o.mirror
				deferred = append(deferred, d)
				c.cfg.Logger.Debug("reader: mirror serves no index proofs; asking the others first", "mirror", o.mirror)
				if next < len(cands) {
					start()
					tick.Reset(c.cfg.Stagger)
				}
				continue
			}
			if o.err != nil {
				failures = append(failures, Failure{o.mirror, o.err})
				c.cfg.Logger.Debug("reader: mirror failed", "mirror", o.mirror, "err", o.err)
				if next < len(cands) {
					start()
					tick.Reset(c.cfg.Stagger)
				}
				continue
			}
			if !o.a.stale {
				return o.a, failures, nil, nil
			}
			c.cfg.Logger.Debug("reader: stale answer", "mirror", o.a.mirror, "checkpoint", o.a.cp.Time)
			if err := staleFork(stale, o.a); err != nil {
				// Two mirrors, both verified, show two histories of one
				// size: the publisher's keys signed both.
				failures = append(failures, Failure{o.mirror, err})
				continue
			}
			if stale == nil || o.a.newer(stale) {
				stale = o.a
			}
			if staleDeadline == nil {
				staleDeadline = time.After(2 * time.Second)
			}
			if next < len(cands) {
				start()
				tick.Reset(c.cfg.Stagger)
			}
		}
	}
}

// outcome is how one mirror's attempt in a race ended.
type outcome struct {
	mirror string
	a      *attempt
	err    error
}

// drainGrace bounds how long a fetch that ran out of time waits for the
// attempts still running, which stop at once with its context.
const drainGrace = 500 * time.Millisecond

// drain collects, for up to drainGrace, the outcomes of the running
// attempts of a race whose context is done, and returns those that carry
// a sync cut short with its checked progress: keepProgress keeps it, so
// a fetch that ran out of time on a slow link goes on from there next
// time instead of starting again from leaf 0. The others stay untried
// ("no answer before the fetch gave up").
func (c *Client) drain(results <-chan outcome, running int) []Failure {
	var out []Failure
	grace := time.NewTimer(drainGrace)
	defer grace.Stop()
	for ; running > 0; running-- {
		select {
		case o := <-results:
			var me *mirrorError
			if o.err != nil && errors.As(o.err, &me) && me.progress != nil {
				out = append(out, Failure{o.mirror, o.err})
			}
		case <-grace.C:
			return out
		}
	}
	return out
}

// untriedOf lists the mirrors never started, and those started that
// neither failed nor won.
func untriedOf(never []string, failed []Failure, started []string) []string {
	out := slices.Clone(never)
	for _, m := range started {
		if !slices.ContainsFunc(failed, func(f Failure) bool { return f.Mirror == m }) {
			out = append(out, m)
		}
	}
	return out
}

// attempt is one mirror's verified answer.
type attempt struct {
	mirror     string
	at         time.Time
	trust      *keys.Trust
	checkpoint []byte
	cp         *catalog.Checkpoint
	view       *view
	stale      bool
	article    *catalog.Article
	bundle     *bundle.Bundle
	mirrorList *catalog.MirrorList
	hints      []string
	rebased    bool // the kept log was dropped: its checkpoint's key is revoked
	progress   *progress
	light      bool               // verified by the light path: view is nil
	fallback   string             // why the light path gave way to a sync
	newest     []*catalog.Article // a light list's articles
}

// staleFork returns a fork error if b's checkpoint, verified, has the size
// of a's, also verified, and another root; a may be nil.
func staleFork(a, b *attempt) error {
	if a == nil {
		return nil
	}
	var fe *catalog.ForkError
	if errors.As(catalog.Judge(a.cp, b.cp), &fe) {
		fe.Have, fe.Got = a.checkpoint, b.checkpoint
		return fmt.Errorf("%w: %w", ErrFork, fe)
	}
	return nil
}

// newer reports whether a's checkpoint is newer than b's.
func (a *attempt) newer(b *attempt) bool {
	return a.cp.Size > b.cp.Size || a.cp.Size == b.cp.Size && a.cp.Time.After(b.cp.Time)
}

// getter fetches a path from one mirror, with at most max bytes of body.
type getter func(path string, max int64) ([]byte, error)

// query is what a fetch asks for: an article (id), the newest articles
// (newest > 0), or else the whole log.
type query struct {
	id     string
	newest int
	// sync: no mirror of the race served the light path for this one,
	// so it syncs the whole log even if it serves no index proofs.
	sync bool
}

// deferredSync is the outcome of a light attempt at a mirror that serves
// no index proofs, or whose checkpoint carries no index: the race tries
// the other mirrors' light paths first, and syncs the whole log from this
// one only if none answers. A mirror that withholds proofs must not make
// a reader on a slow link download the whole log while another mirror
// would prove the one article.
type deferredSync struct {
	reason error
	mirror string
}

func (d *deferredSync) Error() string { return d.reason.Error() }
func (d *deferredSync) Unwrap() error { return d.reason }

// maxMoves bounds the times one attempt starts again because the
// mirror's checkpoint moved on while the reader asked for a proof
// against it.
const maxMoves = 2

// try asks one mirror and verifies its answer against st.
func (c *Client) try(ctx context.Context, st *state, mirror string, q query) (a *attempt, err error) {
	for range maxMoves {
		a, err = c.tryOnce(ctx, st, mirror, q)
		if !errors.Is(err, errMoved) {
			break
		}
	}
	return a, err
}

// tryOnce asks one mirror and verifies its answer against st.
func (c *Client) tryOnce(ctx context.Context, st *state, mirror string, q query) (a *attempt, err error) {
	a = &attempt{mirror: mirror}
	defer func() {
		if err != nil {
			err = &mirrorError{mirror, err, a.progress}
		}
	}()
	base, h3, err := mirrorURL(mirror)
	if err != nil {
		return a, err
	}
	if err := c.t.checkRoute(base, h3); err != nil {
		return a, err
	}
	pub := "/p/" + c.PublisherID()

	// The speed of the whole transfer from this mirror is judged, not
	// that of each response.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m := newMeter(&c.cfg, cancel)
	get := getter(func(path string, max int64) ([]byte, error) { return c.t.get(ctx, m, base, h3, path, max) })

	// Hints travel unsigned and are only ever tried, so they are asked
	// for alongside the rest and used if they arrive in time; their speed
	// is their own.
	var hints chan []string
	if !c.cfg.NoDiscovery {
		hints = make(chan []string, 1)
		go func() { hints <- c.peerHints(ctx, base, h3) }()
	}

	// A reader that keeps no log may take the light path, which does not
	// see the log's mirror list leaves: it learns the publisher's signed
	// mirror list from the same round trip, best effort.
	maybeLight := !c.cfg.Full && st.view.size == 0 && st.anchorCP == nil && (q.id != "" || q.newest > 0)
	var mirrors chan []byte
	if maybeLight && !c.cfg.NoDiscovery {
		mirrors = make(chan []byte, 1)
		go func() {
			b, _ := get(pub+"/mirrors", catalog.MaxMirrorListSize)
			mirrors <- b
		}()
	}

	// The key statement and the checkpoint, in one round trip.
	var stmt []byte
	var stmtErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		stmt, stmtErr = get(pub+"/key-statement", keys.MaxStatementSize)
	}()
	var cpErr error
	a.checkpoint, cpErr = get(pub+"/checkpoint", catalog.MaxCheckpointSize)
	<-done
	if es := (*errStatus)(nil); errors.As(stmtErr, &es) && es.code == http.StatusNotFound {
		return a, fmt.Errorf("%w (%s)", ErrNotCarried, c.PublisherID())
	}
	if stmtErr != nil {
		return a, stmtErr
	}
	if cpErr != nil {
		return a, cpErr
	}
	if trust := st.newestTrust(); trust != nil {
		a.trust, err = trust.Update(stmt)
	} else {
		a.trust, err = keys.NewTrust(c.cfg.Root, stmt)
	}
	if err != nil {
		return a, err
	}
	if a.cp, err = catalog.OpenCheckpoint(a.checkpoint, a.trust); err != nil {
		return a, err
	}
	a.at = c.cfg.Now()
	if a.cp.Time.After(a.at.Add(MaxClockSkew)) {
		// Signed with a wrong clock or a stolen key: kept, it would make
		// every honest checkpoint look older until that date.
		return a, fmt.Errorf("checkpoint dated %s, in the future (this reader's clock says %s)", a.cp.Time.Format(time.RFC3339), a.at.UTC().Format(time.RFC3339))
	}
	// What the reader kept is the base the mirror's log must extend,
	// unless the publisher has since revoked the key that signed the
	// kept checkpoint: then that checkpoint proves nothing (it may come
	// from the stolen key), and the log is checked afresh from leaf 0.
	// A sync in progress goes on from where it stopped, and the
	// checkpoint it was checked against bounds this one too; so does the
	// newest checkpoint a light fetch verified.
	prior, old, anchor, latest := st.view, st.cp, st.anchorCP, st.lightCP
	if old != nil && !stillTrusted(st.checkpoint, a.trust) || anchor != nil && !stillTrusted(st.anchor, a.trust) {
		prior, old, anchor, a.rebased = &view{}, nil, nil, true
	}
	if latest != nil && !stillTrusted(st.light, a.trust) {
		latest = nil
	}
	if err := judge(old, st.checkpoint, a); err != nil {
		return a, err
	}
	if err := judge(anchor, st.anchor, a); err != nil {
		return a, err
	}
	if err := judge(latest, st.light, a); err != nil {
		return a, err
	}
	a.stale = a.at.Sub(a.cp.Time) > c.cfg.MaxAge
	// A reader that keeps no copy of the log reads one article, or the
	// newest ones, without it.
	if maybeLight && !a.rebased {
		held, heldSigned := old, st.checkpoint
		if latest != nil {
			held, heldSigned = latest, st.light
		}
		if q.id != "" {
			err = c.lightArticle(get, pub, st, a, q.id, held, heldSigned)
		} else {
			err = lightNewest(get, pub, a, q.newest, held, heldSigned)
		}
		switch {
		case err == nil:
			a.light = true
			if mirrors != nil {
				a.mirrorList = lightMirrorList(<-mirrors, a.trust, st.mirrors.SignedVersion)
			}
		case (errors.Is(err, errNoProofs) || errors.Is(err, errNoIndex)) && !q.sync:
			return a, &deferredSync{reason: err}
		case errors.Is(err, errFallback):
			a.fallback = err.Error()
			c.cfg.Logger.Info("reader: syncing the whole log", "mirror", mirror, "reason", err)
		default:
			return a, err
		}
	}
	if !a.light {
		if latest != nil {
			// The light fetch's checkpoint is not in prior's tree: the
			// mirror's tiles must show it in this one's.
			if err := consistent(newTileReader(get, pub, false), latest, st.light, a); err != nil {
				return a, err
			}
		}
		if err := c.full(ctx, get, pub, st, prior, a, q.id); err != nil {
			return a, err
		}
	}
	if hints != nil {
		// Hints are worth a short wait, not a long one.
		select {
		case a.hints = <-hints:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return a, nil
}

// full verifies the whole log of a's checkpoint: it syncs the leaves after
// prior's and, if id is set, finds the article and fetches its bundle.
func (c *Client) full(ctx context.Context, get getter, pub string, st *state, prior *view, a *attempt, id string) error {
	if a.cp.Size-prior.size > MaxNewLeaves {
		return fmt.Errorf("checkpoint adds %d leaves, more than the %d one fetch accepts", a.cp.Size-prior.size, MaxNewLeaves)
	}
	var err error
	if a.view, err = c.sync(ctx, get, pub, st, prior, a); err != nil {
		if errors.Is(err, errLeaves) && prior.size > 0 {
			// A lie or a fork: only the mirror's whole log could tell,
			// and a lying mirror must not raise a fork alarm.
			return fmt.Errorf("the mirror's leaves do not hash to its checkpoint from the log seen (altered, or the log forked)")
		}
		return err
	}
	if a.view.keyVersion > a.trust.Statement().Version {
		return fmt.Errorf("the log records key statement version %d, the mirror served version %d (withholds a newer one)", a.view.keyVersion, a.trust.Statement().Version)
	}
	if id != "" {
		if a.article, err = a.view.article(id); err != nil {
			return err
		}
		if a.article == nil {
			return fmt.Errorf("%w: %q (log of %d leaves)", ErrNotFound, id, a.cp.Size)
		}
		if !a.article.Retracted {
			if err := c.fetchBundle(get, st, a); err != nil {
				return err
			}
		}
	}
	if !c.cfg.NoDiscovery && a.view.mirrorVersion > st.mirrors.SignedVersion {
		// The publisher's newer mirror list: useful, not required.
		if ml, err := c.mirrorList(get, pub, a); err != nil {
			c.cfg.Logger.Debug("reader: mirror list", "mirror", a.mirror, "err", err)
		} else {
			a.mirrorList = ml
		}
	}
	return nil
}

// fetchBundle sets a.bundle to the verified bundle of a.article: the copy
// st keeps, or else the one the mirror serves.
func (c *Client) fetchBundle(get getter, st *state, a *attempt) error {
	if a.bundle = st.cached(a.article, a.trust); a.bundle != nil {
		return nil
	}
	data, err := get("/b/"+a.article.Digest.String(), c.cfg.MaxBundleSize)
	var es *errStatus
	if errors.As(err, &es) {
		return fmt.Errorf("%w: %s (%s)", ErrWithheld, a.article.Digest, es.status)
	} else if err != nil {
		return err
	}
	a.bundle, err = verifyBundle(data, a.trust, a.article)
	return err
}

// stillTrusted reports whether the signed checkpoint cp verifies under
// trust: its signing key is delegated, in force and not revoked.
func stillTrusted(cp []byte, trust *keys.Trust) bool {
	_, err := catalog.OpenCheckpoint(cp, trust)
	return err == nil
}

// judge compares the checkpoint a mirror served with one the reader kept
// (have, signed as haveSigned; nil for none): a rollback or a fork is an
// error, a fork with both checkpoints as evidence.
func judge(have *catalog.Checkpoint, haveSigned []byte, a *attempt) error {
	err := catalog.Judge(have, a.cp)
	var fe *catalog.ForkError
	if errors.As(err, &fe) {
		fe.Have, fe.Got = haveSigned, a.checkpoint
		return fmt.Errorf("%w: %w", ErrFork, fe)
	}
	return err
}

// mirrorError is one mirror's failure; progress is what it left of a
// sync cut short, checked and worth keeping.
type mirrorError struct {
	mirror   string
	err      error
	progress *progress
}

func (e *mirrorError) Error() string { return e.err.Error() }
func (e *mirrorError) Unwrap() error { return e.err }

// mirrorList fetches and verifies the mirror list a's log records last.
func (c *Client) mirrorList(get getter, pub string, a *attempt) (*catalog.MirrorList, error) {
	data, err := get(pub+"/mirrors", catalog.MaxMirrorListSize)
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(data) != a.view.mirrorDigest {
		return nil, errors.New("the mirror list is not the one the log records last")
	}
	return catalog.OpenMirrorList(data, a.trust)
}

// lightMirrorList returns the signed mirror list data if it verifies
// under trust and is newer than the version kept, else nil. A light
// reader cannot check that it is the newest the log records: like hints,
// its URLs are only ever tried, and its version only grows.
func lightMirrorList(data []byte, trust *keys.Trust, kept uint64) *catalog.MirrorList {
	if data == nil {
		return nil
	}
	ml, err := catalog.OpenMirrorList(data, trust)
	if err != nil || ml.Version <= kept {
		return nil
	}
	return ml
}

// peerHints asks a mirror which mirrors it knows. It is best effort.
func (c *Client) peerHints(ctx context.Context, base string, h3 bool) []string {
	body, err := c.t.get(ctx, nil, base, h3, "/api/peers", 64<<10)
	if err != nil {
		return nil
	}
	var v struct {
		Peers []string `json:"peers"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	for _, p := range v.Peers {
		if len(out) == maxHintsPerMirror {
			break
		}
		if catalog.CheckMirrorURL(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// verifyBundle checks that data is the bundle a's newest leaf names,
// signed by a key trust delegates, with every entry intact.
func verifyBundle(data []byte, trust *keys.Trust, a *catalog.Article) (*bundle.Bundle, error) {
	if sha256.Sum256(data) != a.Digest {
		return nil, fmt.Errorf("bundle bytes do not hash to %s, the digest the log names for %q", a.Digest, a.ID)
	}
	b, err := bundle.Verify(data, trust, nil)
	if err != nil {
		return nil, err
	}
	if b.Manifest.ID != a.ID || b.Manifest.Revision != a.Revision {
		return nil, fmt.Errorf("bundle is %q revision %d, not %q revision %d", b.Manifest.ID, b.Manifest.Revision, a.ID, a.Revision)
	}
	return b, nil
}
