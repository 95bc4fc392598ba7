// Package replica copies publishers' catalogs and bundles between nodes,
// verifying everything before it is stored.
//
// A Node pulls from a peer what it lacks of the publishers it trusts
// (SyncWith), keeps sessions to configured peers (Run), answers peers from
// its store (Serve), and announces every new checkpoint to every connected
// peer at once (Notify), so an article crosses a chain of mirrors within a
// second; Push offers a publisher's store to a mirror. It speaks to peers
// through package mirror/session, which carries the protocol and bounds
// what a peer may ask; the Node is that layer's Model. It reaches its store
// through the Store interface.
//
// A pull fetches and checks everything it can before it takes the
// publisher's lock, and holds that lock only while the store applies what
// was fetched: a slow peer never holds up another peer's update of the
// same publisher. Pulls share the work instead: those of one publisher
// from one peer take turns, and a bundle one pull is fetching is left to
// it by the others until they have fetched the rest. The store verifies
// everything again as it applies it, and keeps its state when anything
// fails. Newer, stale and forked
// checkpoints are judged by catalog.Judge. A fork proven by the
// publisher's own signatures raises an alarm: it is logged at error level,
// counted in Stats, and kept in the store (Alarms).
package replica

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Store is what a Node needs of a store; *store.Store is one.
type Store interface {
	// Publishers returns the IDs of the publishers the store holds.
	Publishers() ([]string, error)
	// Publisher returns what the store holds of a publisher, or an error
	// wrapping store.ErrNotFound.
	Publisher(pub string) (*store.Publisher, error)
	// Trust returns the publisher's verified key statement.
	Trust(root *keys.PublicKey) (*keys.Trust, error)
	// Leaves returns the publisher's leaves [from, to).
	Leaves(pub string, from, to int64) ([][]byte, error)
	// Bundle and BundleSize return a bundle the store holds and its size.
	Bundle(d bundle.Digest) ([]byte, error)
	BundleSize(d bundle.Digest) (int64, bool)
	// MissingBundles returns the bundles of the publisher's current
	// articles that the store lacks.
	MissingBundles(pub string) ([]bundle.Digest, error)
	// MirrorList returns the publisher's signed mirror list, and
	// MirrorListLeaf the newest mirror-list leaf of its log.
	MirrorList(pub string) ([]byte, error)
	MirrorListLeaf(pub string) (*catalog.Leaf, error)
	// NextRoot returns the size and root hash the publisher's log would
	// have with leaves appended, without storing anything: how a pull
	// checks a peer's leaves before it takes the publisher's lock.
	NextRoot(pub string, leaves [][]byte) (int64, tlog.Hash, error)
	// Apply verifies an update of the publisher with root key root and
	// stores it, or nothing of it.
	Apply(root *keys.PublicKey, u *store.Update) (*store.Result, error)
	// RaiseAlarm keeps a fork alarm, one per contradicting checkpoint, and
	// reports whether it is new; Alarms returns the publisher's, oldest
	// first. Both are bounded by store.MaxAlarms per publisher.
	RaiseAlarm(a store.Alarm) (bool, error)
	Alarms(pub string) ([]store.Alarm, error)
}

var _ Store = (*store.Store)(nil)

