package web

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

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
	// kept (about 64 bytes each). Past it, a new client's bucket takes
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
//
// A bucket holds up to burst tokens and gains rate a second; a request
// takes one, and is refused if there is less than one (as
// golang.org/x/time/rate's Limiter.Allow, here under the one lock of the
// table, with the buckets held in it by value).
type clients struct {
	rate          float64 // tokens a nanosecond
	burst         float64
	max           int
	limitLoopback bool
	epoch         time.Time // bucket times count from here, on the monotonic clock

	mu sync.Mutex
	m  map[netip.Prefix]bucket
}

// bucket is one client's tokens at a time.
type bucket struct {
	tokens float64
	at     int64 // nanoseconds since clients.epoch
}

func newClients(perSecond float64, burst, max int, limitLoopback bool) *clients {
	if perSecond < 0 {
		return nil
	}
	return &clients{rate: perSecond / 1e9, burst: float64(burst), max: max, limitLoopback: limitLoopback,
		epoch: time.Now(), m: map[netip.Prefix]bucket{}}
}

// tokensAt returns b's tokens at time t (nanoseconds since c.epoch).
func (c *clients) tokensAt(b bucket, t int64) float64 {
	if t <= b.at {
		return b.tokens
	}
	return min(c.burst, b.tokens+float64(t-b.at)*c.rate)
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
	t := int64(time.Since(c.epoch))
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[key]
	if !ok {
		if len(c.m) >= c.max {
			c.evict(t)
		}
		b = bucket{tokens: c.burst, at: t}
	}
	b.tokens, b.at = c.tokensAt(b, t), max(b.at, t)
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	c.m[key] = b
	return allowed
}

// evict makes room for one bucket. It looks at up to evictSample buckets
// (a map's iteration starts at a random place) and forgets every one that
// is full, which loses nothing: a client without a bucket gets a full
// one. If none is full, it forgets the fullest it saw, the client least
// limited now. A client that has spent its burst is kept while others
// have more tokens left, so a flood of new addresses, each of which spent
// one token, does not reset it. c.mu must be held.
func (c *clients) evict(t int64) {
	var fullest netip.Prefix
	most, seen, freed := -1.0, 0, false
	for k, b := range c.m {
		if n := c.tokensAt(b, t); n >= c.burst {
			delete(c.m, k)
			freed = true
		} else if n > most {
			fullest, most = k, n
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !freed {
		delete(c.m, fullest)
	}
}
