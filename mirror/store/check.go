package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
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

// ErrPending is wrapped by the Problem that Check reports for a current
// article whose bundle the store does not hold yet: a mirror that has the
// log but is still fetching bundles. It is not damage; it wraps ErrNotFound.
var ErrPending = fmt.Errorf("%w: bundle not fetched yet", ErrNotFound)

// Report is what Audit found in a store.
type Report struct {
	// Problems are damage: anything that does not verify, including a
	// bundle file that is present but corrupt or gone from the disk.
	Problems []Problem
	// Pending are the current articles whose bundles the store does not
	// hold yet (MissingBundles): normal for a mirror in the middle of a
	// sync, and not damage.
	Pending []catalog.Article
}

// Check verifies everything the store holds for the publisher of root: the
// key statement, the checkpoint, every leaf and stored hash, the tree hash,
// the article index, and every current article's bundle, decompressed. It
// returns the problems found; an error means the check could not run. A
// bundle not fetched yet is reported too, as a Problem whose Err wraps
// ErrPending, so that no problem means a complete and intact store; Audit
// keeps such bundles apart from damage.
func (s *Store) Check(root *keys.PublicKey, opts *bundle.OpenOptions) ([]Problem, error) {
	r, err := s.Audit(root, opts)
	if err != nil {
		return nil, err
	}
	probs := r.Problems
	for _, a := range r.Pending {
		probs = append(probs, Problem{What: fmt.Sprintf("article %q", a.ID), Err: fmt.Errorf("%w: %s", ErrPending, a.Digest)})
	}
	return probs, nil
}

