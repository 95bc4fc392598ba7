package reader_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/reader"
)

// TestSyncLookahead: a hostile mirror that holds back the first entry
// bundle while it answers every other one at once cannot make the reader
// hold the whole log's bundles in memory: the reader fetches only a few
// bundles ahead of the first it has not appended.
func TestSyncLookahead(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(40 * 256)
	h := w.handler(st)
	limit := int64(2 * reader.MaxParallel)
	var ahead atomic.Int64
	var released, tripped atomic.Bool
	enough := make(chan struct{})
	mirror := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/tile/entries/000"):
			// Held until the reader has fetched more bundles ahead than
			// it should, or a second has gone by.
			select {
			case <-enough:
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			released.Store(true)
		case strings.Contains(p, "/tile/entries/") && !released.Load():
			if ahead.Add(1) > limit && tripped.CompareAndSwap(false, true) {
				close(enough)
			}
		}
		h.ServeHTTP(rw, r)
	})
	r, err := w.client(t.TempDir(), serve(t, mirror)).Fetch(ctx, "late")
	if err != nil || r.Bundle == nil {
		t.Fatalf("fetch: %v", err)
	}
	if tripped.Load() {
		t.Errorf("more than %d entry bundles fetched while the first was held back", limit)
	}
}
