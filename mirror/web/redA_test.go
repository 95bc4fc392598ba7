package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// TestRedAFloodFigures (red team, fourth session; SAMIZDAT_REDA_FLOOD=1)
// measures, over loopback HTTP with the per-client rate limit on (50/s,
// burst 200), what 4 clients (127.0.0.2-5, then .6-9, .10-13), each sending its burst then at the
// rate, make a mirror spend in CPU
// per second with bottom parts of random nodes, against full proofs and
// article pages. The log holds 2,000 articles and its index history is
// full (64 more publishes). Figures in BENCHMARKS.md.
func TestRedAFloodFigures(t *testing.T) {
	if os.Getenv("SAMIZDAT_REDA_FLOOD") == "" {
		t.Skip("set SAMIZDAT_REDA_FLOOD=1 to measure")
	}
	f := newFixture(t, &web.Config{Rate: web.DefaultRate, Burst: web.DefaultBurst, LimitLoopback: true})
	for i := 0; i < 2000; i += 500 {
		var items []publish.Item
		for j := range 500 {
			items = append(items, item(fmt.Sprintf("art-%05d", i+j), "text/plain", "body", "en", "t"))
		}
		f.publish(items...)
	}
	for i := range 64 {
		f.publish(item(fmt.Sprintf("late-%02d", i), "text/plain", "body", "en", "t"))
	}
	a := f.alpha.ID()
	cp, err := catalog.ParseUnverified([]byte(f.get("/p/" + a + "/checkpoint").body))
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.FormatInt(cp.Size, 10)
	for k, sc := range []struct {
		name string
		path func(c, i int) string
	}{
		{"article page", func(c, i int) string { return fmt.Sprintf("/p/%s/a/art-%05d/", a, (c*500+i)%2000) }},
		{"full proof", func(c, i int) string { return fmt.Sprintf("/p/%s/index/%s/art-%05d", a, size, (c*500+i)%2000) }},
		{"bottom part, random node", func(c, i int) string {
			n := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(c<<32|i)))
			return fmt.Sprintf("/p/%s/index/n/%s/art-%05d", a, hex.EncodeToString(n[:]), (c*500+i)%2000)
		}},
	} {
		const clients, d = 4, 3 * time.Second
		var mu sync.Mutex
		codes := map[int]int{}
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		var wg sync.WaitGroup
		for c := range clients {
			hc := &http.Client{Transport: &http.Transport{DialContext: dialFrom(fmt.Sprintf("127.0.0.%d", 2+4*k+c)).DialContext}}
			wg.Go(func() {
				tick := time.NewTicker(time.Second / web.DefaultRate)
				defer tick.Stop()
				for i := 0; ctx.Err() == nil; i++ {
					if i >= web.DefaultBurst { // the burst at once, then at the rate
						select {
						case <-tick.C:
						case <-ctx.Done():
							return
						}
					}
					req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+sc.path(c, i), nil)
					resp, err := hc.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		cancel()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		served := 0
		for code, n := range codes {
			if code != http.StatusTooManyRequests {
				served += n
			}
		}
		t.Logf("%s: %d clients, %v: statuses %v; process CPU %v (%.2f cores), %v a served request (client side included)",
			sc.name, clients, d, codes, cpu.Round(time.Millisecond), cpu.Seconds()/d.Seconds(), (cpu / time.Duration(max(served, 1))).Round(time.Microsecond))
	}
}
