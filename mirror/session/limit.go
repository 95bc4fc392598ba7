package session

import (
	"context"
	"errors"
	"net"
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
	sessions int
	lim      *rate.Limiter // nil when rate limits are off
}

// RemoteIP returns the address a peer's sessions and requests are
// counted under: its IPv4 address, or the /64 network of its IPv6
// address, since one IPv6 host commonly holds a whole /64.
func RemoteIP(c Conn) string {
	a := c.RemoteAddr()
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

// admit counts a new session from c's remote address and returns its
// limiter, or false when the address already has MaxSessionsPerIP
// sessions (only checked when check is set: sessions the node dialed are
// counted, never refused).
func (h *Host) admit(c Conn, check bool) (*limiter, bool) {
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
	if check && h.cfg.MaxSessionsPerIP > 0 && st.sessions >= h.cfg.MaxSessionsPerIP {
		return nil, false
	}
	st.sessions++
	h.admitted++
	if st.lim == nil {
		return nil, true
	}
	return &limiter{session: rate.NewLimiter(rate.Limit(h.cfg.RateLimit), h.cfg.RateBurst), ip: st.lim}, true
}

// release ends a session counted by admit.
func (h *Host) release(c Conn) {
	ip := RemoteIP(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.admitted--
	if st := h.ips[ip]; st != nil {
		st.sessions--
		h.sweepIPs()
	}
}

// sweepIPs forgets the addresses without sessions whose bucket is full
// again, so that closing a session and opening another gives a peer
// nothing, and the map holds only addresses recently active. h.mu is held.
func (h *Host) sweepIPs() {
	now := time.Now()
	for ip, st := range h.ips {
		if st.sessions <= 0 && (st.lim == nil || st.lim.TokensAt(now) >= float64(st.lim.Burst())) {
			delete(h.ips, ip)
		}
	}
}
