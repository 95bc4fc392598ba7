package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the limits on what one peer may ask, see Config.
const (
	// DefaultRateLimit is the sustained rate of requests a session may
	// make, per second.
	DefaultRateLimit = 500
	// DefaultRateBurst is the requests a session may make at once before
	// the rate applies: an honest full sync of 10,000 bundles (one request
	// a bundle, one per 1,024 leaves, and a few more) fits in it.
	DefaultRateBurst = 20_000
	// DefaultMaxSessionsPerIP bounds the sessions with one remote address.
	DefaultMaxSessionsPerIP = 16
	// maxRateDelay is the longest a request over the rate is held back
	// before it is answered; one that would wait longer is refused.
	maxRateDelay = time.Second
	// ipRateFactor is how many sessions' worth of requests one remote
	// address may make, over all its sessions.
	ipRateFactor = 2
)

// errRateLimit is wrapped by the refusal of a request over the rate limit.
var errRateLimit = errors.New("rate limit")

// limiter holds back the requests of one session: its own token bucket and
// its remote address's, shared by every session from that address. A nil
// *limiter lets everything through.
type limiter struct {
	session, ip *rate.Limiter
}

// wait takes a token from both buckets, waiting up to maxRateDelay for
// them. It returns errRateLimit, taking nothing, when the wait would be
// longer, and ctx's error when ctx ends first.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	now := time.Now()
	a := l.session.ReserveN(now, 1)
	b := l.ip.ReserveN(now, 1)
	d := max(a.DelayFrom(now), b.DelayFrom(now))
	if !a.OK() || !b.OK() || d > maxRateDelay {
		a.CancelAt(now)
		b.CancelAt(now)
		return errRateLimit
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		a.Cancel()
		b.Cancel()
		return ctx.Err()
	}
}

// ipState is what the node keeps about one remote address.
type ipState struct {
	sessions  int           // in the general pool
	probation int           // on probation
	lim       *rate.Limiter // nil when rate limits are off
}

// The pools a session takes its slot from.
type pool int

const (
	poolDialed    pool = iota // dialed by this node: no slot, never refused
	poolReserved              // a configured peer's key, or promoted
	poolGeneral               // any other peer
	poolProbation             // beyond the general pool, for a while
	poolEvicted               // taken off probation for a newer session, being closed: no slot
	numPools
)

// probationPerIP bounds the sessions on probation from one address.
const probationPerIP = 1

// maxRefusing bounds the sessions over TLS on TCP being refused at once
// with error frames (see refuse); others are closed at once.
const maxRefusing = 8

// maxRefusedStreams bounds the streams of a refused session answered with
// an error frame: what a peer sends on the others waits in yamux's
// buffers until the session is closed.
const maxRefusedStreams = 4

// refuseLinger bounds the time a refused session's requests are answered
// with error frames before it is closed.
const refuseLinger = time.Second

// closeGrace is how long a session on probation is kept after the answer
// to its announce, so that the answer reaches the peer before the session
// is closed (closing a QUIC session drops what its streams have not sent).
const closeGrace = 500 * time.Millisecond

// sess is what a Host keeps about one session.
type sess struct {
	c     Conn
	ip    string
	pool  pool // guarded by Host.mu
	lim   *limiter
	since time.Time
	kicks chan struct{} // wakes the session's watch

	last       atomic.Int64 // when a request either way last began or ended, Unix ns
	active     atomic.Int32 // requests either way being made now
	announcing atomic.Int32 // the peer's announces being acted on now
	announced  atomic.Int64 // when the peer's last announce was answered, Unix ns
}

func (s *sess) limiter() *limiter {
	if s == nil {
		return nil
	}
	return s.lim
}

func (s *sess) kick() {
	select {
	case s.kicks <- struct{}{}:
	default:
	}
}

// begin counts a request either way as activity, until the returned
// function is called. s may be nil.
func (s *sess) begin() func() {
	if s == nil {
		return func() {}
	}
	s.active.Add(1)
	s.last.Store(time.Now().UnixNano())
	return func() {
		s.last.Store(time.Now().UnixNano())
		s.active.Add(-1)
	}
}

// activity counts a request this node makes on c as activity of its
// session, until the returned function is called.
func (h *Host) activity(c Conn) func() {
	h.mu.Lock()
	s := h.conns[c]
	h.mu.Unlock()
	return s.begin()
}

// RemoteIP returns the address a peer's sessions and requests are
// counted under: its IPv4 address, or the /64 network of its IPv6
// address, since one IPv6 host commonly holds a whole /64.
func RemoteIP(c Conn) string {
	return addrKey(c.RemoteAddr())
}

