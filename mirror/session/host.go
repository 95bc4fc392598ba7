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
// Hello). It bounds what peers may make it hold, each bound a Config field
// or a named constant:
//
//   - every frame type has its own limit, checked from the header before
//     the payload is read, and a request must arrive within
//     Config.ReadTimeout;
//   - node-wide budgets bound the bytes of requests held
//     (Config.MaxRequestBytes), of answers being received
//     (Config.MaxReceiveBytes) and of bundles being sent
//     (Config.MaxSendBytes); a bundle answer is hashed as it streams and
//     refused unless it matches its digest;
//   - sessions take slots from pools: reserved for configured peers and
//     promoted pushes, a general pool capped in all and per remote
//     address, and a small probation pool that lets a publisher's push
//     through a flood; idle sessions are closed;
//   - requests are metered by token buckets per session and per address;
//   - the transports' windows, stream counts and handshakes are bounded,
//     per address too (handshakes over QUIC and TCP, connections over
//     TCP).
//
// An error sent to a peer is a code and that code's fixed text (CodeText);
// the detail stays in the node's log.
package session

import (
	"context"
	"crypto/ed25519"
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
	// MaxRequestBytes bounds the bytes of peers' requests held at once,
	// across all sessions, from their header until they are answered: a
	// request waits up to a second for room, then is answered error 6.
	// Default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxReceiveBytes bounds the bytes of answers being received at
	// once, across all sessions; a quarter of it is kept for the first
	// 64 KiB of each answer, so that small answers pass while large ones
	// fill the rest. An answer that finds no room within a second is
	// given up with an error wrapping ErrBusy. One bundle larger than
	// the rest is received alone, beyond it. Default
	// DefaultMaxReceiveBytes.
	MaxReceiveBytes int64
	// ReadTimeout bounds the reading of one request, from its stream's
	// accept to the end of its frame. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// RequestTimeout bounds one request and its answer. Default 30 s.
	RequestTimeout time.Duration
	// AnnounceTimeout bounds the wait for a peer to act on an announce,
	// which may mean fetching many bundles. Default 10 min.
	AnnounceTimeout time.Duration
	// MaxSessions bounds the sessions from unknown peers that Serve keeps
	// at once (the general pool). Default 256.
	MaxSessions int
	// RateLimit is the sustained rate, in requests per second, at which a
	// session's peer may ask; RateBurst is how many it may ask at once
	// before the rate applies. One remote address may ask twice as much
	// over all its sessions. A request over the limit waits up to a
	// second for its turn, and is refused with error 5 (CodeRateLimit)
	// when it would wait longer. Defaults DefaultRateLimit and
	// DefaultRateBurst, which an honest full sync of 10,000 bundles does
	// not reach; a negative RateLimit turns the limit off.
	RateLimit float64
	RateBurst int
	// MaxSessionsPerIP bounds the general pool's sessions with one
	// remote address (an IPv6 /64 counting as one). Default
	// DefaultMaxSessionsPerIP; negative means no bound.
	MaxSessionsPerIP int
	// PeerKeys are the node keys of the configured peers: an accepted
	// session with one of them takes a reserved slot, not one of the
	// general pool.
	PeerKeys []ed25519.PublicKey
	// MaxReservedSessions bounds the reserved slots: accepted sessions of
	// configured peers (PeerKeys), and sessions promoted from probation
	// (see Promote). Default DefaultMaxReservedSessions.
	MaxReservedSessions int
	// ProbationSessions bounds the sessions admitted on probation when
	// the general pool, or their address's share of it, is full: one per
	// address, for ProbationTime, after which a session the model has not
	// promoted is closed with code 6, unless it is waiting for the answer
	// to an announce. When the probation pool is full too, a new session
	// takes the place of the one on probation longest that is not
	// waiting for the answer to an announce (closed with code 6). A
	// publisher's push, which dials with a new key each time and
	// announces first, gets through a flood of idle sessions this way.
	// Default
	// DefaultProbationSessions; negative means none.
	ProbationSessions int
	// ProbationTime is how long a session stays on probation. Default
	// DefaultProbationTime.
	ProbationTime time.Duration
	// IdleTimeout closes a session of the general pool or on probation
	// in which neither end has made a request for that long, with code
	// 7. Default DefaultIdleTimeout; negative means never.
	IdleTimeout time.Duration
}

