// Package session carries the samizdat sync protocol between two nodes:
// frames, the request and answer on each stream, the transports, and the
// limits on what one peer may ask.
//
// The wire protocol is PROTOCOL.md's "samizdat sync protocol"; it runs over
// any Conn: QUIC (ListenQUIC, DialQUIC) or, for networks that drop UDP, TLS
// on TCP with yamux streams (ListenTCP, DialTCP). Nodes are identified by
// ed25519 keys, not names, and may be pinned; no SNI is sent.
//
// A Host is one node's end of its sessions. It never replicates anything
// itself: it answers a peer's requests by calling its Model (package
// mirror/replica implements one), and it asks peers for things on the
// model's behalf (List, Statement, Leaves, Bundle, Announce, MirrorList,
// Hello). It bounds what one peer may ask: sessions in all and per remote
// address, requests with token buckets per session and per address
// (Config.RateLimit), and the bytes of bundles being sent at once
// (Config.MaxSendBytes).
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/samizdat-news/samizdat/bundle"
)

// Config tunes a Host. A nil *Config, and every zero field, means the
// default given beside it.
type Config struct {
	// Logger receives the host's log; nil means silent.
	Logger *slog.Logger
	// MaxBundleSize bounds a bundle frame. Default
	// bundle.DefaultLimits.BundleSize.
	MaxBundleSize int64
	// MaxSendBytes bounds the bytes of bundles read into memory to be
	// sent, across all sessions at once: a request waits for room, up
	// to its timeout. Default 64 MiB (a bundle larger than that is
	// sent alone).
	MaxSendBytes int64
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
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBundleSize <= 0 {
		c.MaxBundleSize = bundle.DefaultLimits.BundleSize
	}
	if c.MaxSendBytes <= 0 {
		c.MaxSendBytes = 64 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.AnnounceTimeout <= 0 {
		c.AnnounceTimeout = 10 * time.Minute
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 256
	}
	switch {
	case c.RateLimit == 0:
		c.RateLimit = DefaultRateLimit
	case c.RateLimit < 0:
		c.RateLimit = 0 // off
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.MaxSessionsPerIP == 0 {
		c.MaxSessionsPerIP = DefaultMaxSessionsPerIP
	}
	return c
}

// Model is what a Host answers from and hands its sessions to: the
// replication layer. There is one method per request a peer may make, and
// two for a session's life. The Host calls them from many goroutines at
// once.
//
// An error a method returns is sent to the peer with code CodeInternal,
// unless it wraps ErrFrame (CodeBadRequest) or was marked by NotFound or
// Refused.
type Model interface {
	// List returns the publishers the node holds, at most MaxPublishers,
	// without First and Leaves.
	List() ([]Entry, error)
	// Statement returns the publisher's signed key statement.
	Statement(pub string) ([]byte, error)
	// Leaves returns the publisher's leaves [from, to), or fewer when
	// the log ends before to; none when it ends before from.
	Leaves(pub string, from, to int64) ([][]byte, error)
	// BundleSize returns the size of a bundle the node holds, so that the
	// Host can wait for room to send it before reading it.
	BundleSize(d bundle.Digest) (int64, bool)
	// Bundle returns a bundle the node holds.
	Bundle(d bundle.Digest) ([]byte, error)
	// MirrorList returns the publisher's latest signed mirror list.
	MirrorList(pub string) ([]byte, error)
	// Hello takes the public HTTP URL the peer on c told (empty for none,
	// else checked by catalog.CheckMirrorURL), and returns this node's.
	Hello(c Conn, url string) string
	// Announce acts on the peer's announce of a publisher's checkpoint,
	// and returns once it has: the peer is answered then.
	Announce(ctx context.Context, c Conn, x *Entry) error
	// Connected runs the model's side of a new session (pulling from the
	// peer, announcing to it) until ctx ends, which it does when the
	// session does; then it returns. The Host answers the peer's
	// requests meanwhile.
	Connected(ctx context.Context, c Conn)
	// Closed is called once every goroutine of a session, Connected and
	// the answering of requests, has ended: the model may forget c.
	Closed(c Conn)
}

// Stats counts what a Host did since New.
type Stats struct {
	Sessions    int    // sessions open now
	RateLimited uint64 // peers' requests refused over their rate limit or the send budget
	IPRefused   uint64 // sessions refused: too many from one address
}

// Host is one node's end of its sessions with peers: it answers their
// requests from a Model within its limits, and asks them for things. It is
// safe for concurrent use.
type Host struct {
	m    Model
	cfg  Config
	log  *slog.Logger
	send *semaphore.Weighted // bytes of bundles being sent (Config.MaxSendBytes)

	mu       sync.Mutex
	sessions int                 // sessions running now
	admitted int                 // sessions counted by admit and not yet released
	ips      map[string]*ipState // sessions and request bucket by remote address

	rateLimited, ipRefused atomic.Uint64
}

// New returns a host that answers peers from m.
func New(m Model, cfg *Config) *Host {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c = c.withDefaults()
	return &Host{m: m, cfg: c, log: c.Logger, send: semaphore.NewWeighted(c.MaxSendBytes), ips: map[string]*ipState{}}
}

// Config returns the host's configuration, with the defaults filled in.
func (h *Host) Config() Config { return h.cfg }

// Stats returns the host's counters.
func (h *Host) Stats() Stats {
	h.mu.Lock()
	s := h.sessions
	h.mu.Unlock()
	return Stats{Sessions: s, RateLimited: h.rateLimited.Load(), IPRefused: h.ipRefused.Load()}
}

// Serve accepts sessions on l and runs each as ServeConn does until it
// ends or ctx is cancelled, then closes l and returns once every session's
// goroutines have ended. A session over MaxSessions, or over
// MaxSessionsPerIP from its address, is closed at once.
func (h *Host) Serve(ctx context.Context, l Listener) error {
	// The listener is closed after the sessions, so that their peers hear
	// that they end.
	defer l.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
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
		h.mu.Lock()
		// Counted when admitted, not when registered in run, so
		// that a burst of handshakes cannot pass the cap.
		full := h.admitted >= h.cfg.MaxSessions
		h.mu.Unlock()
		if full {
			h.log.Warn("session: refusing session: too many sessions", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		lim, ok := h.admit(c, true)
		if !ok {
			h.ipRefused.Add(1)
			h.log.Warn("session: refusing session: too many sessions from its address", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		wg.Go(func() {
			defer h.release(c)
			h.run(ctx, c, lim)
		})
	}
}

// ServeConn runs a session that this node dialed, as Serve runs those it
// accepts: it answers the peer's requests within the rate limits and runs
// the model's Connected, until the peer or ctx ends the session; then it
// closes c and returns. The session counts towards its address's, but is
// never refused.
func (h *Host) ServeConn(ctx context.Context, c Conn) {
	lim, _ := h.admit(c, false)
	defer h.release(c)
	h.run(ctx, c, lim)
}

// Answer answers the requests of the peer on c, without rate limits, until
// ctx ends or the session does; it neither runs the model's Connected nor
// closes c. A publisher's push uses it while it announces.
func (h *Host) Answer(ctx context.Context, c Conn) { h.serveStreams(ctx, c, nil) }

// run answers the peer on c and runs the model's side of the session
// until the session ends or ctx is cancelled; it closes c.
func (h *Host) run(ctx context.Context, c Conn, lim *limiter) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.mu.Lock()
	h.sessions++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.sessions--
		h.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		h.serveStreams(ctx, c, lim)
		cancel()
	})
	wg.Go(func() { h.m.Connected(ctx, c) })
	<-ctx.Done()
	c.Close()
	wg.Wait()
	h.m.Closed(c)
}

// maxStreams bounds the requests of one session answered at once; the
// peer's further streams wait (QUIC's stream limit is the same).
const maxStreams = 64

// serveStreams answers the streams the peer opens until the session ends.
// Requests over the session's rate limit wait in lim, or are refused.
func (h *Host) serveStreams(ctx context.Context, c Conn, lim *limiter) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxStreams)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			h.serveStream(ctx, c, s, lim)
		})
	}
}

