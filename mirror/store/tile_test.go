package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// grow appends n bundle leaves (without their bundles) to f's log, in
// updates of at most 1000.
func (f *fixture) grow(n int) {
	f.t.Helper()
	const batch = 1000
	base := len(f.log.leaves)
	for from := 0; from < n; from += batch {
		var leaves [][]byte
		for i := from; i < min(from+batch, n); i++ {
			id := fmt.Sprintf("article-%07d", base+i)
			leaves = append(leaves, (&catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: 1, Digest: sha256.Sum256([]byte(id))}).Encode())
		}
		f.apply(f.next(leaves...))
	}
}

// TestTile: every tile of a log, hash tiles and entry bundles, full and
// partial, is the one tlog computes from the publisher's own copy, and a
// tile beyond the log is ErrNotFound.
func TestTile(t *testing.T) {
	f := newFixture(t)
	f.init()
	f.grow(256*3 + 17)
	size := int64(len(f.log.leaves))
	for _, tile := range tlog.NewTiles(catalog.TileHeight, 0, size) {
		want, err := tlog.ReadTileData(tile, f.log)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.st.Tile(f.id(), tile)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", catalog.TilePath(tile), len(got), err)
		}
		if tile.L != 0 {
			continue
		}
		data := tile
		data.L = -1
		got, err = f.st.Tile(f.id(), data)
		leaves, perr := catalog.ParseEntryBundle(got, data.W)
		if err != nil || perr != nil || !bytes.Equal(leaves[0], f.log.leaves[data.N*256]) || !bytes.Equal(leaves[len(leaves)-1], f.log.leaves[data.N*256+int64(data.W)-1]) {
			t.Errorf("%s: %v %v", catalog.TilePath(data), err, perr)
		}
	}
	for _, tile := range []tlog.Tile{{H: 8, L: 0, N: 3, W: int(size%256) + 1}, {H: 8, L: -1, N: 3, W: 256}, {H: 8, L: 1, N: 0, W: 4}, {H: 8, L: 0, N: 4, W: 1}} {
		if _, err := f.st.Tile(f.id(), tile); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s beyond a log of %d: %v", catalog.TilePath(tile), size, err)
		}
	}
	if _, err := f.st.Tile("00000000000000000000000000000000", tlog.Tile{H: 8, L: 0, N: 0, W: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown publisher: %v", err)
	}
}

// BenchmarkTile reads the newest full hash tile, the newest full entry
// bundle and the partial right-edge tile of logs of growing size: what a
// tile request costs the store must not grow with the log.
func BenchmarkTile(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		f := newFixture(b)
		f.init()
		f.grow(n - len(f.log.leaves))
		size := int64(len(f.log.leaves))
		full := tlog.Tile{H: 8, L: 0, N: size/256 - 1, W: 256}
		entries := tlog.Tile{H: 8, L: -1, N: size/256 - 1, W: 256}
		partial := tlog.Tile{H: 8, L: 0, N: size / 256, W: int(size % 256)}
		for _, tc := range []struct {
			name string
			tile tlog.Tile
		}{{"hash", full}, {"entries", entries}, {"partial", partial}} {
			b.Run(fmt.Sprintf("leaves=%d/%s", n, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.st.Tile(f.id(), tc.tile); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
