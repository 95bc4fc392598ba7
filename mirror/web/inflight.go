package web

import (
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

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
	max, perAddr  int64
	limitLoopback bool

	total atomic.Int64 // requests being handled, and those being refused by the total cap

	mu     sync.Mutex
	byAddr map[netip.Prefix]int64
}

func newInflight(h http.Handler, max, perAddr int, limitLoopback bool) *inflight {
	return &inflight{h: h, max: int64(max), perAddr: int64(perAddr), limitLoopback: limitLoopback, byAddr: map[netip.Prefix]int64{}}
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var key netip.Prefix
	per := false
	if f.perAddr > 0 {
		if addr, ok := netlimit.ParseAddr(r.RemoteAddr); ok && (f.limitLoopback || !addr.IsLoopback()) {
			key, per = netlimit.Key(addr), true
		}
	}
	if f.total.Add(1) > f.max {
		f.total.Add(-1)
		refuseBusy(w)
		return
	}
	defer f.total.Add(-1)
	if per {
		f.mu.Lock()
		if f.byAddr[key] >= f.perAddr {
			f.mu.Unlock()
			refuseBusy(w)
			return
		}
		f.byAddr[key]++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			if f.byAddr[key]--; f.byAddr[key] <= 0 {
				delete(f.byAddr, key)
			}
			f.mu.Unlock()
		}()
	}
	f.h.ServeHTTP(w, r)
}

// refuseBusy answers a request over a cap.
func refuseBusy(w http.ResponseWriter) {
	hd := w.Header()
	hd["Retry-After"] = retryAfter1
	hd["Cache-Control"] = noStore
	w.WriteHeader(http.StatusServiceUnavailable)
}

// Header values of a refusal, shared and never modified.
var (
	retryAfter1 = []string{"1"}
	noStore     = []string{"no-store"}
)
