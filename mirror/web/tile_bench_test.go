package web_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// grow appends filler leaves (without bundles) to alpha's log until it
// holds n, under checkpoints signed by alpha's key.
func (f *fixture) grow(n int64) {
	f.t.Helper()
	for {
		p, err := f.st.Publisher(f.alpha.ID())
		if err != nil {
			f.t.Fatal(err)
		}
		if p.Size >= n {
			return
		}
		var leaves [][]byte
		for i := p.Size; i < min(p.Size+5000, n); i++ {
			id := fmt.Sprintf("filler-%07d", i)
			leaves = append(leaves, (&catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: 1, Digest: sha256.Sum256([]byte(id))}).Encode())
		}
		size, root, err := f.st.NextRoot(f.alpha.ID(), leaves)
		if err != nil {
			f.t.Fatal(err)
		}
		x, err := f.st.NextIndex(f.alpha.ID(), leaves)
		if err != nil {
			f.t.Fatal(err)
		}
		cp, err := (&catalog.Checkpoint{Origin: catalog.Origin(f.alpha.ID()), Size: size, Root: root, Index: x, Time: f.clock.now()}).Sign(f.alpha.Signer)
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.st.Apply(f.alpha.Root.Public(), &store.Update{Leaves: leaves, Checkpoint: cp}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// BenchmarkTileRoute serves the newest full hash tile, the newest full
// entry bundle and the partial right-edge hash tile of logs of growing
// size through the handler (no network): a tile request's cost must not
// grow with the log.
func BenchmarkTileRoute(b *testing.B) {
	for _, n := range []int64{1000, 10000, 100000} {
		f := newFixture(b, nil)
		f.grow(n)
		full := n/256 - 1
		for _, tc := range []struct{ name, path string }{
			{"hash", catalog.TilePath(tileAt(0, full, 256))},
			{"entries", catalog.TilePath(tileAt(-1, full, 256))},
			{"partial", catalog.TilePath(tileAt(0, n/256, int(n%256)))},
		} {
			path := "/p/" + f.alpha.ID() + "/" + tc.path
			b.Run(fmt.Sprintf("leaves=%d/%s", n, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
					if rec.Code != 200 {
						b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

func tileAt(l int, n int64, w int) tlog.Tile {
	return tlog.Tile{H: catalog.TileHeight, L: l, N: n, W: w}
}
