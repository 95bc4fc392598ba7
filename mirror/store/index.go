package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// bktIndex is the bucket, inside a publisher's, that holds the article
// index of its log (package catalog/index; FORMAT.md "Article index"). It
// is always the index of the stored leaves: Apply changes both in one
// transaction, and Open builds it for a log stored before it existed.
var bktIndex = []byte("index")

// The article index's recent history, so that a mirror can still prove
// articles against the checkpoints it served just before its current one:
// caches in front of it (a proxy, a CDN) keep a checkpoint for its
// max-age, and a reader that got one from them asks for proofs of its
// size. bktIndexUndo holds, for each Apply that changed the index, the
// value each changed record had before: key u64 size after the Apply ||
// record key, value 0x00 (no record) or 0x01 || the value.
// bktIndexSizes lists the sizes that can be proven again: key u64 size,
// value u64 Unix time, by the store's clock, at which a newer checkpoint
// superseded it.
var (
	bktIndexUndo  = []byte("index-undo")
	bktIndexSizes = []byte("index-sizes")
)

// Bounds of the index history: sizes superseded less than
// IndexHistoryAge ago, at most IndexHistorySizes of them, stay provable.
// The age is well above the checkpoint's max-age (5 s) plus what a CDN
// or a static export's host may add; the count bounds the history of a
// publisher that pushes many small updates in a burst.
const (
	IndexHistoryAge   = 10 * time.Minute
	IndexHistorySizes = 64
)

// ErrNoIndex is returned by IndexProof when the store's checkpoint of the
// publisher carries no article index (one signed before it existed).
var ErrNoIndex = errors.New("store: the publisher's checkpoint carries no article index")

// ErrFalseIndex is wrapped, beside a *catalog.ForkError, by Apply's error
// for a checkpoint whose article index root is not that of the log it
// signs: the log is the publisher's, the index line a lie.
var ErrFalseIndex = errors.New("the checkpoint's article index is not the log's")

// indexBucket is an index.Store over a publisher's index bucket. Reads see
// the bucket (nil: nothing stored yet) through the writes made so far.
// Writes are kept in writes, to be put in key order (sortedKeys) later, or
// refused when writes is nil: put one by one in the tree's order, as it
// inserts, they would cost O(n²) in one transaction (see buildIndexes).
type indexBucket struct {
	b      *bolt.Bucket
	writes map[string][]byte
}

func (s *indexBucket) Get(_ context.Context, k []byte) ([]byte, bool, error) {
	if v, ok := s.writes[string(k)]; ok {
		return v, true, nil
	}
	if s.b == nil {
		return nil, false, nil
	}
	v := s.b.Get(k)
	if v == nil {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil // bbolt's slice lives only as long as the transaction
}

func (s *indexBucket) Put(_ context.Context, k, v []byte) error {
	if s.writes == nil {
		return errors.New("store: the article index is not stored")
	}
	s.writes[string(k)] = bytes.Clone(v)
	return nil
}

// indexAsOf is a read-only index.Store that shows the index bucket as it
// was at an older size: a record's value is the one saved by the first
// Apply after that size that changed it, or, if none did, the current one.
type indexAsOf struct {
	cur, undo *bolt.Bucket
	after     [][]byte // u64 sizes of the Applies after the size, ascending
}

func (s *indexAsOf) Get(_ context.Context, k []byte) ([]byte, bool, error) {
	for _, a := range s.after {
		if v := s.undo.Get(append(a[:8:8], k...)); v != nil {
			if v[0] == 0 {
				return nil, false, nil
			}
			return bytes.Clone(v[1:]), true, nil
		}
	}
	if v := s.cur.Get(k); v != nil {
		return bytes.Clone(v), true, nil
	}
	return nil, false, nil
}

func (s *indexAsOf) Put(context.Context, []byte, []byte) error {
	return errors.New("store: an older index is read-only")
}

// openIndex opens the index in a publisher's bucket pb (nil for a new
// publisher), keeping its writes aside, and checks that it is the index of
// the stored log.
func openIndex(pb *bolt.Bucket, id string, writes map[string][]byte) (*index.Index, error) {
	var ib *bolt.Bucket
	size := int64(0)
	if pb != nil {
		ib, size = pb.Bucket(bktIndex), sizeOf(pb)
	}
	x, err := index.Open(context.Background(), &indexBucket{b: ib, writes: writes})
	if err != nil {
		return nil, fmt.Errorf("store: publisher %s: %w", id, err)
	}
	if x.Size() != size {
		return nil, fmt.Errorf("store: publisher %s: the article index holds %d leaves, the log %d (damaged store)", id, x.Size(), size)
	}
	return x, nil
}

// indexLeaves applies the update's leaves to the publisher's article index,
// keeping the records that change for commit, and checks the new
// checkpoint's index root, if it carries one, against the result. A root
// that differs means the publisher's key signed a false index: it is
// refused as a fork, the evidence kept in the *catalog.ForkError.
func (p *plan) indexLeaves(pb *bolt.Bucket) error {
	if p.newCP == nil {
		return nil // no leaves either
	}
	p.index = map[string][]byte{}
	x, err := openIndex(pb, p.id, p.index)
	if err != nil {
		return err
	}
	if len(p.leaves) > 0 {
		if err := x.Apply(context.Background(), p.oldSize, p.leaves); err != nil {
			return fmt.Errorf("store: publisher %s: %w", p.id, err)
		}
	}
	if p.newCP.Index != (tlog.Hash{}) && p.newCP.Index != x.Root() {
		fe := p.fork(fmt.Sprintf("the checkpoint of size %d signs article index root %s, but the log's leaves give %s", p.newCP.Size, p.newCP.Index, x.Root()))
		return fmt.Errorf("%w (%w)", fe, ErrFalseIndex)
	}
	return nil
}

// NextIndex returns the root of the article index that the publisher's
// log would have with leaves appended: what a checkpoint of that log
// carries. It stores nothing.
func (s *Store) NextIndex(pub string, leaves [][]byte) (tlog.Hash, error) {
	ls := make([]*catalog.Leaf, len(leaves))
	for i, raw := range leaves {
		var err error
		if ls[i], err = catalog.ParseLeaf(raw); err != nil {
			return tlog.Hash{}, fmt.Errorf("store: leaf %d: %w", i, err)
		}
	}
	var root tlog.Hash
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bktPubs).Bucket([]byte(pub))
		x, err := openIndex(pb, pub, map[string][]byte{})
		if err != nil {
			return err
		}
		if err := x.Apply(context.Background(), x.Size(), ls); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		root = x.Root()
		return nil
	})
	return root, err
}

