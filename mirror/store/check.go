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
func (s *Store) NextRoot(pub string, leaves [][]byte) (int64, tlog.Hash, error) {
	var size int64
	var hashes tlog.HashReader = tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, errors.New("store: empty log") })
	p, err := s.Publisher(pub)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, tlog.Hash{}, err
	default:
		size = p.Size
		hashes = s.hashes(pub)
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
// pending bundles but no problems. The bundles are verified on every core
// (GOMAXPROCS at once); the report is the same, in the same order, however
// many there are. It is safe for concurrent use, but reads a store that
// Apply changes meanwhile as it finds it, one transaction at a time.
func (s *Store) Audit(root *keys.PublicKey, opts *bundle.OpenOptions) (*Report, error) {
	p, err := s.Publisher(root.ID())
	if err != nil {
		return nil, err
	}
	a := &audit{s: s, id: root.ID(), p: p, r: &Report{}}
	// Each step reports what it finds; one that finds the rest cannot be
	// checked says so and Audit stops there.
	if !a.checkKeys(root) || !a.checkTree() {
		return a.r, nil
	}
	a.replayLeaves()
	a.checkVersions()
	if !a.checkArticles(opts) {
		return a.r, nil
	}
	a.checkBytes()
	a.checkUnindexed()
	return a.r, nil
}

// audit is one run of Audit: the report so far, and what each step found
// that later steps read.
type audit struct {
	s  *Store
	id string
	p  *Publisher
	r  *Report

	trust  *keys.Trust         // from the stored key statement
	cp     *catalog.Checkpoint // the stored checkpoint, if it verifies
	leaves [][]byte            // the stored leaves
	bad    map[int64]bool      // leaves that are not what the log stored

	articles   map[string]*catalog.Article // the articles, by replaying the leaves
	tainted    map[string]bool             // articles with a bad leaf, reported once
	keyLeaf    *catalog.Leaf               // the newest key-statement leaf
	mirrorLeaf *catalog.Leaf               // the newest mirror-list leaf
	indexed    map[string]bool             // the articles in the stored index
}

func (a *audit) add(what string, err error) {
	a.r.Problems = append(a.r.Problems, Problem{What: what, Err: err})
}

// checkKeys checks the stored root key, key statement and checkpoint, and
// sets the trust and the checkpoint (if it verifies). It returns false if
// nothing else can be checked: the root key or key statement is wrong.
func (a *audit) checkKeys(root *keys.PublicKey) bool {
	p := a.p
	if !p.Root.Equal(root) {
		a.add("root key", fmt.Errorf("store holds publisher %s under key %s", a.id, p.Root))
		return false
	}
	var err error
	if a.trust, err = keys.NewTrust(root, p.Statement); err != nil {
		a.add("key statement", err)
		return false
	}
	if p.Checkpoint == nil {
		if p.Size > 0 {
			a.add("checkpoint", errors.New("missing for a non-empty log"))
		}
		return true
	}
	if a.cp, err = catalog.OpenCheckpoint(p.Checkpoint, a.trust); err != nil {
		a.cp = nil
		a.add("checkpoint", err)
	} else if a.cp.Size != p.Size {
		a.add("checkpoint", fmt.Errorf("signs %d leaves, store has %d", a.cp.Size, p.Size))
	}
	return true
}

// checkTree recomputes the tree hashes from the stored leaves and compares
// them with the stored hashes and the checkpoint's root. When they
// disagree, the signed checkpoint says which is wrong, and each damage is
// reported once, not again through everything that depends on it: it sets
// the leaves and which of them are bad. It returns false if the leaves or
// hashes cannot be read.
func (a *audit) checkTree() bool {
	p := a.p
	var err error
	if a.leaves, err = a.s.Leaves(a.id, 0, p.Size); err != nil {
		a.add("leaves", err)
		return false
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
	for i, raw := range a.leaves {
		hs, err := tlog.StoredHashes(int64(i), raw, read)
		if err != nil {
			a.add(fmt.Sprintf("leaf %d", i), err)
			return false
		}
		recomputed = append(recomputed, hs...)
	}
	stored, err := a.s.storedHashes(a.id, int64(len(recomputed)))
	if err != nil {
		a.add("tree hashes", err)
		return false
	}
	cp := a.cp
	rootKnown, rootOK := cp != nil && cp.Size == p.Size && p.Size > 0, false
	if rootKnown {
		th, err := tlog.TreeHash(p.Size, read)
		rootOK = err == nil && th == cp.Root
	}
	var leafBad []int64 // leaves that differ from the hash stored for them
	for n := range int64(len(a.leaves)) {
		if h := stored[tlog.StoredHashIndex(0, n)]; h == nil || *h != recomputed[tlog.StoredHashIndex(0, n)] {
			leafBad = append(leafBad, n)
		}
	}
	a.bad = map[int64]bool{}
	switch {
	case rootOK || !rootKnown && len(leafBad) == 0:
		// The leaves are right (or nothing says otherwise): every stored
		// hash that differs from them is damaged.
		for i := range recomputed {
			if stored[i] == nil || *stored[i] != recomputed[i] {
				a.add("tree hashes", fmt.Errorf("stored hash %d is missing or does not match the leaves", i))
			}
		}
	case len(leafBad) > 0:
		for _, n := range leafBad {
			a.add(fmt.Sprintf("leaf %d", n), errors.New("does not match the hash the log stored for it (edited or damaged)"))
			a.bad[n] = true
		}
	default:
		a.add("checkpoint", errors.New("root hash does not match the stored leaves"))
	}
	return true
}

// replayLeaves applies the log's rules to the stored leaves, skipping the
// bad ones, and sets the articles they make, the articles a bad leaf
// taints, and the newest key-statement and mirror-list leaves.
func (a *audit) replayLeaves() {
	a.articles, a.tainted = map[string]*catalog.Article{}, map[string]bool{}
	var kv, mv uint64
	for i, raw := range a.leaves {
		n := int64(i)
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			if !a.bad[n] {
				a.add(fmt.Sprintf("leaf %d", n), err)
			}
			continue
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			if a.bad[n] {
				a.tainted[l.ID] = true
			}
			next, err := catalog.Next(a.articles[l.ID], l, n)
			if err != nil {
				if !a.tainted[l.ID] {
					a.add(fmt.Sprintf("leaf %d", n), err)
				}
				continue
			}
			a.articles[l.ID] = next
		case catalog.KindKeyStatement:
			if a.bad[n] {
				continue
			}
			if err := catalog.NextVersion(kv, l); err != nil {
				a.add(fmt.Sprintf("leaf %d", n), err)
			}
			kv, a.keyLeaf = l.Version, l
		case catalog.KindMirrorList:
			if a.bad[n] {
				continue
			}
			if err := catalog.NextVersion(mv, l); err != nil {
				a.add(fmt.Sprintf("leaf %d", n), err)
			}
			mv, a.mirrorLeaf = l.Version, l
		}
	}
}

