package reader_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/publish"
)

// BenchmarkReturningReader: a reader that holds a log of n articles
// fetches the one article published since, from a mirror on loopback:
// the state is loaded, checked and extended, and the article fetched and
// verified. Its cost must be O(new leaves), not O(n). B/op counts the
// mirror's allocations too (same process).
func BenchmarkReturningReader(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("articles=%d", n), func(b *testing.B) {
			w := newWorld(b)
			st := w.store(step0)
			w.grow(st, n, t2.Add(-time.Minute))
			url := serve(b, w.handler(st))
			primed := b.TempDir()
			if _, err := w.client(primed, url).List(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := w.publisher(st, t2).Publish([]publish.Item{item("new", "<p>New.</p>")}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				copyDir(b, primed, dir)
				syscall.Sync() // else the first fsync writes the copy out
				c := w.client(dir, url)
				b.StartTimer()
				r, err := c.Fetch(ctx, "new")
				b.StopTimer()
				if err != nil || r.Bundle == nil {
					b.Fatal(err)
				}
				c.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkNewReaderSync: a new reader lists a log of n articles (a full
// sync) from a mirror on loopback; bytes and requests are the mirror's.
func BenchmarkNewReaderSync(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("articles=%d", n), func(b *testing.B) {
			w := newWorld(b)
			st := w.store(step0)
			w.grow(st, n, t2)
			rq := &requests{}
			url := serve(b, rq.wrap(w.handler(st)))
			for b.Loop() {
				if _, err := w.client(b.TempDir(), url).List(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rq.bytes.Load())/float64(b.N), "bytes/op")
			b.ReportMetric(float64(len(rq.paths))/float64(b.N), "requests/op")
		})
	}
}
