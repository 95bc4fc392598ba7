package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

// Tile returns tile t of a publisher's log, as C2SP tlog-tiles serves it:
// a hash tile's W hashes, or an entry bundle's W leaves each with its
// two-byte length. It reads only what the tile holds (W stored hashes, or
// W leaves), in one transaction, so its cost does not grow with the log.
// A tile the log does not hold yet is ErrNotFound.
func (s *Store) Tile(pub string, t tlog.Tile) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		if !catalog.TileInTree(t, sizeOf(b)) {
			return fmt.Errorf("%w: tile %s of publisher %s", ErrNotFound, catalog.TilePath(t), pub)
		}
		if t.L >= 0 {
			var err error
			out, err = tlog.ReadTileData(t, hashReader(b.Bucket(bktHashes), 0, nil))
			return err
		}
		lb := b.Bucket(bktLeaves)
		out = make([]byte, 0, t.W*(2+catalog.MaxLeafSize/2))
		for i := t.N * catalog.TileWidth; i < t.N*catalog.TileWidth+int64(t.W); i++ {
			v := lb.Get(u64(uint64(i)))
			if v == nil {
				return fmt.Errorf("store: leaf %d of publisher %s is missing", i, pub)
			}
			out = catalog.AppendEntryBundle(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
