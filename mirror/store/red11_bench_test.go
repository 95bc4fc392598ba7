package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Red team, issues 10 and 11: what a publisher key (or a peer relaying
// its signed log) can make the store's article index cost. Figures in
// BENCHMARKS.md, "Red team, issue 10 and 11".

// indexedLog appends leaves of distinct ids to a store under checkpoints
// that carry the article index, as a publisher key (stolen or not) may.
type indexedLog struct {
	tb   testing.TB
	dir  string
	st   *store.Store
	pub  *testkeys.Publisher
	x    *index.Index
	size int64
	at   time.Time
}

func newIndexedLog(tb testing.TB) *indexedLog {
	dir := filepath.Join(tb.TempDir(), "store")
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	l := &indexedLog{tb: tb, dir: dir, st: st, pub: testkeys.New(tb, "pub"), x: index.New(), at: start}
	tb.Cleanup(func() { l.st.Close() })
	return l
}

// add appends k leaves, ids made by name, in one Apply.
func (l *indexedLog) add(k int, name func(n int64) string) {
	leaves := make([][]byte, k)
	parsed := make([]*catalog.Leaf, k)
	for i := range leaves {
		id := name(l.size + int64(i))
		parsed[i] = &catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: 1, Digest: sha256.Sum256([]byte(id))}
		leaves[i] = parsed[i].Encode()
	}
	if err := l.x.Apply(context.Background(), l.size, parsed); err != nil {
		l.tb.Fatal(err)
	}
	sz, root, err := l.st.NextRoot(l.pub.ID(), leaves)
	if err != nil {
		l.tb.Fatal(err)
	}
	l.at = l.at.Add(time.Second)
	cp, err := (&catalog.Checkpoint{Origin: catalog.Origin(l.pub.ID()), Size: sz, Root: root, Index: l.x.Root(), Time: l.at}).Sign(l.pub.Signer)
	if err != nil {
		l.tb.Fatal(err)
	}
	u := &store.Update{Leaves: leaves, Checkpoint: cp}
	if l.size == 0 {
		u.Statement = l.pub.Statement
	}
	if _, err := l.st.Apply(l.pub.Root.Public(), u); err != nil {
		l.tb.Fatal(err)
	}
	l.size = sz
}

// shortID names leaf n with an 8-character id.
func shortID(n int64) string { return fmt.Sprintf("id-%08d", n) }

// longID names leaf n with an id of bundle.MaxIDLen bytes.
func longID(n int64) string {
	s := fmt.Sprintf("-%08d", n)
	return strings.Repeat("x", bundle.MaxIDLen-len(s)) + s
}

// peakHeap samples the heap in use while f runs, and returns its peak
// above what was in use before.
func peakHeap(f func()) (peak uint64, d time.Duration) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var max atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max.Load() {
				max.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	t0 := time.Now()
	f()
	d = time.Since(t0)
	close(done)
	wg.Wait()
	if m := max.Load(); m > base {
		peak = m - base
	}
	return peak, d
}

// BenchmarkRedIndexBigApply: one Apply of k leaves of distinct ids (as a
// sync of up to replica.Config.MaxLeaves = 1<<20 leaves from a peer is
// one Apply) onto a log of one leaf: its time and its heap's peak, with
// the article index kept in memory until the transaction commits, and the
// undo records it leaves in the index history.
func BenchmarkRedIndexBigApply(b *testing.B) {
	for _, k := range []int{1 << 14, 1 << 16, 1 << 18} {
		for _, ids := range []struct {
			name string
			f    func(int64) string
		}{{"short", shortID}, {"128B", longID}} {
			b.Run(fmt.Sprintf("leaves=%d/ids=%s", k, ids.name), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					l := newIndexedLog(b)
					l.add(1, ids.f)
					b.StartTimer()
					peak, d := peakHeap(func() { l.add(k, ids.f) })
					b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(float64(d.Microseconds())/float64(k), "µs/leaf")
					b.ReportMetric(float64(store.IndexUndoRecords(l.st, l.pub.ID())), "undo-records")
				}
			})
		}
	}
}

// BenchmarkRedIndexProofAt: a proof at the current size, and at the
// oldest of the store.IndexHistorySizes sizes kept (each Apply of 100
// leaves), which reads each record through the saved values of every
// later Apply: the cost of one request a client chooses.
func BenchmarkRedIndexProofAt(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		l := newIndexedLog(b)
		for l.size < int64(n) {
			l.add(min(5000, n-int(l.size)), shortID)
		}
		first := l.size
		for range store.IndexHistorySizes {
			l.add(100, shortID)
		}
		for _, c := range []struct {
			name string
			size int64
		}{{"current", l.size}, {"oldest-kept", first}, {"not-kept", first - 1}} {
			b.Run(fmt.Sprintf("articles=%d/size=%s", n, c.name), func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					_, err := l.st.IndexProofAt(l.pub.ID(), shortID(int64(i%n)), c.size)
					if c.name == "not-kept" {
						if err == nil {
							b.Fatal("a size not kept was proven")
						}
						continue
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRedBuildIndex: the first Open of a store made before the
// article index builds it from the stored leaves: its time and heap's
// peak at growing log sizes.
func BenchmarkRedBuildIndex(b *testing.B) {
	for _, n := range []int{16384, 65536} {
		b.Run(fmt.Sprintf("articles=%d", n), func(b *testing.B) {
			l := newIndexedLog(b)
			for l.size < int64(n) {
				l.add(min(4096, n-int(l.size)), shortID)
			}
			for b.Loop() {
				var d time.Duration
				peak, _ := peakHeap(func() { d = l.reopenWith(dropIndex) })
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(d.Microseconds())/float64(n), "µs/leaf")
			}
		})
	}
}
