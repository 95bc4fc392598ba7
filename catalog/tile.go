package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

// The log is served as C2SP tlog-tiles (c2sp.org/tlog-tiles): hash tiles of
// height TileHeight at tile/L/N[.p/W], and entry bundles, the leaves
// themselves, at tile/entries/N[.p/W]. See FORMAT.md, "Tiles".
const (
	// TileHeight is the height of every tile: a full tile holds
	// TileWidth hashes (or, for an entry bundle, leaves).
	TileHeight = torchwood.TileHeight
	// TileWidth is the number of hashes or leaves in a full tile.
	TileWidth = torchwood.TileWidth
	// MaxTileLevel is the highest tile level: level L holds the tree's
	// hashes at height 8L, and a log of fewer than 2^63 leaves has no
	// hash at height 64.
	MaxTileLevel = 7
	// MaxTilePathLen bounds a tile path (after "tile/"): the longest a
	// canonical one can be for an index below 2^63 is well within it.
	MaxTilePathLen = 64
	// MaxEntryBundleSize bounds a full entry bundle: TileWidth leaves,
	// each with its two-byte length.
	MaxEntryBundleSize = TileWidth * (2 + MaxLeafSize)
)

// ErrTilePath is wrapped by ParseTilePath's errors.
var ErrTilePath = errors.New("catalog: malformed tile path")

// TilePath returns the C2SP tlog-tiles path of t, "tile/L/N[.p/W]" for a
// hash tile or "tile/entries/N[.p/W]" for an entry bundle (t.L == -1). N is
// written in groups of three digits, all but the last prefixed by "x"
// (1234067 is x001/x234/067). t must have height TileHeight.
func TilePath(t tlog.Tile) string { return torchwood.TilePath(t) }

// ParseTilePath parses a C2SP tlog-tiles path as TilePath writes it, and
// only in that form: height TileHeight, a level of at most MaxTileLevel,
// a partial width of 1 to TileWidth-1, no leading zeros or redundant
// groups. An entry bundle has L == -1.
func ParseTilePath(path string) (tlog.Tile, error) {
	bad := func() (tlog.Tile, error) { return tlog.Tile{}, fmt.Errorf("%w %.80q", ErrTilePath, path) }
	if len(path) > len("tile/")+MaxTilePathLen {
		return bad()
	}
	t, err := torchwood.ParseTilePath(path)
	if err != nil || t.H != TileHeight || t.L < -1 || t.L > MaxTileLevel || t.N < 0 || t.W < 1 || t.W > TileWidth {
		return bad()
	}
	// torchwood reads "tile/data/..." as an entry bundle, and tlog's
	// parser lets a long index wrap around: only the canonical form of
	// what was parsed is that path.
	if TilePath(t) != path || t.N > (1<<63-1)>>(TileHeight*(max(t.L, 0)+1)) {
		return bad()
	}
	return t, nil
}

// TileInTree reports whether the tree of the given size holds tile t:
// all of its W hashes (or leaves) exist in it.
func TileInTree(t tlog.Tile, size int64) bool {
	if t.H != TileHeight || t.W < 1 || t.W > TileWidth || t.N < 0 || t.L < -1 || t.L > MaxTileLevel || size < 0 {
		return false
	}
	level := max(t.L, 0) * TileHeight
	have := size >> uint(level) // hashes at that height
	return t.N <= (have-int64(t.W))/TileWidth && t.N*TileWidth+int64(t.W) <= have
}

// AppendEntryBundle appends leaves to an entry bundle: each as a two-byte
// big-endian length and its bytes (C2SP tlog-tiles).
func AppendEntryBundle(b []byte, leaves ...[]byte) []byte {
	for _, l := range leaves {
		b = binary.BigEndian.AppendUint16(b, uint16(len(l)))
		b = append(b, l...)
	}
	return b
}

// ParseEntryBundle splits an entry bundle of exactly n leaves, each 1 to
// MaxLeafSize bytes. The leaves share b's memory. It does not parse the
// leaves: the tree's hashes say whether they are the log's.
func ParseEntryBundle(b []byte, n int) ([][]byte, error) {
	if n < 0 || n > TileWidth {
		return nil, fmt.Errorf("catalog: entry bundle of %d leaves (1 to %d)", n, TileWidth)
	}
	out := make([][]byte, 0, n)
	off := 0
	for len(out) < n {
		if len(b)-off < 2 {
			return nil, fmt.Errorf("catalog: entry bundle holds %d leaves where %d were expected", len(out), n)
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		if l == 0 || l > MaxLeafSize {
			return nil, fmt.Errorf("catalog: entry bundle: leaf %d has %d bytes (1 to %d)", len(out), l, MaxLeafSize)
		}
		if len(b)-off-2 < l {
			return nil, fmt.Errorf("catalog: entry bundle: leaf %d is cut short", len(out))
		}
		out = append(out, b[off+2:off+2+l:off+2+l])
		off += 2 + l
	}
	if off != len(b) {
		return nil, fmt.Errorf("catalog: entry bundle: %d bytes after its %d leaves", len(b)-off, n)
	}
	return out, nil
}