func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	h := a.String()
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	ip := net.ParseIP(h)
	if ip == nil || ip.To4() != nil {
		return h
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// admit gives a new session a slot and returns it, or nil and why it
// was refused. A session this node dialed takes no slot.
func (h *Host) admit(c Conn, dialed bool) (*sess, string) {
	ip := RemoteIP(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.ips[ip]
	if st == nil {
		h.sweepIPs()
		st = &ipState{}
		if h.cfg.RateLimit > 0 {
			st.lim = rate.NewLimiter(rate.Limit(h.cfg.RateLimit*ipRateFactor), h.cfg.RateBurst*ipRateFactor)
		}
		h.ips[ip] = st
	}
	var p pool
	why := ""
	switch {
	case dialed:
		p = poolDialed
	case h.peerKey(c.PeerKey()) && h.pools[poolReserved] < h.cfg.MaxReservedSessions:
		p = poolReserved
	case h.pools[poolGeneral] < h.cfg.MaxSessions && (h.cfg.MaxSessionsPerIP < 0 || st.sessions < h.cfg.MaxSessionsPerIP):
		p = poolGeneral
	default:
		why = "too many sessions"
		perIP := h.pools[poolGeneral] < h.cfg.MaxSessions
		if perIP {
			why = "too many sessions from its address"
		}
		if h.cfg.ProbationSessions > 0 && st.probation < probationPerIP {
			if h.pools[poolProbation] < h.cfg.ProbationSessions {
				p = poolProbation
				break
			}
			if v := h.probationVictim(); v != nil {
				h.move(v, poolEvicted)
				v.kick() // its watch closes it
				p = poolProbation
				break
			}
		}
		if perIP {
			h.ipRefused.Add(1)
		}
		h.refused.Add(1)
		return nil, why
	}
	now := time.Now()
	s := &sess{c: c, ip: ip, since: now, kicks: make(chan struct{}, 1)}
	s.last.Store(now.UnixNano())
	h.conns[c] = s
	h.count(s, p, 1)
	if st.lim != nil {
		s.lim = &limiter{session: rate.NewLimiter(rate.Limit(h.cfg.RateLimit), h.cfg.RateBurst), ip: st.lim}
	}
	return s, why
}

// probationVictim returns the session that has been on probation longest
// among those that a newer session may take the place of, or nil if none
// may be: a session whose announce is being acted on, or was answered less
// than closeGrace ago, keeps its slot. Without this, peers that keep the
// probation pool full (one session from each of ProbationSessions
// addresses, each dialed again as soon as it is closed) left a
// publisher's push no slot; now the push takes the oldest idle one, and
// keeps its own once its announce arrives, which it sends first. h.mu is
// held.
func (h *Host) probationVictim() *sess {
	var v *sess
	now := time.Now()
	for _, s := range h.conns {
		if s.pool != poolProbation || s.announcing.Load() > 0 || now.Sub(time.Unix(0, s.announced.Load())) < closeGrace {
			continue
		}
		if v == nil || s.since.Before(v.since) {
			v = s
		}
	}
	return v
}

// peerKey reports whether key is a configured peer's.
func (h *Host) peerKey(key ed25519.PublicKey) bool {
	for _, k := range h.cfg.PeerKeys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// count adds d sessions to pool p, for s's address too. h.mu is held.
func (h *Host) count(s *sess, p pool, d int) {
	if d > 0 {
		s.pool = p
	}
	h.pools[p] += d
	st := h.ips[s.ip]
	if st == nil {
		return
	}
	switch p {
	case poolGeneral:
		st.sessions += d
	case poolProbation:
		st.probation += d
	}
}

// move moves s to pool p. h.mu is held.
func (h *Host) move(s *sess, p pool) {
	h.count(s, s.pool, -1)
	h.count(s, p, 1)
}

// release ends a session counted by admit.
func (h *Host) release(s *sess) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count(s, s.pool, -1)
	delete(h.conns, s.c)
	h.sweepIPs()
}

// sweepIPs forgets the addresses without sessions whose bucket is full
// again, so that closing a session and opening another gives a peer
// nothing, and the map holds only addresses recently active. h.mu is held.
func (h *Host) sweepIPs() {
	now := time.Now()
	for ip, st := range h.ips {
		if st.sessions <= 0 && st.probation <= 0 && (st.lim == nil || st.lim.TokensAt(now) >= float64(st.lim.Burst())) {
			delete(h.ips, ip)
		}
	}
}

// refuse ends a session that found no slot, so that the peer learns why:
// a QUIC session is closed with code (the peer's requests fail with a
// *RemoteError of that code). TLS on TCP carries no code: the first
// streams the peer opens within refuseLinger are answered with error
// frames of that code, by at most maxRefusing sessions at once; then the
// session is sent a yamux go-away, which the peer's next OpenStream
// reports as code 6, and closed. Its goroutine is counted in wg.
func (h *Host) refuse(ctx context.Context, wg *sync.WaitGroup, c Conn, code byte) {
	if _, ok := c.(*tcpConn); !ok {
		// Not in Serve's loop: quic-go's close waits for the session's
		// own loop, and while Serve waits, handshakes that completed
		// meanwhile fill quic-go's accept queue (32), past which every
		// new session, a publisher's push too, is refused with
		// CONNECTION_REFUSED.
		wg.Go(func() { closeWith(c, code) })
		return
	}
	select {
	case h.refusing <- struct{}{}:
	default:
		closeWith(c, code)
		return
	}
	wg.Go(func() {
		defer func() { <-h.refusing }()
		defer closeWith(c, code)
		ctx, cancel := context.WithTimeout(ctx, refuseLinger)
		defer cancel()
		for range maxRefusedStreams {
			st, err := c.AcceptStream(ctx)
			if err != nil {
				return
			}
			st.SetDeadline(time.Now().Add(refuseLinger))
			writeFrame(st, respError, encodeError(code))
			st.CloseWrite()
		}
	})
}