// Defaults of Config's session slots and timeouts.
const (
	DefaultReadTimeout         = 5 * time.Second
	DefaultMaxReservedSessions = 64
	DefaultProbationSessions   = 32
	DefaultProbationTime       = 5 * time.Second
	DefaultIdleTimeout         = 2 * time.Minute
)

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
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	// A request of the largest size must fit.
	c.MaxRequestBytes = max(c.MaxRequestBytes, MaxRequestSize)
	if c.MaxReceiveBytes <= 0 {
		c.MaxReceiveBytes = DefaultMaxReceiveBytes
	}
	// The first chunk of an answer must fit in the small part.
	c.MaxReceiveBytes = max(c.MaxReceiveBytes, smallShare*firstChunk)
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
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
	if c.MaxReservedSessions <= 0 {
		c.MaxReservedSessions = DefaultMaxReservedSessions
	}
	if c.ProbationSessions == 0 {
		c.ProbationSessions = DefaultProbationSessions
	}
	if c.ProbationTime <= 0 {
		c.ProbationTime = DefaultProbationTime
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Model is what a Host answers from and hands its sessions to: the
// replication layer. There is one method per request a peer may make, and
// two for a session's life. The Host calls them from many goroutines at
// once.
//
// An error a method returns is logged, and the peer answered with the
// fixed text of a code: CodeInternal, unless the error wraps ErrFrame
// (CodeBadRequest) or was marked by NotFound or Refused. No text of the
// error reaches the peer.
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
	Probation   int    // of them, on probation now
	RateLimited uint64 // peers' requests refused over their rate limit
	Busy        uint64 // peers' requests refused, and own answers given up, for a full budget
	BadRequests uint64 // peers' requests refused as malformed, unknown or too large
	IPRefused   uint64 // sessions refused: too many from one address
	Refused     uint64 // sessions refused: every slot they could take was taken
	Promoted    uint64 // sessions promoted from probation or the general pool
	Closed      uint64 // sessions closed at the end of their probation, for a newer one on probation, or idle
}

// Host is one node's end of its sessions with peers: it answers their
// requests from a Model within its limits, and asks them for things. It is
// safe for concurrent use.
type Host struct {
	m    Model
	cfg  Config
	log  *slog.Logger
	send *semaphore.Weighted // bytes of bundles being sent (Config.MaxSendBytes)
	reqs *budget             // bytes of requests held (Config.MaxRequestBytes)
	recv *recvBudget         // bytes of answers being received (Config.MaxReceiveBytes)

	mu       sync.Mutex
	sessions int                 // sessions running now
	pools    [numPools]int       // sessions admitted and not yet released, by pool
	ips      map[string]*ipState // sessions and request bucket by remote address
	conns    map[Conn]*sess      // the sessions admitted, and those this node dialed

	refusing chan struct{} // slots of sessions being refused with error frames

	rateLimited, busy, badRequests, ipRefused, refused, promoted, closed atomic.Uint64
}

// New returns a host that answers peers from m.
func New(m Model, cfg *Config) *Host {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c = c.withDefaults()
	return &Host{
		m: m, cfg: c, log: c.Logger,
		send: semaphore.NewWeighted(c.MaxSendBytes), reqs: newBudget(c.MaxRequestBytes), recv: newRecvBudget(c.MaxReceiveBytes),
		ips: map[string]*ipState{}, conns: map[Conn]*sess{}, refusing: make(chan struct{}, maxRefusing),
	}
}

// Config returns the host's configuration, with the defaults filled in.
func (h *Host) Config() Config { return h.cfg }

// Stats returns the host's counters.
func (h *Host) Stats() Stats {
	h.mu.Lock()
	s, p := h.sessions, h.pools[poolProbation]
	h.mu.Unlock()
	return Stats{
		Sessions: s, Probation: p, RateLimited: h.rateLimited.Load(), Busy: h.busy.Load(),
		BadRequests: h.badRequests.Load(), IPRefused: h.ipRefused.Load(), Refused: h.refused.Load(),
		Promoted: h.promoted.Load(), Closed: h.closed.Load(),
	}
}

// Serve accepts sessions on l and runs each as ServeConn does until it
// ends or ctx is cancelled, then closes l and returns once every session's
// goroutines have ended. A session takes a slot of one of three pools: the
// reserved one for a configured peer's key (Config.PeerKeys), else the
// general one (Config.MaxSessions, Config.MaxSessionsPerIP), else one on
// probation (Config.ProbationSessions); a session that finds none is
// refused with code 6 (CodeBusy).
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
		s, why := h.admit(c, false)
		if s == nil {
			h.log.Debug("session: refusing session: "+why, "peer", c.RemoteAddr())
			h.refuse(ctx, &wg, c, CodeBusy)
			continue
		}
		if s.pool == poolProbation {
			h.log.Debug("session: admitting session on probation: "+why, "peer", c.RemoteAddr())
		}
		wg.Go(func() {
			defer h.release(s)
			h.run(ctx, s)
		})
	}
}