// IndexProof returns the encoded proof (index.ParseProof) of the article
// id's newest leaf, which it carries, or of the id's absence, in the
// article index that the store's checkpoint of the publisher carries, and
// that checkpoint's size.
// It returns ErrNotFound for a publisher not stored and ErrNoIndex when the
// checkpoint carries no index.
func (s *Store) IndexProof(pub, id string) (size int64, proof []byte, err error) {
	proof, size, err = s.indexProof(pub, id, -1)
	return size, proof, err
}

// IndexProofAt is IndexProof against the index of the log's first size
// leaves: the current checkpoint's size, or one superseded lately (see
// IndexHistoryAge); for another size it returns an error wrapping
// ErrNotFound.
func (s *Store) IndexProofAt(pub, id string, size int64) ([]byte, error) {
	proof, _, err := s.indexProof(pub, id, size)
	return proof, err
}

// indexProof proves id at size, or at the current checkpoint's size when
// size is -1.
func (s *Store) indexProof(pub, id string, size int64) (proof []byte, at int64, err error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, 0, fmt.Errorf("store: %w", err)
	}
	err = s.viewIndex(pub, size, func(x *index.Index, leaf index.LeafFunc) error {
		pr, err := x.Prove(context.Background(), id, leaf)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		proof, at = pr.Encode(), x.Size()
		return nil
	})
	return proof, at, err
}

// openIndexAsOf opens the publisher's index as it was at size, if size is
// in its history.
func openIndexAsOf(pb *bolt.Bucket, size int64) (*index.Index, error) {
	sb, ub, cur := pb.Bucket(bktIndexSizes), pb.Bucket(bktIndexUndo), pb.Bucket(bktIndex)
	if sb == nil || ub == nil || cur == nil || size < 0 || sb.Get(u64(uint64(size))) == nil {
		return nil, errors.New("not kept")
	}
	v := &indexAsOf{cur: cur, undo: ub}
	c := sb.Cursor()
	for k, _ := c.Seek(u64(uint64(size) + 1)); k != nil; k, _ = c.Next() {
		v.after = append(v.after, bytes.Clone(k))
	}
	v.after = append(v.after, u64(uint64(sizeOf(pb)))) // the current size: the last Apply's
	x, err := index.Open(context.Background(), v)
	if err != nil {
		return nil, err
	}
	if x.Size() != size {
		return nil, fmt.Errorf("history gives size %d", x.Size())
	}
	return x, nil
}

