package reader

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// throttled serves size bytes a response at rate bytes a second, in
// chunks of 1 KiB, flushed, over real HTTP on loopback.
func throttled(t *testing.T, size, rate int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1024)
		tick := time.NewTicker(time.Second * 1024 / time.Duration(rate))
		defer tick.Stop()
		for sent := 0; sent < size; sent += len(chunk) {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
			w.Write(chunk)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSpeedOfWholeTransfer: four streams of 6 KiB/s each, 24 KiB/s in
// all, pass a minimum of 16 KiB/s judged over the whole transfer, which
// each stream alone, judged on its own as before, would fail.
func TestSpeedOfWholeTransfer(t *testing.T) {
	url := throttled(t, 18<<10, 6<<10) // 3 s a response
	cfg := &Config{MinRate: DefaultMinRate, HeaderTimeout: 2 * time.Second}
	tr := newTransports(cfg)
	defer tr.close()
	run := func(shared bool) []error {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		m := newMeter(cfg, cancel)
		if !shared {
			m = nil // each response judged alone, as before
		}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = tr.get(ctx, m, url, false, "/", 1<<20) })
		}
		wg.Wait()
		return errs
	}
	for i, err := range run(true) {
		if err != nil {
			t.Errorf("stream %d, whole transfer judged: %v", i, err)
		}
	}
	for i, err := range run(false) {
		if !errors.Is(err, errSlow) {
			t.Errorf("stream %d, judged alone: %v, want too slow", i, err)
		}
	}
}

// TestSpeedStalled: a mirror that sends its headers and then nothing, or
// a trickle, is dropped soon after the grace, all its streams with it.
func TestSpeedStalled(t *testing.T) {
	for _, rate := range []int{0, 1 << 10} {
		var url string
		if rate == 0 {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			t.Cleanup(srv.Close)
			url = srv.URL
		} else {
			url = throttled(t, 1<<20, rate)
		}
		cfg := &Config{MinRate: DefaultMinRate, HeaderTimeout: 2 * time.Second}
		tr := newTransports(cfg)
		bound, stop := context.WithTimeout(context.Background(), 10*time.Second)
		ctx, cancel := context.WithCancelCause(bound)
		m := newMeter(cfg, cancel)
		start := time.Now()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = tr.get(ctx, m, url, false, "/", 1<<20) })
		}
		wg.Wait()
		cancel(nil)
		stop()
		tr.close()
		for i, err := range errs {
			if !errors.Is(err, errSlow) || !strings.Contains(err.Error(), "too slow") {
				t.Errorf("rate %d, stream %d: %v, want too slow", rate, i, err)
			}
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("rate %d: dropped after %v", rate, el)
		}
	}
}
