package store

import (
	"crypto/sha256"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/catalog"
)

// NextRoot returns the size and root hash the publisher's log would have
// with leaves appended: what a publisher signs in its next checkpoint.
func (s *Store) NextRoot(id string, leaves [][]byte) (int64, tlog.Hash, error) {
	var size int64
	var hashes tlog.HashReader = tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, errors.New("store: empty log") })
	p, err := s.Publisher(id)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, tlog.Hash{}, err
	default:
		size = p.Size
		hashes = s.hashes(id)
	}
	base := tlog.StoredHashCount(size)
	var pending []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= base {
				out[i] = pending[x-base]
				continue
			}
			h, err := hashes.ReadHashes([]int64{x})
			if err != nil {
				return nil, err
			}
			out[i] = h[0]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(size+int64(i), l, read)
		if err != nil {
			return 0, tlog.Hash{}, fmt.Errorf("store: %w", err)
		}
		pending = append(pending, hs...)
	}
	n := size + int64(len(leaves))
	if n == 0 {
		return 0, tlog.Hash{}, nil
	}
	h, err := tlog.TreeHash(n, read)
	return n, h, err
}

// hashes reads a publisher's stored tree hashes, one transaction a call.
func (s *Store) hashes(id string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		var out []tlog.Hash
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bktPubs).Bucket([]byte(id))
			if b == nil {
				return fmt.Errorf("%w: publisher %s", ErrNotFound, id)
			}
			var err error
			out, err = hashReader(b.Bucket(bktHashes), 0, nil).ReadHashes(idx)
			return err
		})
		return out, err
	})
}

// Problem is one thing wrong in a store, found by Check.
type Problem struct {
	What string // what was checked: "checkpoint", "leaf 12", "article \"x\""
	Err  error
}

func (p Problem) String() string { return p.What + ": " + p.Err.Error() }

// Check verifies everything the store holds for the publisher of root: the
// key statement, the checkpoint, every leaf and stored hash, the tree hash,
// the article index, and every current article's bundle, decompressed. It
// returns the problems found; an error means the check could not run.
func (s *Store) Check(root *keys.PublicKey, opts *bundle.OpenOptions) ([]Problem, error) {
	id := root.ID()
	p, err := s.Publisher(id)
	if err != nil {
		return nil, err
	}
	var probs []Problem
	add := func(what string, err error) { probs = append(probs, Problem{What: what, Err: err}) }
	if !p.Root.Equal(root) {
		add("root key", fmt.Errorf("store holds publisher %s under key %s", id, p.Root))
		return probs, nil
	}
	trust, err := keys.NewTrust(root, p.Statement)
	if err != nil {
		add("key statement", err)
		return probs, nil
	}
	var cp *catalog.Checkpoint
	if p.Checkpoint == nil {
		if p.Size > 0 {
			add("checkpoint", errors.New("missing for a non-empty log"))
		}
	} else if cp, err = catalog.OpenCheckpoint(p.Checkpoint, trust); err != nil {
		add("checkpoint", err)
	} else if cp.Size != p.Size {
		add("checkpoint", fmt.Errorf("signs %d leaves, store has %d", cp.Size, p.Size))
	}

	leaves, err := s.Leaves(id, 0, p.Size)
	if err != nil {
		add("leaves", err)
		return probs, nil
	}
	var recomputed []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(recomputed)) {
				return nil, fmt.Errorf("hash %d not computed", x)
			}
			out[i] = recomputed[x]
		}
		return out, nil
	})
	articles := map[string]*catalog.Article{}
	var keyLeaf *catalog.Leaf
	var kv, mv uint64
	for i, raw := range leaves {
		n := int64(i)
		hs, err := tlog.StoredHashes(n, raw, read)
		if err != nil {
			add(fmt.Sprintf("leaf %d", n), err)
			return probs, nil
		}
		recomputed = append(recomputed, hs...)
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			add(fmt.Sprintf("leaf %d", n), err)
			continue
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			a, err := catalog.Next(articles[l.ID], l, n)
			if err != nil {
				add(fmt.Sprintf("leaf %d", n), err)
				continue
			}
			articles[l.ID] = a
		case catalog.KindKeyStatement:
			if err := catalog.NextVersion(kv, l); err != nil {
				add(fmt.Sprintf("leaf %d", n), err)
			}
			kv, keyLeaf = l.Version, l
		case catalog.KindMirrorList:
			if err := catalog.NextVersion(mv, l); err != nil {
				add(fmt.Sprintf("leaf %d", n), err)
			}
			mv = l.Version
		}
	}
	stored, err := s.hashes(id).ReadHashes(indexes(len(recomputed)))
	if err != nil {
		add("tree hashes", err)
	} else {
		for i := range stored {
			if stored[i] != recomputed[i] {
				add("tree hashes", fmt.Errorf("stored hash %d does not match the leaves", i))
				break
			}
		}
	}
	if cp != nil && p.Size > 0 {
		if th, err := tlog.TreeHash(p.Size, read); err != nil || th != cp.Root {
			add("checkpoint", fmt.Errorf("root hash does not match the stored leaves"))
		}
	}
	if keyLeaf != nil && keyLeaf.Version == trust.Statement().Version && keyLeaf.Digest != sha256.Sum256(p.Statement) {
		add("key statement", fmt.Errorf("differs from the one the log records for version %d", keyLeaf.Version))
	}

	index, err := s.Articles(id)
	if err != nil {
		add("article index", err)
		return probs, nil
	}
	if len(index) != len(articles) {
		add("article index", fmt.Errorf("lists %d articles, the leaves give %d", len(index), len(articles)))
	}
	for _, a := range index {
		want := articles[a.ID]
		if want == nil || *want != a {
			add(fmt.Sprintf("article %q", a.ID), errors.New("index does not match the leaves"))
			continue
		}
		if a.Retracted {
			if s.HasBundle(a.Digest) {
				add(fmt.Sprintf("article %q", a.ID), errors.New("retracted, but its bundle is still stored"))
			}
			continue
		}
		data, err := s.Bundle(a.Digest)
		if err != nil {
			add(fmt.Sprintf("article %q", a.ID), err)
			continue
		}
		if sha256.Sum256(data) != a.Digest {
			add(fmt.Sprintf("article %q", a.ID), fmt.Errorf("bundle file %s is damaged (digest mismatch)", a.Digest))
			continue
		}
		b, err := bundle.Verify(data, trust, opts)
		if err != nil {
			add(fmt.Sprintf("article %q", a.ID), err)
			continue
		}
		if b.Manifest.ID != a.ID || b.Manifest.Revision != a.Revision {
			add(fmt.Sprintf("article %q", a.ID), fmt.Errorf("bundle is %q revision %d, log says revision %d", b.Manifest.ID, b.Manifest.Revision, a.Revision))
		}
	}
	return probs, nil
}

func indexes(n int) []int64 {
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	return idx
}