// keepIndexHistory saves, in the transaction that writes an Apply's index
// records (writes, whose keys are keys, in ascending order), the values
// they replace, so that the index of oldSize stays provable; and forgets
// the sizes superseded more than IndexHistoryAge before now, or beyond
// IndexHistorySizes, with their saved values.
func keepIndexHistory(pb, xb *bolt.Bucket, writes map[string][]byte, keys []string, oldSize, newSize int64, now time.Time) error {
	sb, err1 := pb.CreateBucketIfNotExists(bktIndexSizes)
	ub, err2 := pb.CreateBucketIfNotExists(bktIndexUndo)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if oldSize > 0 {
		after := u64(uint64(newSize))
		for _, k := range keys {
			prev := []byte{0}
			if v := xb.Get([]byte(k)); v != nil {
				prev = append([]byte{1}, v...)
			}
			if err := ub.Put(append(after[:8:8], k...), prev); err != nil {
				return err
			}
		}
		if err := sb.Put(u64(uint64(oldSize)), u64(uint64(now.Unix()))); err != nil {
			return err
		}
	}
	// The oldest sizes go first: by age, then by count.
	var keep int64 = -1 // the oldest size kept; -1: none
	n := 0              // Stats would miss the Put above, not yet on a page
	c := sb.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	for k, v := c.First(); k != nil; k, v = c.First() {
		at := time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
		if n <= IndexHistorySizes && now.Sub(at) < IndexHistoryAge {
			keep = int64(binary.BigEndian.Uint64(k))
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	// Saved values of Applies that ended at or before the oldest size kept
	// are no longer needed.
	uc := ub.Cursor()
	for k, _ := uc.First(); k != nil && (keep < 0 || int64(binary.BigEndian.Uint64(k[:8])) <= keep); k, _ = uc.First() {
		if err := uc.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// indexBatch is how many leaves buildIndexes applies in one transaction.
const indexBatch = 4096

// buildIndexes builds the article index of every publisher whose log was
// stored before the store kept one, from its stored leaves, once: the
// first Open of a store made by an earlier version. It costs O(n log n)
// for a log of n leaves. Each transaction applies indexBatch leaves and
// puts their records in key order: in one transaction for the whole log,
// in the tree's order, bbolt (which splits pages only at commit) moved
// the keys after each put, O(n²): 43 s for 65,536 leaves (red team,
// issue 10). An index left behind its log by an interrupted build is
// completed from where it stopped.
func (s *Store) buildIndexes() error {
	ctx := context.Background()
	var todo []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktPubs).ForEach(func(k, v []byte) error {
			pb := tx.Bucket(bktPubs).Bucket(k)
			if v != nil || pb == nil {
				return nil
			}
			ib := pb.Bucket(bktIndex)
			if ib == nil {
				todo = append(todo, string(k))
				return nil
			}
			// A damaged index is not this function's to judge: the
			// publisher's next Apply or proof reports it.
			x, err := index.Open(ctx, &indexBucket{b: ib, writes: map[string][]byte{}})
			if err == nil && x.Size() < sizeOf(pb) {
				todo = append(todo, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range todo {
		for done := false; !done; {
			err := s.db.Update(func(tx *bolt.Tx) error {
				pb := tx.Bucket(bktPubs).Bucket([]byte(id))
				ib, err := pb.CreateBucketIfNotExists(bktIndex)
				if err != nil {
					return err
				}
				writes := map[string][]byte{}
				x, err := index.Open(ctx, &indexBucket{b: ib, writes: writes})
				if err != nil {
					return err
				}
				lb, from, size := pb.Bucket(bktLeaves), x.Size(), sizeOf(pb)
				if from > size {
					return fmt.Errorf("the index holds %d leaves, the log %d", from, size)
				}
				n := min(indexBatch, size-from)
				ls := make([]*catalog.Leaf, n)
				for i := range n {
					if lb == nil {
						return fmt.Errorf("leaf %d is missing", from+i)
					}
					raw := lb.Get(u64(uint64(from + i)))
					if raw == nil {
						return fmt.Errorf("leaf %d is missing", from+i)
					}
					if ls[i], err = catalog.ParseLeaf(raw); err != nil {
						return fmt.Errorf("leaf %d: %w", from+i, err)
					}
				}
				if n > 0 {
					if err := x.Apply(ctx, from, ls); err != nil {
						return err
					}
				}
				for _, k := range sortedKeys(writes) {
					if err := ib.Put([]byte(k), writes[k]); err != nil {
						return err
					}
				}
				done = from+n >= size
				return nil
			})
			if err != nil {
				return fmt.Errorf("store: building the article index of publisher %s: %w", id, err)
			}
		}
		s.log.Info("store: built the article index of a log stored before it existed", "publisher", id)
	}
	return nil
}