// Config tunes a Node. A nil *Config, and every zero field, means the
// default given beside it.
type Config struct {
	// Key is the node's identity, used for its TLS certificate when Run
	// dials peers. Nil means a new random key.
	Key ed25519.PrivateKey
	// Peers are the peers Run keeps sessions to.
	Peers []Peer
	// PublicURL is this node's public HTTP URL, told to every peer in the
	// hello exchange so that their readers learn of this mirror (see
	// PeerURLs). It must pass catalog.CheckMirrorURL. Empty means none.
	PublicURL string
	// Logger receives the node's log; nil means silent.
	Logger *slog.Logger
	// Parallel bounds the streams fetching bundles from one peer at once.
	// Default 8.
	Parallel int
	// Batch is the most bundles stored in one store.Apply (one syncfs).
	// Default 256.
	Batch int
	// BatchBytes bounds the bytes of bundles stored in one Apply, the
	// first one of a pull (which carries the new checkpoint) included; a
	// single bundle larger than that is stored alone. A pull asks for no
	// bundle while it holds twice that in fetched bundles not stored yet
	// (one batch being stored, the next being filled) and in requests in
	// flight, each counted as the largest bundle it has received; so it
	// holds at most that plus one bundle, once the first answers are in.
	// Default 32 MiB.
	BatchBytes int64
	// MaxLeaves bounds the leaves taken from a peer in one sync of one
	// publisher, all held in memory until the store takes them with the
	// peer's checkpoint; a peer further ahead is refused. It also bounds
	// the size of a peer's log that the node reads whole, hashing it as
	// it streams, to tell a fork from a lie (at most once per publisher
	// and peer address in 10 minutes). Default 1<<20 (at most 256 MiB of
	// leaves, typically 60 MiB). Storing them costs more than holding
	// them: the store's Apply, which also builds their article index in
	// one transaction, peaked at about 7.5 KiB a leaf in the red team's
	// measurement (BENCHMARKS.md, "Red team, issue 10 and 11"), so a sync
	// of a whole log of 1<<20 leaves may take about 8 GiB at its peak.
	MaxLeaves int64
	// RetryMin and RetryMax bound the delay between Run's attempts to
	// reach a peer; it doubles from RetryMin, with jitter. Defaults 500 ms
	// and 1 min.
	RetryMin, RetryMax time.Duration
	// Session tunes the session layer: timeouts, frame and send limits,
	// session caps and rate limits. Its Logger defaults to Logger.
	Session session.Config
}

// Peer is a peer that Run keeps a session to.
type Peer struct {
	// Addr is "host:port" or "quic://host:port" for QUIC, or
	// "tcp://host:port" for TLS on TCP.
	Addr string
	// Key, if not nil, pins the peer's node key.
	Key ed25519.PublicKey
}

// Stats counts what a Node did since New. The HTTP side shows them.
type Stats struct {
	Sessions     int    // sessions open now
	Syncs        uint64 // pulls of one publisher from a peer that completed
	Announces    uint64 // announces sent
	LeavesAdded  uint64
	BundlesAdded uint64
	Forks        uint64        // checkpoints refused as proven forks: an alarm
	Refused      uint64        // updates refused: untrusted publisher, bad data
	Stale        uint64        // checkpoints older than ours, ignored
	RateLimited  uint64        // peers' requests refused over their rate limit
	IPRefused    uint64        // sessions refused: too many from one address
	Session      session.Stats // all of the session layer's counts
}

// Node syncs a store with peers. It is safe for concurrent use.
type Node struct {
	st      Store
	trusted map[string]*keys.PublicKey
	cfg     Config
	log     *slog.Logger
	host    *session.Host

	mu         sync.Mutex
	outboxes   map[*outbox]struct{}
	locks      map[string]chan struct{}
	incomplete map[string]bool // publishers whose bundles the store lacks some of
	alarms     map[string]*alarms
	forkChecks map[string]time.Time              // when checkFork last ran, by peer address and publisher
	forkCheck  chan struct{}                     // held by the one checkFork running
	peerSizes  map[session.Conn]map[string]int64 // log sizes each peer is known to hold
	peerURLs   map[session.Conn]string           // public URLs the peers announced
	peerSince  map[session.Conn]time.Time        // when each peer first announced one
	announcing map[session.Conn]map[string]bool  // publishers each peer's announce is being acted on for
	pulling    map[session.Conn]map[string]*turn // pulls of each publisher from each peer, one at a time

	cmu     sync.Mutex
	claimed map[bundle.Digest]*claim // bundles being fetched and not stored yet, see claim

	syncs, announces, leaves, bundles, forks, refused, stale atomic.Uint64
	heldPeak                                                 atomic.Int64 // the most bytes of fetched bundles a pull held at once
}

