package catalog_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

func TestTilePath(t *testing.T) {
	cases := []struct {
		path string
		tile tlog.Tile
		ok   bool
	}{
		{"tile/0/000", tlog.Tile{H: 8, L: 0, N: 0, W: 256}, true},
		{"tile/0/x001/x234/067", tlog.Tile{H: 8, L: 0, N: 1234067, W: 256}, true},
		{"tile/1/000.p/5", tlog.Tile{H: 8, L: 1, N: 0, W: 5}, true},
		{"tile/entries/001.p/255", tlog.Tile{H: 8, L: -1, N: 1, W: 255}, true},
		{"tile/entries/x001/000", tlog.Tile{H: 8, L: -1, N: 1000, W: 256}, true},
		{"tile/7/000", tlog.Tile{H: 8, L: 7, N: 0, W: 256}, true},
		{"tile/8/000", tlog.Tile{}, false},       // no such level
		{"tile/data/000", tlog.Tile{}, false},    // sumdb's name for entries
		{"tile/8/0/000", tlog.Tile{}, false},     // sumdb's form, with the height
		{"tile/0/1", tlog.Tile{}, false},         // three digits
		{"tile/0/x000/001", tlog.Tile{}, false},  // redundant group
		{"tile/0/000.p/256", tlog.Tile{}, false}, // a full tile has no .p
		{"tile/0/000.p/0", tlog.Tile{}, false},   // empty
		{"tile/0/000.p/05", tlog.Tile{}, false},  // leading zero
		{"tile/00/000", tlog.Tile{}, false},      // leading zero
		{"tile/-1/000", tlog.Tile{}, false},      // negative level
		{"tile/0/000/", tlog.Tile{}, false},      // trailing slash
		{"tile/entries/000.p/x1", tlog.Tile{}, false},
		{"tile/0/" + strings.Repeat("x999/", 7) + "999", tlog.Tile{}, false}, // beyond 2^63
		{"checkpoint", tlog.Tile{}, false},
	}
	for _, tc := range cases {
		got, err := catalog.ParseTilePath(tc.path)
		if tc.ok != (err == nil) || tc.ok && got != tc.tile {
			t.Errorf("ParseTilePath(%q) = %+v, %v", tc.path, got, err)
		}
		if !tc.ok && !errors.Is(err, catalog.ErrTilePath) {
			t.Errorf("ParseTilePath(%q): error %v is not ErrTilePath", tc.path, err)
		}
		if tc.ok && catalog.TilePath(tc.tile) != tc.path {
			t.Errorf("TilePath(%+v) = %q, want %q", tc.tile, catalog.TilePath(tc.tile), tc.path)
		}
	}
}

func TestTileInTree(t *testing.T) {
	cases := []struct {
		tile tlog.Tile
		size int64
		want bool
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, 256, true},
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, 255, false},
		{tlog.Tile{H: 8, L: 0, N: 0, W: 255}, 255, true},
		{tlog.Tile{H: 8, L: -1, N: 1, W: 3}, 259, true},
		{tlog.Tile{H: 8, L: -1, N: 1, W: 4}, 259, false},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 1}, 255, false},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 1}, 256, true},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 2}, 767, true},
		{tlog.Tile{H: 8, L: 0, N: 1 << 60, W: 256}, 1 << 62, false},
		{tlog.Tile{H: 8, L: 0, N: 0, W: 1}, 0, false},
	}
	for _, tc := range cases {
		if got := catalog.TileInTree(tc.tile, tc.size); got != tc.want {
			t.Errorf("TileInTree(%+v, %d) = %v", tc.tile, tc.size, got)
		}
	}
}

func TestEntryBundle(t *testing.T) {
	leaves := [][]byte{{1, 2, 3}, bytes.Repeat([]byte{7}, catalog.MaxLeafSize)}
	b := catalog.AppendEntryBundle(nil, leaves...)
	got, err := catalog.ParseEntryBundle(b, 2)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], leaves[0]) || !bytes.Equal(got[1], leaves[1]) {
		t.Fatalf("ParseEntryBundle: %x, %v", got, err)
	}
	for _, bad := range []struct {
		b []byte
		n int
	}{
		{b, 1}, {b, 3}, {b[:len(b)-1], 2}, {append(b, 0), 2}, {[]byte{0, 0}, 1},
		{catalog.AppendEntryBundle(nil, make([]byte, catalog.MaxLeafSize+1)), 1}, {nil, 257},
	} {
		if _, err := catalog.ParseEntryBundle(bad.b, bad.n); err == nil {
			t.Errorf("ParseEntryBundle(%x, %d) accepted", bad.b, bad.n)
		}
	}
}

func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/x234/067", "tile/1/000.p/5", "tile/entries/001.p/255", "tile/data/000", "tile/0/000.p/256"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := catalog.ParseTilePath(p)
		if err != nil {
			return
		}
		if catalog.TilePath(tile) != p {
			t.Fatalf("ParseTilePath(%q) = %+v, which is %q", p, tile, catalog.TilePath(tile))
		}
		if tile.H != catalog.TileHeight || tile.W < 1 || tile.W > catalog.TileWidth || tile.N < 0 || tile.L < -1 || tile.L > catalog.MaxTileLevel {
			t.Fatalf("ParseTilePath(%q) = %+v", p, tile)
		}
		catalog.TileInTree(tile, 1<<62)
	})
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Add(catalog.AppendEntryBundle(nil, []byte{1, 2, 3}, []byte{4}), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		leaves, err := catalog.ParseEntryBundle(b, n)
		if err != nil {
			return
		}
		if !bytes.Equal(catalog.AppendEntryBundle(nil, leaves...), b) {
			t.Fatalf("ParseEntryBundle(%x, %d) does not re-encode", b, n)
		}
	})
}
