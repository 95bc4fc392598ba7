package web_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/reader"
)

// BenchmarkProxyReaderSync measures what a caching proxy (nginx
// proxy_cache, testdata/nginx-proxy.conf) saves a mirror when readers
// sync a log of N leaves through it and fetch one article: the requests
// a first reader makes (every one a miss), those of each later reader
// with an empty state (b.N of them), and those of a returning reader
// after the publisher added one article. BENCHMARKS.md, "Caching proxy",
// has the figures:
//
//	go test -run '^$' -bench ProxyReaderSync -benchtime 5x ./mirror/web/
func BenchmarkProxyReaderSync(b *testing.B) {
	for _, n := range []int64{1000, 10000} {
		b.Run(strconv.FormatInt(n, 10), func(b *testing.B) { benchProxySync(b, n) })
	}
}

func benchProxySync(b *testing.B, n int64) {
	nginxBinary(b) // skip (or fail) before building anything
	f := newFixture(b, nil)
	f.grow(n)
	mirror := &countingMirror{h: f.h, n: map[string]int{}}
	up := httptest.NewServer(mirror)
	b.Cleanup(up.Close)
	px := startProxy(b, up.Listener.Addr().String())
	ctx := context.Background()

	// sync runs one reader's fetch of an article (or a list, id "") and
	// returns the requests it made to the proxy, those of them that were
	// HITs and those that reached the mirror. It adds the body bytes the
	// proxy sent to sent.
	var sent int64
	sync := func(c *reader.Client, id string) (proxied, hits, reached int) {
		from := px.mark(b)
		at := mirror.count()
		var err error
		if id == "" {
			_, err = c.List(ctx)
		} else {
			_, err = c.Fetch(ctx, id)
		}
		if err != nil {
			b.Fatal(err)
		}
		reached = mirror.count() - at
		lines := px.logged(b, from, px.mark(b))
		for _, l := range lines {
			if l[0] == "HIT" {
				hits++
			}
			n, _ := strconv.ParseInt(l[3], 10, 64)
			sent += n
		}
		return len(lines), hits, reached
	}

	first := proxyReader(b, f, px.URL)
	p, h, r := sync(first, "plain")
	kinds := map[string]int{}
	for path, k := range mirror.snapshot() {
		kind := strings.TrimPrefix(path, "/p/"+f.alpha.ID()+"/")
		switch {
		case strings.HasPrefix(kind, "tile/entries/"):
			kind = "entry tiles"
		case strings.HasPrefix(kind, "tile/"):
			kind = "hash tiles"
		case strings.HasPrefix(kind, "/b/"):
			kind = "bundles"
		}
		kinds[kind] += k
	}
	delete(kinds, "/healthz")
	b.Logf("%d leaves, first reader: %d requests to the proxy (%d B), %d hits, %d reached the mirror %v", n, p, sent, h, r, kinds)
	b.ReportMetric(float64(r), "first-mirror-reqs")

	var proxied, hits, reached int
	var took time.Duration
	sent = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := proxyReader(b, f, px.URL)
		t0 := time.Now()
		p, h, r := sync(c, "plain")
		took += time.Since(t0)
		proxied, hits, reached = proxied+p, hits+h, reached+r
	}
	b.StopTimer()
	b.ReportMetric(float64(proxied)/float64(b.N), "proxy-reqs/op")
	b.ReportMetric(float64(reached)/float64(b.N), "mirror-reqs/op")
	b.ReportMetric(100*float64(hits)/float64(proxied), "hit-%")
	b.Logf("%d leaves, %d later readers: %.1f requests each (%d B), %.1f%% hits, %.2f reached the mirror, %v a sync", n, b.N, float64(proxied)/float64(b.N), sent/int64(b.N), 100*float64(hits)/float64(proxied), float64(reached)/float64(b.N), (took / time.Duration(b.N)).Round(time.Millisecond))

	// A returning reader, after one new article: the new checkpoint, the
	// new partial entry tile and the bundle reach the mirror (once the
	// proxy's copy of the checkpoint has expired).
	f.publish(item("fresh", "text/plain", "Fresh news.", "en", "Fresh"))
	deadline := time.Now().Add(checkpointMaxAge + 10*time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		at := mirror.snapshot()
		p, h, r := sync(first, "")
		if a, _ := first.Article("fresh"); a != nil {
			var paths []string
			for path, k := range mirror.snapshot() {
				if k != at[path] && path != "/healthz" { // the marks
					paths = append(paths, strings.TrimPrefix(path, "/p/"+f.alpha.ID()))
				}
			}
			b.Logf("%d leaves, returning reader after 1 new article: %d requests to the proxy, %d hits, %d reached the mirror %v", n, p, h, r, paths)
			b.ReportMetric(float64(r), "return-mirror-reqs")
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the new article not seen through the proxy")
		}
		<-tick.C
	}
}

// BenchmarkProxyFlashCrowd measures a flash crowd: flashReaders readers
// with empty states start syncing a log of 10,000 leaves through a
// caching proxy at once, while its cache is cold. proxy_cache_lock lets
// one request per URL through to the mirror and holds the others until
// it is cached, so the mirror answers about one reader's requests, not
// flashReaders times as many. BENCHMARKS.md, "Caching proxy":
//
//	go test -run '^$' -bench ProxyFlashCrowd -benchtime 1x ./mirror/web/
func BenchmarkProxyFlashCrowd(b *testing.B) {
	nginxBinary(b)
	for i := 0; i < b.N; i++ {
		f := newFixture(b, nil)
		f.grow(10000)
		mirror := &countingMirror{h: f.h, n: map[string]int{}}
		up := httptest.NewServer(mirror)
		px := startProxy(b, up.Listener.Addr().String())
		readers := make([]*reader.Client, flashReaders)
		for j := range readers {
			readers[j] = proxyReader(b, f, px.URL)
		}
		from := px.mark(b)
		at := mirror.count()
		errs := make(chan error, flashReaders)
		t0 := time.Now()
		for _, c := range readers {
			go func() {
				_, err := c.Fetch(context.Background(), "plain")
				errs <- err
			}()
		}
		for range readers {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(t0)
		reached := mirror.count() - at
		lines := px.logged(b, from, px.mark(b))
		statuses := map[string]int{}
		for _, l := range lines {
			statuses[l[0]]++
		}
		b.ReportMetric(float64(reached), "mirror-reqs")
		b.ReportMetric(float64(len(lines)), "proxy-reqs")
		b.Logf("%d readers at once, 10,000 leaves, cold cache: %d requests to the proxy %v, %d reached the mirror; all verified in %v", flashReaders, len(lines), statuses, reached, took.Round(time.Millisecond))
		up.Close()
	}
}

// flashReaders is how many readers BenchmarkProxyFlashCrowd starts at
// once: each opens up to reader.MaxParallel connections, and the test
// nginx has 256 (worker_connections, its upstream ones included).
const flashReaders = 32
