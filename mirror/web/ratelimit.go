package web

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// Per-client rate limits.
const (
	// DefaultRate is the requests per second one client address may make
	// on average.
	DefaultRate = 50
	// DefaultBurst is how many requests one client address may make at
	// once.
	DefaultBurst = 200
	// DefaultRateClients bounds the client addresses whose buckets are
	// kept (about 150 bytes each). Past it, a new client's bucket takes
	// the place of one that loses the least when forgotten (see evict);
	// the table is never cleared, so a flood of new addresses does not
	// give every limited client a fresh burst.
	DefaultRateClients = 1 << 14
	// evictSample is how many buckets a new client's arrival looks at,
	// when the table is full, to choose one to forget.
	evictSample = 32
)

// clients holds one token bucket per client, keyed by netlimit.Key: an
// IPv4 address, or an IPv6 /64, so that a client with a /64 of its own
// has one bucket, not 2^64. Loopback clients (a reverse proxy, local
// tools) are not limited unless limitLoopback is set: a proxy in front
// of a mirror limits its own clients.
type clients struct {
	rate          rate.Limit
	burst         int
	max           int
	limitLoopback bool

	mu sync.Mutex
	m  map[netip.Prefix]*rate.Limiter
}

func newClients(perSecond float64, burst, max int, limitLoopback bool) *clients {
	if perSecond < 0 {
		return nil
	}
	return &clients{rate: rate.Limit(perSecond), burst: burst, max: max, limitLoopback: limitLoopback, m: map[netip.Prefix]*rate.Limiter{}}
}

// allow reports whether the request's client may be served now.
func (c *clients) allow(r *http.Request) bool {
	if c == nil {
		return true
	}
	addr, ok := netlimit.ParseAddr(r.RemoteAddr)
	if !ok || addr.IsLoopback() && !c.limitLoopback {
		return true // not a network client (in-process use), or loopback
	}
	key := netlimit.Key(addr)
	now := time.Now()
	c.mu.Lock()
	l := c.m[key]
	if l == nil {
		if len(c.m) >= c.max {
			c.evict(now)
		}
		l = rate.NewLimiter(c.rate, c.burst)
		c.m[key] = l
	}
	c.mu.Unlock()
	return l.AllowN(now, 1)
}

// evict makes room for one bucket. It looks at up to evictSample buckets
// (a map's iteration starts at a random place) and forgets every one that
// is full, which loses nothing: a client without a bucket gets a full
// one. If none is full, it forgets the fullest it saw, the client least
// limited now. A client that has spent its burst is kept while others
// have more tokens left, so a flood of new addresses, each of which spent
// one token, does not reset it. c.mu must be held.
func (c *clients) evict(now time.Time) {
	var fullest netip.Prefix
	most, seen, freed := -1.0, 0, false
	for k, l := range c.m {
		if t := l.TokensAt(now); t >= float64(c.burst) {
			delete(c.m, k)
			freed = true
		} else if t > most {
			fullest, most = k, t
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !freed {
		delete(c.m, fullest)
	}
}
