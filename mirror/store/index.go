package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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

// ErrNoIndex is returned by IndexProof when the store's checkpoint of the
// publisher carries no article index (one signed before it existed).
var ErrNoIndex = errors.New("store: the publisher's checkpoint carries no article index")

// indexBucket is an index.Store over a publisher's index bucket. Reads see
// the bucket (nil: nothing stored yet) through the writes made so far.
// With direct set, writes go to the bucket, which must be writable;
// otherwise they are kept in writes, for a later transaction, or refused
// when writes is nil.
type indexBucket struct {
	b      *bolt.Bucket
	direct bool
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
	switch {
	case s.direct:
		return s.b.Put(bytes.Clone(k), bytes.Clone(v))
	case s.writes == nil:
		return errors.New("store: the article index is not stored")
	}
	s.writes[string(k)] = bytes.Clone(v)
	return nil
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
		return p.fork(fmt.Sprintf("the checkpoint of size %d signs article index root %s, but the log's leaves give %s", p.newCP.Size, p.newCP.Index, x.Root()))
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
// id's newest leaf, or of its absence, in the article index that the
// store's checkpoint of the publisher carries, and that checkpoint's size.
// It returns ErrNotFound for a publisher not stored and ErrNoIndex when the
// checkpoint carries no index.
func (s *Store) IndexProof(pub, id string) (size int64, proof []byte, err error) {
	if err := bundle.CheckID(id); err != nil {
		return 0, nil, fmt.Errorf("store: %w", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
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
		x, err := openIndex(pb, pub, nil)
		if err != nil {
			return err
		}
		if x.Size() != cp.Size || x.Root() != cp.Index {
			return fmt.Errorf("store: publisher %s: the article index (size %d) is not the checkpoint's (size %d)", pub, x.Size(), cp.Size)
		}
		pr, err := x.Prove(context.Background(), id)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		size, proof = cp.Size, pr.Encode()
		return nil
	})
	return size, proof, err
}

// indexBatch is how many leaves buildIndexes applies at once.
const indexBatch = 4096

// buildIndexes builds the article index of every publisher whose log was
// stored before the store kept one, from its stored leaves, once: the
// first Open of a store made by an earlier version. It costs O(n log n)
// for a log of n leaves, each publisher in one transaction.
func (s *Store) buildIndexes() error {
	var todo []string
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktPubs).ForEach(func(k, v []byte) error {
			if pb := tx.Bucket(bktPubs).Bucket(k); v == nil && pb != nil && pb.Bucket(bktIndex) == nil {
				todo = append(todo, string(k))
			}
			return nil
		})
	})
	for _, id := range todo {
		err := s.db.Update(func(tx *bolt.Tx) error {
			pb := tx.Bucket(bktPubs).Bucket([]byte(id))
			ib, err := pb.CreateBucket(bktIndex)
			if err != nil {
				return err
			}
			ctx := context.Background()
			x, err := index.Open(ctx, &indexBucket{b: ib, direct: true})
			if err != nil {
				return err
			}
			lb, size := pb.Bucket(bktLeaves), sizeOf(pb)
			for from := int64(0); from < size; from += indexBatch {
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
				if err := x.Apply(ctx, from, ls); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: building the article index of publisher %s: %w", id, err)
		}
		s.log.Info("store: built the article index of a log stored before it existed", "publisher", id)
	}
	return nil
}