// Audit verifies the store as Check does, and reports the bundles not
// fetched yet apart from damage: a mirror in the middle of a sync has
// pending bundles but no problems.
func (s *Store) Audit(root *keys.PublicKey, opts *bundle.OpenOptions) (*Report, error) {
	id := root.ID()
	p, err := s.Publisher(id)
	if err != nil {
		return nil, err
	}
	r := &Report{}
	add := func(what string, err error) { r.Problems = append(r.Problems, Problem{What: what, Err: err}) }
	if !p.Root.Equal(root) {
		add("root key", fmt.Errorf("store holds publisher %s under key %s", id, p.Root))
		return r, nil
	}
	trust, err := keys.NewTrust(root, p.Statement)
	if err != nil {
		add("key statement", err)
		return r, nil
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
		return r, nil
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
	for i, raw := range leaves {
		hs, err := tlog.StoredHashes(int64(i), raw, read)
		if err != nil {
			add(fmt.Sprintf("leaf %d", i), err)
			return r, nil
		}
		recomputed = append(recomputed, hs...)
	}
	stored, err := s.storedHashes(id, int64(len(recomputed)))
	if err != nil {
		add("tree hashes", err)
		return r, nil
	}

	// When the leaves, the stored hashes and the checkpoint disagree, the
	// signed checkpoint says which is wrong; each damage is reported once,
	// not again through everything that depends on it.
	rootKnown, rootOK := cp != nil && cp.Size == p.Size && p.Size > 0, false
	if rootKnown {
		th, err := tlog.TreeHash(p.Size, read)
		rootOK = err == nil && th == cp.Root
	}
	var leafBad []int64 // leaves that differ from the hash stored for them
	for n := range int64(len(leaves)) {
		if h := stored[tlog.StoredHashIndex(0, n)]; h == nil || *h != recomputed[tlog.StoredHashIndex(0, n)] {
			leafBad = append(leafBad, n)
		}
	}
	bad := map[int64]bool{} // leaves that are not what the log stored
	switch {
	case rootOK || !rootKnown && len(leafBad) == 0:
		// The leaves are right (or nothing says otherwise): every stored
		// hash that differs from them is damaged.
		for i := range recomputed {
			if stored[i] == nil || *stored[i] != recomputed[i] {
				add("tree hashes", fmt.Errorf("stored hash %d is missing or does not match the leaves", i))
			}
		}
	case len(leafBad) > 0:
		for _, n := range leafBad {
			add(fmt.Sprintf("leaf %d", n), errors.New("does not match the hash the log stored for it (edited or damaged)"))
			bad[n] = true
		}
	default:
		add("checkpoint", errors.New("root hash does not match the stored leaves"))
	}

	articles := map[string]*catalog.Article{}
	tainted := map[string]bool{} // articles with a bad leaf, reported above
	var keyLeaf *catalog.Leaf
	var kv, mv uint64
	var mirrorLeaf *catalog.Leaf
	for i, raw := range leaves {
		n := int64(i)
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			if !bad[n] {
				add(fmt.Sprintf("leaf %d", n), err)
			}
			continue
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			if bad[n] {
				tainted[l.ID] = true
			}
			a, err := catalog.Next(articles[l.ID], l, n)
			if err != nil {
				if !tainted[l.ID] {
					add(fmt.Sprintf("leaf %d", n), err)
				}
				continue
			}
			articles[l.ID] = a
		case catalog.KindKeyStatement:
			if bad[n] {
				continue
			}
			if err := catalog.NextVersion(kv, l); err != nil {
				add(fmt.Sprintf("leaf %d", n), err)
			}
			kv, keyLeaf = l.Version, l
		case catalog.KindMirrorList:
			if bad[n] {
				continue
			}
			if err := catalog.NextVersion(mv, l); err != nil {
				add(fmt.Sprintf("leaf %d", n), err)
			}
			mv, mirrorLeaf = l.Version, l
		}
	}
	if err := s.auditMirrorList(id, trust, mirrorLeaf); err != nil {
		add("mirror list", err)
	}
	if keyLeaf != nil {
		switch v := trust.Statement().Version; {
		case keyLeaf.Version > v:
			add("key statement", fmt.Errorf("the log records version %d, the store holds version %d", keyLeaf.Version, v))
		case keyLeaf.Version == v && keyLeaf.Digest != sha256.Sum256(p.Statement):
			add("key statement", fmt.Errorf("differs from the one the log records for version %d", keyLeaf.Version))
		}
	}

	index, err := s.Articles(id)
	if err != nil {
		add("article index", err)
		return r, nil
	}
	indexed := map[string]bool{}
	for _, a := range index {
		indexed[a.ID] = true
		if tainted[a.ID] || bad[a.Leaf] {
			continue
		}
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
		if errors.Is(err, ErrNotFound) {
			// No record of the bundle: not fetched yet. A record whose
			// file is gone is damage, reported below.
			r.Pending = append(r.Pending, a)
			continue
		}
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
	if held, err := s.heldBytes(id); err != nil {
		add("bundle byte count", err)
	} else if held != p.Bytes {
		add("bundle byte count", fmt.Errorf("records %d bytes, the publisher's bundles take %d", p.Bytes, held))
	}
	var missing []string
	for name := range articles {
		if !indexed[name] && !tainted[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		add(fmt.Sprintf("article %q", name), errors.New("missing from the article index"))
	}
	return r, nil
}

// storedHashes reads the publisher's first n stored tree hashes in one
// transaction; a missing or malformed one is nil.
func (s *Store) storedHashes(id string, n int64) ([]*tlog.Hash, error) {
	out := make([]*tlog.Hash, n)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(id))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, id)
		}
		hb := b.Bucket(bktHashes)
		if hb == nil {
			return nil
		}
		for i := range n {
			if v := hb.Get(u64(uint64(i))); len(v) == tlog.HashSize {
				var h tlog.Hash
				copy(h[:], v)
				out[i] = &h
			}
		}
		return nil
	})
	return out, err
}

// heldBytes adds up the sizes the store records for a publisher's bundles.
func (s *Store) heldBytes(id string) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktBundles).ForEach(func(_, v []byte) error {
			if owner, size, ok := bundleRecord(v); !ok {
				return errors.New("store: damaged bundle record")
			} else if owner == id {
				n += size
			}
			return nil
		})
	})
	return n, err
}
