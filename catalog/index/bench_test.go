package index_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// benchSizes are the index sizes (ids) that BenchmarkBuild builds. Run it
// with -benchtime=1x; 1M ids need about a gigabyte of memory.
var benchSizes = []int{1_000, 10_000, 100_000, 1_000_000}

func benchID(i int) string { return fmt.Sprintf("article-%d", i) }

func benchLeaf(i int, rev uint64) *catalog.Leaf {
	return &catalog.Leaf{Kind: catalog.KindBundle, ID: benchID(i), Revision: rev, Digest: sha256.Sum256([]byte(benchID(i)))}
}

// benchLeaves reads the log that build applies: leaf i is article i's
// first revision.
func benchLeaves(n int64) ([]byte, error) { return benchLeaf(int(n), 1).Encode(), nil }

// build returns an index of n ids, one leaf each, applied in batches of
// 1000 leaves as a mirror would apply updates.
func build(tb testing.TB, n int) *index.Index {
	ctx := context.Background()
	x := index.New()
	batch := make([]*catalog.Leaf, 0, 1000)
	for i := range n {
		batch = append(batch, benchLeaf(i, 1))
		if len(batch) == cap(batch) || i == n-1 {
			if err := x.Apply(ctx, x.Size(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return x
}

var built = map[int]*index.Index{}

func cached(tb testing.TB, n int) *index.Index {
	if x, ok := built[n]; ok {
		return x
	}
	x := build(tb, n)
	built[n] = x
	return x
}

// BenchmarkBuild builds indexes of 1k to 1M ids and reports the time per
// leaf, the heap the index holds, and the proof sizes of present and
// absent ids (mean and largest of 2000 each).
func BenchmarkBuild(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			var x *index.Index
			var before, after runtime.MemStats
			for b.Loop() {
				x = nil
				runtime.GC()
				runtime.ReadMemStats(&before)
				x = build(b, n)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/leaf")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heapB/id")
			present, absent := proofSizes(b, x, n)
			b.ReportMetric(present[0], "proofB-present-mean")
			b.ReportMetric(present[1], "proofB-present-max")
			b.ReportMetric(absent[0], "proofB-absent-mean")
			b.ReportMetric(absent[1], "proofB-absent-max")
			if _, ok := built[n]; !ok {
				built[n] = x
			}
		})
	}
}

func proofSizes(tb testing.TB, x *index.Index, n int) (present, absent [2]float64) {
	ctx := context.Background()
	const k = 2000
	for i := range k {
		for j, id := range []string{benchID(i * n / k), fmt.Sprintf("missing-%d", i)} {
			p, err := x.Prove(ctx, id, benchLeaves)
			if err != nil {
				tb.Fatal(err)
			}
			s := float64(len(p.Encode()))
			r := &present
			if j == 1 {
				r = &absent
			}
			r[0] += s / k
			r[1] = max(r[1], s)
		}
	}
	return present, absent
}

// BenchmarkApply measures one leaf applied to an index of 100k ids: a new
// article, and a new revision of an existing one.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100_000} {
		for _, kind := range []string{"new", "revision"} {
			b.Run(fmt.Sprintf("ids=%d/%s", n, kind), func(b *testing.B) {
				x := build(b, n)
				i := 0
				for b.Loop() {
					var l *catalog.Leaf
					if kind == "new" {
						l = benchLeaf(n+i, 1)
					} else {
						l = benchLeaf(i%n, uint64(2+i/n))
					}
					if err := x.Apply(ctx, x.Size(), []*catalog.Leaf{l}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkProveVerify measures making and verifying a proof at 100k and
// 1M ids (100k only with -short), for present and absent ids.
func BenchmarkProveVerify(b *testing.B) {
	ctx := context.Background()
	sizes := []int{100_000, 1_000_000}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, n := range sizes {
		x := cached(b, n)
		root := x.Root()
		for _, present := range []bool{true, false} {
			id := func(i int) string {
				if present {
					return benchID(i % n)
				}
				return fmt.Sprintf("missing-%d", i)
			}
			b.Run(fmt.Sprintf("ids=%d/present=%v/prove", n, present), func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := x.Prove(ctx, id(i), benchLeaves); err != nil {
						b.Fatal(err)
					}
					i += 7919
				}
			})
			var proofs [][]byte
			for i := range 1000 {
				p, err := x.Prove(ctx, id(i*7919), benchLeaves)
				if err != nil {
					b.Fatal(err)
				}
				proofs = append(proofs, p.Encode())
			}
			b.Run(fmt.Sprintf("ids=%d/present=%v/verify", n, present), func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, ok, err := index.Verify(root, id((i%1000)*7919), proofs[i%1000]); err != nil || ok != present {
						b.Fatal(err, ok)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkLongestProof proves every id of an index of 1M ids (100k with
// -short) and reports the longest proof of them all; run it with
// -benchtime=1x.
func BenchmarkLongestProof(b *testing.B) {
	ctx := context.Background()
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	x := cached(b, n)
	longest, steps := 0, 0
	for b.Loop() {
		for i := range n {
			p, err := x.Prove(ctx, benchID(i), benchLeaves)
			if err != nil {
				b.Fatal(err)
			}
			if s := len(p.Encode()); s > longest {
				longest, steps = s, p.Len()
			}
		}
	}
	b.ReportMetric(float64(longest), "proofB-longest")
	b.ReportMetric(float64(steps), "steps-longest")
}
