// Package sync copies publishers' catalogs and bundles between nodes,
// verifying everything before it is stored.
//
// A Node answers peers' requests from its store (Serve), pulls from a peer
// what it lacks of the publishers it trusts (SyncWith), keeps sessions to
// configured peers (Run), and announces every new checkpoint to every
// connected peer at once (Notify), so an article crosses a chain of mirrors
// within a second; Push offers a publisher's store to a mirror. The wire
// protocol is PROTOCOL.md's "samizdat sync protocol"; it runs over any
// Conn: QUIC (ListenQUIC, DialQUIC) or, for networks that drop UDP, TLS on
// TCP with yamux streams (ListenTCP, DialTCP). Nodes are identified by
// ed25519 keys, not names, and may be pinned; no SNI is sent. A node bounds
// what one peer may ask: sessions per remote address, and requests with
// token buckets per session and per address (Config.RateLimit).
//
// Verification is the store's: Apply refuses bad statements, leaves,
// checkpoints, bundles and forks, and keeps its state. A fork is logged at
// error level as an alarm and counted in Stats.
package sync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

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
	// BatchBytes bounds the bytes of bundles stored in one Apply.
	// Default 64 MiB.
	BatchBytes int64
	// MaxBundleSize bounds a bundle frame. Default
	// bundle.DefaultLimits.BundleSize.
	MaxBundleSize int64
	// MaxSendBytes bounds the bytes of bundles read into memory to be
	// sent, across all sessions at once: a request waits for room, up
	// to its timeout. Default 64 MiB (a bundle larger than that is
	// sent alone).
	MaxSendBytes int64
	// MaxLeaves bounds the leaves taken from a peer in one sync of one
	// publisher, all held in memory until the store takes them with the
	// peer's checkpoint; a peer further ahead is refused. Default 1<<20
	// (at most 256 MiB of leaves, typically 60 MiB).
	MaxLeaves int64
	// RequestTimeout bounds one request and its answer. Default 30 s.
	RequestTimeout time.Duration
	// AnnounceTimeout bounds the wait for a peer to act on an announce,
	// which may mean fetching many bundles. Default 10 min.
	AnnounceTimeout time.Duration
	// MaxSessions bounds the sessions Serve keeps at once. Default 256.
	MaxSessions int
	// RateLimit is the sustained rate, in requests per second, at which a
	// session's peer may ask; RateBurst is how many it may ask at once
	// before the rate applies. One remote address may ask twice as much
	// over all its sessions. A request over the limit waits up to a
	// second for its turn, and is refused with error 3 "refused: rate
	// limit" when it would wait longer. Defaults DefaultRateLimit and
	// DefaultRateBurst, which an honest full sync of 10,000 bundles does
	// not reach; a negative RateLimit turns the limit off.
	RateLimit float64
	RateBurst int
	// MaxSessionsPerIP bounds the sessions Serve keeps at once with one
	// remote IP address. Default DefaultMaxSessionsPerIP; negative means
	// no bound.
	MaxSessionsPerIP int
	// RetryMin and RetryMax bound the delay between Run's attempts to
	// reach a peer; it doubles from RetryMin, with jitter. Defaults 500 ms
	// and 1 min.
	RetryMin, RetryMax time.Duration
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
	Forks        uint64 // checkpoints refused as forks: an alarm
	Refused      uint64 // updates refused: untrusted publisher, bad data
	Stale        uint64 // checkpoints older than ours, ignored
	RateLimited  uint64 // peers' requests refused over their rate limit
	IPRefused    uint64 // sessions refused: too many from one address
}

// Node syncs a store with peers. It is safe for concurrent use.
type Node struct {
	st      *store.Store
	trusted map[string]*keys.PublicKey
	cfg     Config
	log     *slog.Logger
	send    *semaphore.Weighted // bytes of bundles being sent (Config.MaxSendBytes)

	mu         gosync.Mutex
	sessions   map[*session]struct{}
	locks      map[string]chan struct{}
	incomplete map[string]bool // publishers whose bundles the store lacks some of
	alarms     map[string][]string
	peerSizes  map[Conn]map[string]int64 // log sizes each peer is known to hold
	peerURLs   map[Conn]string           // public URLs the peers announced
	peerSince  map[Conn]time.Time        // when each peer first announced one
	announcing map[Conn]map[string]bool  // publishers each peer's announce is being acted on for
	admitted   int                       // sessions counted by admit and not yet released
	ips        map[string]*ipState       // sessions and request bucket by remote address

	syncs, announces, leaves, bundles, forks, refused, stale atomic.Uint64
	rateLimited, ipRefused                                   atomic.Uint64
}