// serveStream answers one request.
func (h *Host) serveStream(ctx context.Context, c Conn, s Stream, lim *limiter) {
	s.SetDeadline(time.Now().Add(h.cfg.RequestTimeout))
	t, p, err := readFrame(s, MaxFrameSize)
	var rt byte
	var rp []byte
	if lerr := lim.wait(ctx); errors.Is(lerr, errRateLimit) {
		h.rateLimited.Add(1)
		h.log.Debug("session: refusing request: rate limit", "peer", c.RemoteAddr())
		rt, rp = respError, encodeError(CodeRefused, "refused: rate limit")
	} else if lerr != nil {
		s.Reset()
		return
	} else if err != nil {
		h.log.Debug("session: bad request", "peer", c.RemoteAddr(), "err", err)
		rt, rp = respError, encodeError(CodeBadRequest, err.Error())
	} else {
		release, berr := h.sendRoom(ctx, t, p)
		if berr != nil {
			rt, rp = respError, encodeError(CodeRefused, "refused: "+berr.Error())
		} else {
			rt, rp = h.answer(ctx, c, t, p)
		}
		defer release()
	}
	s.SetDeadline(time.Now().Add(h.cfg.RequestTimeout))
	if err := writeFrame(s, rt, rp); err != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
	if rt == respError {
		// What the peer still sends is not read.
		s.CloseRead()
	}
}