// ServeConn runs a session that this node dialed, as Serve runs those it
// accepts: it answers the peer's requests within the rate limits and runs
// the model's Connected, until the peer or ctx ends the session; then it
// closes c and returns. The session counts towards its address's rate
// limit, but takes no slot and is never refused.
func (h *Host) ServeConn(ctx context.Context, c Conn) {
	s, _ := h.admit(c, true)
	defer h.release(s)
	h.run(ctx, s)
}

// Answer answers the requests of the peer on c, without rate limits, until
// ctx ends or the session does; it neither runs the model's Connected nor
// closes c. A publisher's push uses it while it announces.
func (h *Host) Answer(ctx context.Context, c Conn) { h.serveStreams(ctx, c, nil) }

// Promote moves the session on c out of probation or the general pool
// into a reserved slot, if one is free, and reports whether the session
// holds one now. The model calls it once the peer has proven useful: a
// replica.Node when the peer's announce gave its store a newer checkpoint,
// verified under a trusted publisher's key. A promoted session is not
// closed for idleness.
func (h *Host) Promote(c Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.conns[c]
	if s == nil {
		return false
	}
	switch s.pool {
	case poolReserved, poolDialed:
		return true
	case poolEvicted:
		return false
	}
	if h.pools[poolReserved] >= h.cfg.MaxReservedSessions {
		return false
	}
	h.move(s, poolReserved)
	h.promoted.Add(1)
	s.kick()
	return true
}

// run answers the peer of s and runs the model's side of the session
// until the session ends or ctx is cancelled; it closes the session.
func (h *Host) run(ctx context.Context, s *sess) {
	c := s.c
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
		h.serveStreams(ctx, c, s)
		cancel()
	})
	wg.Go(func() { h.m.Connected(ctx, c) })
	wg.Go(func() {
		if code := h.watch(ctx, s); code != 0 {
			h.closed.Add(1)
			h.log.Info("session: closing session: "+CodeText(code), "peer", c.RemoteAddr())
			closeWith(c, code)
			cancel()
		}
	})
	<-ctx.Done()
	c.Close()
	wg.Wait()
	h.m.Closed(c)
}

// watch returns, with the code to close the session with, once a session
// has been taken off probation for a newer one, once a session
// on probation has outlived its probation without being promoted, is not
// waiting for the answer to an announce, and got the last such answer at
// least closeGrace ago, or once a session of the
// general pool or on probation has been idle for Config.IdleTimeout. It
// returns 0 when ctx ends first.
func (h *Host) watch(ctx context.Context, s *sess) byte {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		h.mu.Lock()
		pool := s.pool
		h.mu.Unlock()
		if pool == poolEvicted {
			return CodeBusy
		}
		now := time.Now()
		var wake time.Time
		if pool == poolProbation {
			end := s.since.Add(h.cfg.ProbationTime)
			if a := time.Unix(0, s.announced.Load()).Add(closeGrace); a.After(end) {
				end = a
			}
			if !now.Before(end) && s.announcing.Load() == 0 {
				return CodeBusy
			}
			wake = end
		}
		if (pool == poolProbation || pool == poolGeneral) && h.cfg.IdleTimeout > 0 {
			end := time.Unix(0, s.last.Load()).Add(h.cfg.IdleTimeout)
			if !now.Before(end) && s.active.Load() == 0 {
				return CodeIdle
			}
			if wake.IsZero() || end.Before(wake) {
				wake = end
			}
		}
		if wake.IsZero() {
			// A reserved or dialed session: wait for the end.
			select {
			case <-ctx.Done():
				return 0
			case <-s.kicks:
			}
			continue
		}
		t.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			return 0
		case <-s.kicks:
		case <-t.C:
		}
	}
}

// streamsOf returns how many requests of a session on c are answered at
// once; the peer's further streams wait (QUIC's stream limit is the same;
// yamux keeps a backlog, see tcpBacklog).
func streamsOf(c Conn) int {
	if _, ok := c.(*tcpConn); ok {
		return tcpStreams
	}
	return maxStreams
}

// maxStreams bounds the requests of one QUIC session answered at once.
const maxStreams = 64

