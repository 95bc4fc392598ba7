package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// BenchmarkOpen opens (for writing) and closes stores of a growing number
// of articles, one bundle each: Open's time must not grow with the store
// (bench/store does the same at 100,000 articles, with the CLI).
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("articles=%d", n), func(b *testing.B) {
			f := newFixture(b)
			f.init()
			const batch = 1000
			for from := 0; from < n; from += batch {
				var leaves, bundles [][]byte
				for i := from; i < min(from+batch, n); i++ {
					raw, l := f.bundle(fmt.Sprintf("article-%06d", i), 1, fmt.Sprintf("<p>article %d</p>", i))
					leaves, bundles = append(leaves, l), append(bundles, raw)
				}
				u := f.next(leaves...)
				u.Bundles = bundles
				f.apply(u)
			}
			if err := f.st.Close(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				st, err := store.Open(f.dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var err error
			if f.st, err = store.Open(f.dir, nil); err != nil { // for the fixture's cleanup
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkApplyIndexed appends 100 article leaves at a time, under a
// checkpoint that carries the article index root, to logs of a growing
// size: the store updates the index and audits the root in the same
// Apply. Cost per leaf must grow with log n at most, not with n.
// Reported: µs/leaf, and the index's bytes per article in store.db.
func BenchmarkApplyIndexed(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("articles=%d", n), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "store"), &store.Options{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			pub := testkeys.New(b, "pub")
			x := index.New()
			size := int64(0)
			appendLeaves := func(k int) {
				leaves := make([][]byte, k)
				parsed := make([]*catalog.Leaf, k)
				for i := range leaves {
					id := fmt.Sprintf("filler-%08d", size+int64(i))
					parsed[i] = &catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: 1, Digest: sha256.Sum256([]byte(id))}
					leaves[i] = parsed[i].Encode()
				}
				if err := x.Apply(context.Background(), size, parsed); err != nil {
					b.Fatal(err)
				}
				sz, root, err := st.NextRoot(pub.ID(), leaves)
				if err != nil {
					b.Fatal(err)
				}
				cp, err := (&catalog.Checkpoint{Origin: catalog.Origin(pub.ID()), Size: sz, Root: root, Index: x.Root(), Time: start}).Sign(pub.Signer)
				if err != nil {
					b.Fatal(err)
				}
				u := &store.Update{Leaves: leaves, Checkpoint: cp}
				if size == 0 {
					u.Statement = pub.Statement
				}
				if _, err := st.Apply(pub.Root.Public(), u); err != nil {
					b.Fatal(err)
				}
				size = sz
			}
			for size < int64(n) {
				appendLeaves(min(5000, n-int(size)))
			}
			b.ResetTimer()
			for b.Loop() {
				appendLeaves(100)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(100*b.N), "µs/leaf")
			b.StopTimer()
			b.ReportMetric(float64(store.IndexBytes(st, pub.ID()))/float64(size), "index-B/article")
		})
	}
}