// checkVersions checks the stored mirror list and key statement against
// the newest leaves that record them.
func (a *audit) checkVersions() {
	if err := a.s.auditMirrorList(a.id, a.trust, a.mirrorLeaf); err != nil {
		a.add("mirror list", err)
	}
	if a.keyLeaf != nil {
		switch v := a.trust.Statement().Version; {
		case a.keyLeaf.Version > v:
			a.add("key statement", fmt.Errorf("the log records version %d, the store holds version %d", a.keyLeaf.Version, v))
		case a.keyLeaf.Version == v && a.keyLeaf.Digest != sha256.Sum256(a.p.Statement):
			a.add("key statement", fmt.Errorf("differs from the one the log records for version %d", a.keyLeaf.Version))
		}
	}
}

// checkArticles compares the stored article index with the replayed
// leaves and verifies every current article's bundle, on every core,
// reporting in the index's order. It sets the articles indexed, and
// returns false if the index cannot be read.
func (a *audit) checkArticles(opts *bundle.OpenOptions) bool {
	index, err := a.s.Articles(a.id)
	if err != nil {
		a.add("article index", err)
		return false
	}
	a.indexed = make(map[string]bool, len(index))
	for _, art := range index {
		a.indexed[art.ID] = true
	}
	type result struct {
		err     error // a problem with the article
		pending bool  // its bundle is not fetched yet
	}
	results := make([]result, len(index))
	parallel(len(index), func(i int) {
		results[i].pending, results[i].err = a.checkArticle(&index[i], opts)
	})
	for i, res := range results {
		switch {
		case res.pending:
			a.r.Pending = append(a.r.Pending, index[i])
		case res.err != nil:
			a.add(fmt.Sprintf("article %q", index[i].ID), res.err)
		}
	}
	return true
}

// checkArticle checks one article of the index against the replayed
// leaves and, if it is current, verifies its bundle. It returns whether
// the bundle is not fetched yet, or what is wrong. It only reads the
// audit, so calls may run at once.
func (a *audit) checkArticle(art *catalog.Article, opts *bundle.OpenOptions) (pending bool, err error) {
	if a.tainted[art.ID] || a.bad[art.Leaf] {
		return false, nil // reported with the leaf
	}
	if want := a.articles[art.ID]; want == nil || *want != *art {
		return false, errors.New("index does not match the leaves")
	}
	if art.Retracted {
		if a.s.HasBundle(art.Digest) {
			return false, errors.New("retracted, but its bundle is still stored")
		}
		return false, nil
	}
	data, err := a.s.Bundle(art.Digest)
	if errors.Is(err, ErrNotFound) {
		// No record of the bundle: not fetched yet. A record whose file
		// is gone is damage, reported as an error.
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// Verify hashes the whole bundle too: a file that fails is hashed
	// again only to say whether it is damaged or was stored bad.
	b, err := bundle.Verify(data, a.trust, opts)
	if err == nil && b.Digest != art.Digest || err != nil && sha256.Sum256(data) != art.Digest {
		return false, fmt.Errorf("bundle file %s is damaged (digest mismatch)", art.Digest)
	}
	if err != nil {
		return false, err
	}
	if b.Manifest.ID != art.ID || b.Manifest.Revision != art.Revision {
		return false, fmt.Errorf("bundle is %q revision %d, log says revision %d", b.Manifest.ID, b.Manifest.Revision, art.Revision)
	}
	return false, nil
}

// checkBytes checks the recorded size of the publisher's bundles (for the
// quota) against the sizes of its bundle records.
func (a *audit) checkBytes() {
	if held, err := a.s.heldBytes(a.id); err != nil {
		a.add("bundle byte count", err)
	} else if held != a.p.Bytes {
		a.add("bundle byte count", fmt.Errorf("records %d bytes, the publisher's bundles take %d", a.p.Bytes, held))
	}
}

// checkUnindexed reports the articles the leaves make that the index
// lacks, sorted by ID.
func (a *audit) checkUnindexed() {
	var missing []string
	for name := range a.articles {
		if !a.indexed[name] && !a.tainted[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		a.add(fmt.Sprintf("article %q", name), errors.New("missing from the article index"))
	}
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