// New returns a node that syncs st, carrying only the publishers whose root
// keys are in trusted.
func New(st *store.Store, trusted []*keys.PublicKey, cfg *Config) *Node {
	n := &Node{st: st, trusted: map[string]*keys.PublicKey{}, sessions: map[*session]struct{}{}, locks: map[string]chan struct{}{}, incomplete: map[string]bool{}, alarms: map[string][]string{}, peerSizes: map[Conn]map[string]int64{}, peerURLs: map[Conn]string{}, peerSince: map[Conn]time.Time{}, announcing: map[Conn]map[string]bool{}, ips: map[string]*ipState{}}
	if cfg != nil {
		n.cfg = *cfg
	}
	for _, k := range trusted {
		n.trusted[k.ID()] = k
	}
	c := &n.cfg
	if c.Key == nil {
		_, c.Key, _ = ed25519.GenerateKey(nil)
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
	def(&c.MaxSessions, 256)
	if c.BatchBytes <= 0 {
		c.BatchBytes = 64 << 20
	}
	if c.MaxBundleSize <= 0 {
		c.MaxBundleSize = bundle.DefaultLimits.BundleSize
	}
	if c.MaxSendBytes <= 0 {
		c.MaxSendBytes = 64 << 20
	}
	n.send = semaphore.NewWeighted(c.MaxSendBytes)
	if c.MaxLeaves <= 0 {
		c.MaxLeaves = 1 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.AnnounceTimeout <= 0 {
		c.AnnounceTimeout = 10 * time.Minute
	}
	switch {
	case c.RateLimit == 0:
		c.RateLimit = DefaultRateLimit
	case c.RateLimit < 0:
		c.RateLimit = 0 // off
	}
	def(&c.RateBurst, DefaultRateBurst)
	if c.MaxSessionsPerIP == 0 {
		c.MaxSessionsPerIP = DefaultMaxSessionsPerIP
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
	return n
}

// Key returns the node's private key, the identity Run dials with and a
// listener for Serve should use.
func (n *Node) Key() ed25519.PrivateKey { return n.cfg.Key }

// PublicKey returns the node's public key, by which peers pin it.
func (n *Node) PublicKey() ed25519.PublicKey { return n.cfg.Key.Public().(ed25519.PublicKey) }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	s := len(n.sessions)
	n.mu.Unlock()
	return Stats{
		Sessions: s, Syncs: n.syncs.Load(), Announces: n.announces.Load(),
		LeavesAdded: n.leaves.Load(), BundlesAdded: n.bundles.Load(),
		Forks: n.forks.Load(), Refused: n.refused.Load(), Stale: n.stale.Load(),
		RateLimited: n.rateLimited.Load(), IPRefused: n.ipRefused.Load(),
	}
}

// maxAlarms bounds the alarms kept per publisher; the first ones stay.
const maxAlarms = 16

// Alarms returns the alarms raised for a publisher, oldest first: forks of
// its log proven by a peer. They last until the node stops; the log at error
// level has the evidence (both checkpoints).
func (n *Node) Alarms(publisherID string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.alarms[publisherID]...)
}

func (n *Node) alarm(publisherID, msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.alarms[publisherID]) < maxAlarms {
		n.alarms[publisherID] = append(n.alarms[publisherID], msg)
	}
}

// session is one connected peer.
type session struct {
	c    Conn
	kick chan struct{}

	mu      gosync.Mutex
	pending map[string]bool
}

// Notify announces the publisher's current checkpoint to every connected
// peer at once. Call it after a local publish; syncs call it themselves.
// It does not block.
func (n *Node) Notify(publisherID string) { n.notify(publisherID, nil) }

