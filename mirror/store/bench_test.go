package store_test

import (
	"fmt"
	"testing"

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