// New returns a node that syncs st, carrying only the publishers whose root
// keys are in trusted. It fails on a bad Config.Key or Config.PublicURL,
// or when it cannot read the alarms the store keeps.
func New(st Store, trusted []*keys.PublicKey, cfg *Config) (*Node, error) {
	n := &Node{st: st, trusted: map[string]*keys.PublicKey{}, outboxes: map[*outbox]struct{}{}, locks: map[string]chan struct{}{}, incomplete: map[string]bool{},
		alarms: map[string]*alarms{}, forkChecks: map[string]time.Time{}, forkCheck: make(chan struct{}, 1),
		peerSizes: map[session.Conn]map[string]int64{}, peerURLs: map[session.Conn]string{}, peerSince: map[session.Conn]time.Time{}, announcing: map[session.Conn]map[string]bool{},
		pulling: map[session.Conn]map[string]*turn{}, claimed: map[bundle.Digest]*claim{}}
	if cfg != nil {
		n.cfg = *cfg
	}
	for _, k := range trusted {
		if k == nil {
			return nil, errors.New("replica: a trusted root key is nil")
		}
		n.trusted[k.ID()] = k
	}
	c := &n.cfg
	switch {
	case c.Key == nil:
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("replica: making a node key: %w", err)
		}
		c.Key = key
	case len(c.Key) != ed25519.PrivateKeySize:
		return nil, errors.New("replica: node key is not an ed25519 private key")
	}
	if c.PublicURL != "" {
		if err := catalog.CheckMirrorURL(c.PublicURL); err != nil {
			return nil, fmt.Errorf("replica: public URL: %w", err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	n.log = c.Logger
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Parallel, 8)
	def(&c.Batch, 256)
	if c.BatchBytes <= 0 {
		c.BatchBytes = 32 << 20
	}
	if c.MaxLeaves <= 0 {
		c.MaxLeaves = 1 << 20
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.Session.Logger == nil {
		c.Session.Logger = c.Logger
	}
	// Configured peers' sessions take reserved slots.
	for _, p := range c.Peers {
		if p.Key != nil {
			c.Session.PeerKeys = append(c.Session.PeerKeys, p.Key)
		}
	}
	n.host = session.New(&model{n}, &c.Session)
	c.Session = n.host.Config()
	if err := n.loadAlarms(); err != nil {
		return nil, err
	}
	return n, nil
}

// Key returns the node's private key, the identity Run dials with and a
// listener for Serve should use.
func (n *Node) Key() ed25519.PrivateKey { return n.cfg.Key }

// PublicKey returns the node's public key, by which peers pin it.
func (n *Node) PublicKey() ed25519.PublicKey { return n.cfg.Key.Public().(ed25519.PublicKey) }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	h := n.host.Stats()
	return Stats{
		Sessions: h.Sessions, Syncs: n.syncs.Load(), Announces: n.announces.Load(),
		LeavesAdded: n.leaves.Load(), BundlesAdded: n.bundles.Load(),
		Forks: n.forks.Load(), Refused: n.refused.Load(), Stale: n.stale.Load(),
		RateLimited: h.RateLimited, IPRefused: h.IPRefused, Session: h,
	}
}

// outbox holds the announces due to one connected peer.
type outbox struct {
	c    session.Conn
	kick chan struct{}

	mu      sync.Mutex
	pending map[string]bool
}

// Notify announces the publisher's current checkpoint to every connected
// peer at once. Call it after a local publish; syncs call it themselves.
// It does not block.
func (n *Node) Notify(pub string) { n.notify(pub, nil) }

func (n *Node) notify(pub string, except session.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for o := range n.outboxes {
		if o.c == except {
			continue
		}
		o.mu.Lock()
		o.pending[pub] = true
		o.mu.Unlock()
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
}

// Serve accepts sessions on l and runs each until it ends or ctx is
// cancelled, then closes l and returns once every session's goroutines
// have ended. On each session the node answers the peer, pulls what the
// peer has that it lacks, and announces new checkpoints. The session
// layer bounds the sessions and what each peer may ask (Config.Session).
func (n *Node) Serve(ctx context.Context, l session.Listener) error {
	return n.host.Serve(ctx, l)
}

// Run keeps a session to every configured peer, dialing again with
// backoff when one ends, until ctx is cancelled. It returns once every
// goroutine it started has ended; with no peers configured, at once.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range n.cfg.Peers {
		wg.Go(func() { n.keep(ctx, p) })
	}
	wg.Wait()
	return nil
}