func (n *Node) notify(id string, except Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.sessions {
		if s.c == except {
			continue
		}
		s.mu.Lock()
		s.pending[id] = true
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Serve accepts sessions on l and runs each until it ends or ctx is
// cancelled, then closes l and returns once every session's goroutines
// have ended. On each session the node answers the peer, pulls what the
// peer has that it lacks, and announces new checkpoints.
func (n *Node) Serve(ctx context.Context, l Listener) error {
	// The listener is closed after the sessions, so that their peers hear
	// that they end.
	defer l.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for {
		c, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		n.mu.Lock()
		// Counted when admitted, not when registered in runSession, so
		// that a burst of handshakes cannot pass the cap.
		full := n.admitted >= n.cfg.MaxSessions
		n.mu.Unlock()
		if full {
			n.log.Warn("sync: refusing session: too many sessions", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		lim, ok := n.admit(c, true)
		if !ok {
			n.ipRefused.Add(1)
			n.log.Warn("sync: refusing session: too many sessions from its address", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		wg.Go(func() {
			defer n.release(c)
			n.runSession(ctx, c, lim)
		})
	}
}

// Run keeps a session to every configured peer, dialing again with
// backoff when one ends, until ctx is cancelled. It returns once every
// goroutine it started has ended; with no peers configured, at once.
func (n *Node) Run(ctx context.Context) error {
	var wg gosync.WaitGroup
	for _, p := range n.cfg.Peers {
		wg.Go(func() { n.keep(ctx, p) })
	}
	wg.Wait()
	return nil
}

func (n *Node) keep(ctx context.Context, p Peer) {
	dial, addr := DialQUIC, strings.TrimPrefix(p.Addr, "quic://")
	if a, ok := strings.CutPrefix(p.Addr, "tcp://"); ok {
		dial, addr = DialTCP, a
	}
	delay := n.cfg.RetryMin
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		c, err := dial(dctx, addr, n.cfg.Key, p.Key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("sync: cannot reach peer", "peer", p.Addr, "err", err, "retry", delay)
		} else {
			n.log.Info("sync: connected", "peer", p.Addr, "key", fmt.Sprintf("%x", []byte(c.PeerKey())))
			lim, _ := n.admit(c, false)
			n.runSession(ctx, c, lim)
			n.release(c)
			delay = n.cfg.RetryMin
			n.log.Info("sync: session ended", "peer", p.Addr)
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

// runSession answers, pulls from and announces to one peer until the
// session ends or ctx is cancelled; it closes c.
func (n *Node) runSession(ctx context.Context, c Conn, lim *limiter) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &session{c: c, kick: make(chan struct{}, 1), pending: map[string]bool{}}
	n.mu.Lock()
	n.sessions[s] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.sessions, s)
		delete(n.peerSizes, s.c)
		delete(n.peerURLs, s.c)
		delete(n.peerSince, s.c)
		n.mu.Unlock()
	}()
	var wg gosync.WaitGroup
	wg.Go(func() {
		n.serveStreams(ctx, c, lim)
		cancel()
	})
	wg.Go(func() { n.announcer(ctx, s) })
	// Hello travels beside the pull, on its own stream: a fresh session
	// then costs no round trip more than the pull itself.
	wg.Go(func() { n.hello(ctx, c) })
	wg.Go(func() {
		if err := n.SyncWith(ctx, c); err != nil && ctx.Err() == nil {
			n.log.Warn("sync: pulling from peer failed", "peer", c.RemoteAddr(), "err", err)
		}
	})
	<-ctx.Done()
	c.Close()
	wg.Wait()
}

// announcer sends the session's pending announces, one publisher at a time.
func (n *Node) announcer(ctx context.Context, s *session) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.pending))
		for id := range s.pending {
			ids = append(ids, id)
		}
		clear(s.pending)
		s.mu.Unlock()
		for _, id := range ids {
			if err := n.announce(ctx, s.c, id); err != nil && ctx.Err() == nil {
				var re *RemoteError
				if errors.As(err, &re) && re.Code == CodeRefused {
					n.log.Info("sync: peer refused announce", "peer", s.c.RemoteAddr(), "publisher", id, "err", err)
					continue
				}
				n.log.Warn("sync: announce failed", "peer", s.c.RemoteAddr(), "publisher", id, "err", err)
			}
		}
	}
}

// lock serializes syncs of one publisher.
func (n *Node) lock(ctx context.Context, id string) (func(), error) {
	n.mu.Lock()
	ch := n.locks[id]
	if ch == nil {
		ch = make(chan struct{}, 1)
		n.locks[id] = ch
	}
	n.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