// serveStreams answers the streams the peer opens until the session ends.
// Requests over the session's rate limit wait in its limiter, or are
// refused. s is nil for a session without limits (Answer).
func (h *Host) serveStreams(ctx context.Context, c Conn, s *sess) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, streamsOf(c))
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		st, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			h.serveStream(ctx, c, st, s)
		})
	}
}

// serveStream answers one request.
func (h *Host) serveStream(ctx context.Context, c Conn, st Stream, s *sess) {
	defer s.begin()()
	st.SetDeadline(time.Now().Add(h.cfg.ReadTimeout))
	t, p, code, err := h.readRequest(ctx, st)
	if err != nil && (ctx.Err() != nil || closedLocally(err)) {
		// The node is stopping, or closed this session itself: the
		// request was cut off, not refused.
		st.Reset()
		return
	}
	if err != nil {
		if code == CodeBusy {
			h.busy.Add(1)
		} else {
			h.badRequests.Add(1)
		}
		h.log.Debug("session: refusing request", "peer", c.RemoteAddr(), "err", err)
		h.reply(st, respError, encodeError(code), false)
		return
	}
	defer h.reqs.give(int64(len(p)))
	if lerr := s.limiter().wait(ctx); errors.Is(lerr, errRateLimit) {
		h.rateLimited.Add(1)
		h.log.Debug("session: refusing request: rate limit", "peer", c.RemoteAddr())
		h.reply(st, respError, encodeError(CodeRateLimit), true)
		return
	} else if lerr != nil {
		st.Reset()
		return
	}
	release, berr := h.sendRoom(ctx, t, p)
	defer release()
	if berr != nil {
		h.busy.Add(1)
		h.log.Debug("session: refusing request", "peer", c.RemoteAddr(), "err", berr)
		h.reply(st, respError, encodeError(CodeBusy), true)
		return
	}
	if t == typeAnnounce && s != nil {
		s.announcing.Add(1)
		defer func() {
			s.announced.Store(time.Now().UnixNano())
			s.announcing.Add(-1)
			s.kick()
		}()
	}
	rt, rp := h.answer(ctx, c, t, p)
	h.reply(st, rt, rp, true)
}

// readRequest reads a request within its type's limit and the request
// budget, which it takes the payload's length of: the caller gives it
// back. On error it returns the code to answer with.
func (h *Host) readRequest(ctx context.Context, st Stream) (byte, []byte, byte, error) {
	t, n, err := readHeader(st)
	if err != nil {
		return 0, nil, CodeBadRequest, err
	}
	if err := checkLength(t, n, requestLimit(t), "a request"); err != nil {
		return 0, nil, CodeBadRequest, err
	}
	if !h.reqs.take(ctx, n) {
		return 0, nil, CodeBusy, fmt.Errorf("%w: too many request bytes held", ErrBusy)
	}
	p, err := readPayload(st, t, n)
	if err != nil {
		h.reqs.give(n)
		return 0, nil, CodeBadRequest, err
	}
	return t, p, 0, nil
}

// reply writes the answer to a request and closes the stream. ended
// tells that the request was read to its end (the peer closed its side);
// if not, what the peer still sends is discarded (see Stream.CloseRead).
func (h *Host) reply(st Stream, t byte, p []byte, ended bool) {
	st.SetDeadline(time.Now().Add(h.cfg.RequestTimeout))
	if err := writeFrame(st, t, p); err != nil {
		st.Reset()
		return
	}
	st.CloseWrite()
	if !ended || t == respError {
		st.CloseRead()
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
		return release, fmt.Errorf("%w: too many bundle bytes being sent", ErrBusy)
	}
	return func() { h.send.Release(w) }, nil
}

// codeError is an error of a Model marked with the code its answer
// carries.
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

// errorCode returns the code a peer is answered with for err.
func errorCode(err error) byte {
	var ce *codeError
	switch {
	case errors.Is(err, ErrFrame):
		return CodeBadRequest
	case errors.As(err, &ce):
		return ce.code
	}
	return CodeInternal
}

// answer returns the response frame to request t with payload p.
func (h *Host) answer(ctx context.Context, c Conn, t byte, p []byte) (byte, []byte) {
	fail := func(err error) (byte, []byte) {
		code := errorCode(err)
		if code == CodeInternal {
			h.log.Warn("session: cannot answer a request", "peer", c.RemoteAddr(), "type", t, "err", err)
		} else {
			h.log.Debug("session: answering error", "peer", c.RemoteAddr(), "type", t, "code", code, "err", err)
		}
		return respError, encodeError(code)
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