func (n *Node) keep(ctx context.Context, p Peer) {
	dial, addr := session.DialQUIC, strings.TrimPrefix(p.Addr, "quic://")
	if a, ok := strings.CutPrefix(p.Addr, "tcp://"); ok {
		dial, addr = session.DialTCP, a
	}
	delay := n.cfg.RetryMin
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, n.cfg.Session.RequestTimeout)
		c, err := dial(dctx, addr, n.cfg.Key, p.Key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("replica: cannot reach peer", "peer", p.Addr, "err", err, "retry", delay)
		} else {
			n.log.Info("replica: connected", "peer", p.Addr, "key", fmt.Sprintf("%x", []byte(c.PeerKey())))
			n.host.ServeConn(ctx, c)
			delay = n.cfg.RetryMin
			n.log.Info("replica: session ended", "peer", p.Addr)
		}
		// Jitter of ±25% keeps many nodes from retrying in step.
		d := delay/4*3 + rand.N(delay/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, n.cfg.RetryMax)
	}
}

// connected pulls from and announces to the peer on c until ctx ends,
// which it does when the session does. The session layer answers the
// peer meanwhile.
func (n *Node) connected(ctx context.Context, c session.Conn) {
	o := &outbox{c: c, kick: make(chan struct{}, 1), pending: map[string]bool{}}
	n.mu.Lock()
	n.outboxes[o] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.outboxes, o)
		n.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { n.announcer(ctx, o) })
	// Hello travels beside the pull, on its own stream: a fresh session
	// then costs no round trip more than the pull itself.
	wg.Go(func() { n.hello(ctx, c) })
	wg.Go(func() {
		if err := n.SyncWith(ctx, c); err != nil && ctx.Err() == nil {
			n.log.Warn("replica: pulling from peer failed", "peer", c.RemoteAddr(), "err", err)
		}
	})
	<-ctx.Done()
	wg.Wait()
}

// announcer sends the outbox's pending announces, one publisher at a time.
func (n *Node) announcer(ctx context.Context, o *outbox) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.kick:
		}
		o.mu.Lock()
		pubs := make([]string, 0, len(o.pending))
		for pub := range o.pending {
			pubs = append(pubs, pub)
		}
		clear(o.pending)
		o.mu.Unlock()
		for _, pub := range pubs {
			if err := n.announce(ctx, o.c, pub); err != nil && ctx.Err() == nil {
				var re *session.RemoteError
				if errors.As(err, &re) && re.Code == session.CodeRefused {
					n.log.Info("replica: peer refused announce", "peer", o.c.RemoteAddr(), "publisher", pub, "err", err)
					continue
				}
				n.log.Warn("replica: announce failed", "peer", o.c.RemoteAddr(), "publisher", pub, "err", err)
			}
		}
	}
}

// lock serializes the store updates of one publisher. A pull holds it only
// to bring what it fetched up to date with the store (rebase) and apply
// it, never across a request to a peer: no peer, however slow, holds up
// another's update.
func (n *Node) lock(ctx context.Context, pub string) (func(), error) {
	n.mu.Lock()
	ch := n.locks[pub]
	if ch == nil {
		ch = make(chan struct{}, 1)
		n.locks[pub] = ch
	}
	n.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
