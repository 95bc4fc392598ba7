package web

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// DefaultMaxConcurrentStreams is the default of
// ServerConfig.MaxConcurrentStreams: HTTP/2 requests one connection may
// have in flight. A mirror's page needs a few; net/http's own default,
// 250, let one address hold 64,000 requests through its 256 connections.
const DefaultMaxConcurrentStreams = 16

// inflight caps the requests being handled at once: in total, and per
// client address (netlimit.Key), so that a client that never reads its
// answers (an HTTP/2 client that keeps its flow control window shut, each
// stream holding a handler until the write timeout) holds no more
// handlers than its connections could over HTTP/1.1. A request over a cap
// is answered 503 at once, with no body, which needs no flow control
// window to be sent. It is safe for concurrent use.
type inflight struct {
	h             http.Handler
	max, perAddr  int
	limitLoopback bool

	mu     sync.Mutex
	total  int
	byAddr map[netip.Prefix]int
}

func newInflight(h http.Handler, max, perAddr int, limitLoopback bool) *inflight {
	return &inflight{h: h, max: max, perAddr: perAddr, limitLoopback: limitLoopback, byAddr: map[netip.Prefix]int{}}
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var key netip.Prefix
	per := false
	if addr, ok := netlimit.ParseAddr(r.RemoteAddr); ok && f.perAddr > 0 && (f.limitLoopback || !addr.IsLoopback()) {
		key, per = netlimit.Key(addr), true
	}
	f.mu.Lock()
	if f.total >= f.max || per && f.byAddr[key] >= f.perAddr {
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	f.total++
	if per {
		f.byAddr[key]++
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.total--
		if per {
			if f.byAddr[key]--; f.byAddr[key] <= 0 {
				delete(f.byAddr, key)
			}
		}
		f.mu.Unlock()
	}()
	f.h.ServeHTTP(w, r)
}
