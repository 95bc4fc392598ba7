package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// Split index proofs (FORMAT.md, "Split proofs"): a top part per bucket and
// size, a bottom part per article and bucket root, the files a static
// export writes in place of a full proof per article and size.

// viewIndex runs fn on the publisher's index at size (-1: the current
// checkpoint's), the current one or one kept in its history, with the
// LeafFunc of the stored log.
func (s *Store) viewIndex(pub string, size int64, fn func(x *index.Index, leaf index.LeafFunc) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if pb == nil || pb.Get(keyCheckpoint) == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		cp, err := catalog.ParseUnverified(pb.Get(keyCheckpoint))
		if err != nil {
			return fmt.Errorf("store: publisher %s: stored checkpoint: %w", pub, err)
		}
		if cp.Index == (tlog.Hash{}) {
			return ErrNoIndex
		}
		var x *index.Index
		switch {
		case size == -1 || size == cp.Size:
			if x, err = openIndex(pb, pub, nil); err != nil {
				return err
			}
			if x.Size() != cp.Size || x.Root() != cp.Index {
				return fmt.Errorf("store: publisher %s: the article index (size %d) is not the checkpoint's (size %d)", pub, x.Size(), cp.Size)
			}
		default:
			if x, err = openIndexAsOf(pb, size); err != nil {
				return fmt.Errorf("%w: publisher %s: the index of size %d (the checkpoint's is %d): %v", ErrNotFound, pub, size, cp.Size, err)
			}
		}
		lb := pb.Bucket(bktLeaves)
		leaf := func(n int64) ([]byte, error) {
			var raw []byte
			if lb != nil && n >= 0 {
				raw = lb.Get(u64(uint64(n)))
			}
			if raw == nil {
				return nil, fmt.Errorf("store: publisher %s: leaf %d is missing (damaged store)", pub, n)
			}
			return bytes.Clone(raw), nil
		}
		return fn(x, leaf)
	})
}

// IndexTop returns the encoded top part (index.ParseTop) of the split
// proofs of bucket's article ids in the index of the publisher's log of
// size leaves: the current checkpoint's size or one kept in the index's
// history (IndexProofAt); for another size it returns an error wrapping
// ErrNotFound, and ErrNoIndex when the checkpoint carries no index. The
// bucket must be of the size's cut depth (index.ParseBucket).
func (s *Store) IndexTop(pub string, size int64, bucket index.Bucket) ([]byte, error) {
	var top []byte
	err := s.viewIndex(pub, size, func(x *index.Index, _ index.LeafFunc) error {
		t, err := x.Top(context.Background(), bucket)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		top = t.Encode()
		return nil
	})
	return top, err
}

// IndexTops returns the top parts of every bucket of the index that the
// publisher's checkpoint carries, in the order of index.Buckets, and that
// checkpoint's size.
func (s *Store) IndexTops(pub string) (size int64, tops []*index.Top, err error) {
	err = s.viewIndex(pub, -1, func(x *index.Index, _ index.LeafFunc) error {
		size = x.Size()
		for b := range index.Buckets(size) {
			t, err := x.Top(context.Background(), b)
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			tops = append(tops, t)
		}
		return nil
	})
	return size, tops, err
}

// IndexBottom returns the encoded bottom part (index.ParseBottom) of the
// proof of article id below the bucket root of hash node, in the index of
// the publisher's checkpoint or, failing that, of a size in its history,
// newest first. It returns an error wrapping ErrNotFound when none of them
// has that bucket root on id's path (a bottom part is named by its bucket
// root, not by a size, so that a static export writes it once).
//
// It proves id once per distinct root of id's bucket among those sizes,
// not once per size: the root changes only where an Apply changed a value
// record of the bucket, which the index history's saved records show
// (index.Bucket.ValueRecords), or where the cut depth changes. A request
// for a node the mirror does not hold, which anyone can make, so costs one
// proof and one bbolt seek per size of the history, where it cost up to
// IndexHistorySizes+1 proofs against the history, each of which reads the
// saved records of every later Apply (red team, fourth session: 380 times
// the CPU of a full proof at 100,000 articles; BENCHMARKS.md).
func (s *Store) IndexBottom(pub string, node tlog.Hash, id string) ([]byte, error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sizes, err := s.bottomSizes(pub, id)
	if err != nil {
		return nil, err
	}
	for _, size := range sizes {
		var bottom []byte
		err := s.viewIndex(pub, size, func(x *index.Index, leaf index.LeafFunc) error {
			p, err := x.Prove(context.Background(), id, leaf)
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			_, b, err := p.Split(size, id)
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if b != nil && b.Node() == node {
				bottom = b.Encode()
			}
			return nil
		})
		if err != nil && size != sizes[0] {
			continue // forgotten since bottomSizes read it
		}
		if err != nil || bottom != nil {
			return bottom, err
		}
	}
	return nil, fmt.Errorf("%w: publisher %s: no bucket root %x on the path of %q in the index of the checkpoint or its recent history", ErrNotFound, pub, node[:8], id)
}

// bottomSizes returns the sizes at which IndexBottom proves id: the
// checkpoint's, then each size of the history, newest first, at which the
// root of id's bucket may differ from its root at the size that follows.
// It is the same when both sizes are cut at one depth and the Apply from
// one to the other, whose saved records are keyed by the size it ended
// at, changed no value record of the bucket.
func (s *Store) bottomSizes(pub, id string) ([]int64, error) {
	sizes, err := s.indexSizes(pub)
	if err != nil {
		return nil, err
	}
	try := sizes[:1]
	err = s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if pb == nil {
			return nil
		}
		ub := pb.Bucket(bktIndexUndo)
		for i, size := range sizes[1:] {
			next := sizes[i]
			if ub == nil || index.CutDepth(size) != index.CutDepth(next) || size >= next {
				try = append(try, size)
				continue
			}
			from, to := index.BucketOf(size, id).ValueRecords()
			after := u64(uint64(next))
			end := append(after[:8:8], to...)
			if to == nil {
				end = append(after[:8:8], from[0]+1)
			}
			if k, _ := ub.Cursor().Seek(append(after[:8:8], from...)); k != nil && bytes.Compare(k, end) < 0 {
				try = append(try, size)
			}
		}
		return nil
	})
	return try, err
}

// indexSizes returns the size of the publisher's checkpoint, then the
// sizes of the index's history, newest first.
func (s *Store) indexSizes(pub string) ([]int64, error) {
	var sizes []int64
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if pb == nil || pb.Get(keyCheckpoint) == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		cp, err := catalog.ParseUnverified(pb.Get(keyCheckpoint))
		if err != nil {
			return fmt.Errorf("store: publisher %s: stored checkpoint: %w", pub, err)
		}
		if cp.Index == (tlog.Hash{}) {
			return ErrNoIndex
		}
		sizes = append(sizes, cp.Size)
		if sb := pb.Bucket(bktIndexSizes); sb != nil {
			c := sb.Cursor()
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				if n := int64(binary.BigEndian.Uint64(k)); len(k) == 8 && n != cp.Size {
					sizes = append(sizes, n)
				}
			}
		}
		return nil
	})
	return sizes, err
}