// sendRoom waits, up to the request's timeout, until a bundle request's
// bytes fit in Config.MaxSendBytes with those being sent, so that peers
// asking for many large bundles at once and reading them slowly cannot
// make the node hold them all in memory. The release is called once the
// answer is written; other requests need no room.
func (h *Host) sendRoom(ctx context.Context, t byte, p []byte) (release func(), err error) {
	release = func() {}
	if t != typeBundle {
		return release, nil
	}
	d, err := decodeDigest(p)
	if err != nil {
		return release, nil // answer refuses it
	}
	size, ok := h.m.BundleSize(d)
	if !ok {
		return release, nil
	}
	w := min(max(size, 1), h.cfg.MaxSendBytes)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()
	if err := h.send.Acquire(ctx, w); err != nil {
		h.rateLimited.Add(1)
		return release, errors.New("too many bundle bytes being sent; ask again later")
	}
	return func() { h.send.Release(w) }, nil
}

// codeError is an error of a Model marked with the code its answer
// carries; its text is the error's.
type codeError struct {
	err  error
	code byte
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// NotFound marks err, returned by a Model, as about something the node
// does not hold: the peer is answered with CodeNotFound.
func NotFound(err error) error { return &codeError{err, CodeNotFound} }

// Refused marks err, returned by a Model, as a refusal of what the peer
// asked or offered: the peer is answered with CodeRefused.
func Refused(err error) error { return &codeError{err, CodeRefused} }

// answer returns the response frame to request t with payload p.
func (h *Host) answer(ctx context.Context, c Conn, t byte, p []byte) (byte, []byte) {
	fail := func(err error) (byte, []byte) {
		code := CodeInternal
		var ce *codeError
		switch {
		case errors.Is(err, ErrFrame):
			code = CodeBadRequest
		case errors.As(err, &ce):
			code = ce.code
		}
		return respError, encodeError(code, err.Error())
	}
	switch t {
	case typeList:
		if len(p) != 0 {
			return fail(fmt.Errorf("%w: list request with a payload", ErrFrame))
		}
		es, err := h.m.List()
		if err != nil {
			return fail(err)
		}
		if len(es) > MaxPublishers {
			es = es[:MaxPublishers]
		}
		return respPublishers, encodeEntries(es)
	case typeStatement:
		pub, err := decodeID(p)
		if err != nil {
			return fail(err)
		}
		st, err := h.m.Statement(pub)
		if err != nil {
			return fail(err)
		}
		return respStatement, st
	case typeLeaves:
		pub, from, to, err := decodeLeavesReq(p)
		if err != nil {
			return fail(err)
		}
		ls, err := h.m.Leaves(pub, from, min(to, from+MaxLeavesPerResponse))
		if err != nil {
			return fail(err)
		}
		return respLeaves, encodeLeaves(ls)
	case typeBundle:
		d, err := decodeDigest(p)
		if err != nil {
			return fail(err)
		}
		b, err := h.m.Bundle(d)
		if err != nil {
			return fail(err)
		}
		if int64(len(b)) > h.cfg.MaxBundleSize {
			return fail(fmt.Errorf("session: bundle %s is larger than the frame limit", d))
		}
		return respBundle, b
	case typeMirrorList:
		pub, err := decodeID(p)
		if err != nil {
			return fail(err)
		}
		ml, err := h.m.MirrorList(pub)
		if err != nil {
			return fail(err)
		}
		return respMirrorList, ml
	case typeHello:
		u, err := decodeHello(p)
		if err != nil {
			return fail(err)
		}
		return respHello, encodeHello(h.m.Hello(c, u))
	case typeAnnounce:
		x, err := decodeAnnounce(p)
		if err != nil {
			return fail(err)
		}
		if err := h.m.Announce(ctx, c, x); err != nil {
			return fail(err)
		}
		return respOK, nil
	}
	return fail(fmt.Errorf("%w: type 0x%02x is not a request", ErrFrame, t))
}
