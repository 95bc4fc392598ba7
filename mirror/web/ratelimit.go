package web

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// Per-client rate limits.
const (
	// DefaultRate is the requests per second one client address may make
	// on average.
	DefaultRate = 50
	// DefaultBurst is how many requests one client address may make at
	// once.
	DefaultBurst = 200
	// maxClients bounds the client addresses tracked; past it the table
	// starts afresh, so memory stays bounded under a flood of addresses.
	maxClients = 1 << 14
)

// clients holds one token bucket per client address. Loopback clients,
// a reverse proxy or local tools, are not limited: a proxy in front of a
// mirror limits its own clients.
type clients struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex
	m  map[netip.Addr]*rate.Limiter
}

func newClients(perSecond float64, burst int) *clients {
	if perSecond < 0 {
		return nil
	}
	return &clients{rate: rate.Limit(perSecond), burst: burst, m: map[netip.Addr]*rate.Limiter{}}
}

// allow reports whether the request's client may be served now.
func (c *clients) allow(r *http.Request) bool {
	if c == nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Unmap().IsLoopback() {
		return true // not a network client (tests, in-process use) or loopback
	}
	addr = addr.Unmap()
	c.mu.Lock()
	l := c.m[addr]
	if l == nil {
		if len(c.m) >= maxClients {
			clear(c.m)
		}
		l = rate.NewLimiter(c.rate, c.burst)
		c.m[addr] = l
	}
	c.mu.Unlock()
	return l.Allow()
}
