package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	gosync "sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// Update is a change to one publisher's part of the store. Every field is
// optional, but Leaves need a Checkpoint that covers them.
type Update struct {
	// Statement is a signed key statement, at least as new as the stored one.
	Statement []byte
	// Leaves are appended to the log, in order, after the stored leaves.
	Leaves [][]byte
	// Checkpoint signs the log with Leaves appended. A checkpoint for the
	// stored log's size with the same root and a later time refreshes it.
	Checkpoint []byte
	// Bundles are bundles of the log's current (not superseded, not
	// retracted) articles.
	Bundles [][]byte
	// MirrorList is a signed mirror list: the one that the log's newest
	// mirror-list leaf records once Leaves are appended. Leaves that add a
	// newer mirror-list leaf without its list remove the stored list: the
	// store holds the latest list or none.
	MirrorList []byte
}

// Result says what Apply changed.
type Result struct {
	Size         int64 // leaves in the log afterwards
	LeavesAdded  int
	BundlesAdded int
	Statement    bool // a newer key statement was stored
	Checkpoint   bool // a newer checkpoint was stored
	MirrorList   bool // a new mirror list was stored
}

// Apply verifies u against the publisher's pinned root key and the store's
// state, and stores it in one transaction. Nothing of an update that fails
// verification is stored. Bundles already held are skipped.
//
// It runs three steps, each on the plan the one before returned: verify
// checks everything and changes nothing; write stores the new bundle
// files, durably, under names no record holds yet; commit records the
// whole update in one bbolt transaction.
func (s *Store) Apply(root *keys.PublicKey, u *Update) (*Result, error) {
	if s.readOnly {
		return nil, errors.New("store: opened read-only")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p, err := s.verify(root, u)
	if err != nil {
		return nil, err
	}
	if err := s.write(p); err != nil {
		return nil, err
	}
	if beforeCommit != nil {
		beforeCommit(s)
	}
	res, err := s.commit(p)
	if err != nil {
		return nil, err
	}
	if len(p.garbage) > 0 {
		if err := s.collectGarbage(); err != nil {
			s.log.Warn("store: garbage collection failed; retried at next open", "err", err)
		}
	}
	if s.onChange != nil && (res.LeavesAdded > 0 || res.BundlesAdded > 0 || res.Statement || res.Checkpoint || res.MirrorList) {
		s.onChange(p.id)
	}
	s.log.Debug("store: applied update", "publisher", p.id, "size", res.Size, "leaves", res.LeavesAdded, "bundles", res.BundlesAdded)
	return res, nil
}

// plan is one update on its way into the store: the stored state it was
// checked against, what the update brings once verified, and what it
// changes. verify fills it; write and commit only read it.
type plan struct {
	id   string
	root *keys.PublicKey
	u    *Update

	// The stored state, read once; only Apply's goroutine writes.
	have    *Publisher          // nil for a publisher not stored yet
	oldCP   *catalog.Checkpoint // the stored checkpoint; nil if none
	oldSize int64               // leaves stored

	// What the update brings, verified on its own.
	trust        *keys.Trust         // the key statement in force after the update
	newStatement bool                // u.Statement is newer than the stored one
	newCP        *catalog.Checkpoint // u.Checkpoint; nil if none
	leaves       []*catalog.Leaf     // u.Leaves, parsed
	mirrors      *catalog.MirrorList // u.MirrorList; nil if none
	bundles      []*bundle.Bundle    // u.Bundles, in order

	// What the update changes, found against the stored log.
	hashes        []tlog.Hash                 // the tree hashes the leaves add
	changed       map[string]*catalog.Article // articles the leaves change
	garbage       []bundle.Digest             // bundles the leaves supersede
	keyVersion    uint64                      // of the newest key-statement leaf
	mirrorVersion uint64                      // of the newest mirror-list leaf
	mirrorLeaf    *catalog.Leaf               // the update's newest mirror-list leaf; nil if none
	mirrorIndex   int64                       // and its index in the log
	sameMirrors   bool                        // u.MirrorList is the list stored
	index         map[string][]byte           // the article index records the leaves change
	write         []bundle.Digest             // the bundles to store, once each
	raws          [][]byte                    // and their bytes
	bytes         int64                       // the publisher's bundle bytes afterwards
}

// verify checks u against root and the stored state, and returns the plan
// that stores it, or the reason it must not be stored. It checks
// everything and changes nothing: a plan it returns fails later only on a
// disk or database error. In order: the stored state, the key statement,
// the checkpoint and leaves, the mirror list and the bundles, each on its
// own (the bundles on every core), then all of them against the stored
// log in one read transaction.
func (s *Store) verify(root *keys.PublicKey, u *Update) (*plan, error) {
	p, err := s.stored(root, u)
	if err != nil {
		return nil, err
	}
	if err := p.verifyStatement(); err != nil {
		return nil, err
	}
	if err := p.verifyCheckpoint(); err != nil {
		return nil, err
	}
	if u.MirrorList != nil {
		// Verified under the key statement after the update, then
		// checked against the log below.
		if p.mirrors, err = catalog.OpenMirrorList(u.MirrorList, p.trust); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if p.bundles, err = verifyAll(u.Bundles, p.trust, s.lim); err != nil {
		return nil, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		var pb, hb, ab *bolt.Bucket
		if pb = tx.Bucket(bktPubs).Bucket([]byte(p.id)); pb != nil {
			hb, ab = pb.Bucket(bktHashes), pb.Bucket(bktArticles)
			p.keyVersion, p.mirrorVersion = getU64(pb, keyKeyVersion), getU64(pb, keyMirrorVer)
		}
		if p.newCP != nil {
			if err := p.checkTree(hb); err != nil {
				return err
			}
		}
		if err := p.replayLeaves(ab); err != nil {
			return err
		}
		if err := p.indexLeaves(pb); err != nil {
			return err
		}
		if err := p.checkMirrorList(pb); err != nil {
			return err
		}
		if err := p.checkBundles(tx.Bucket(bktBundles), ab); err != nil {
			return err
		}
		return p.checkQuota(tx.Bucket(bktBundles), pb, s.quota)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// stored returns a plan holding the publisher's stored state: its record,
// the trust its stored key statement gives (nil for a new publisher) and
// its stored checkpoint.
func (s *Store) stored(root *keys.PublicKey, u *Update) (*plan, error) {
	p := &plan{id: root.ID(), root: root, u: u, changed: map[string]*catalog.Article{}}
	switch have, err := s.Publisher(p.id); {
	case errors.Is(err, ErrNotFound):
		if u.Statement == nil {
			return nil, fmt.Errorf("store: publisher %s: first update needs a key statement", p.id)
		}
		return p, nil
	case err != nil:
		return nil, err
	default:
		p.have, p.oldSize = have, have.Size
	}
	if !p.have.Root.Equal(root) {
		return nil, fmt.Errorf("store: publisher %s is stored under root key %s, not %s", p.id, p.have.Root, root)
	}
	var err error
	if p.trust, err = keys.NewTrust(root, p.have.Statement); err != nil {
		return nil, fmt.Errorf("store: publisher %s: stored key statement: %w", p.id, err)
	}
	// The stored checkpoint was verified when it was stored. It is read
	// as stored, not verified again: the key statement of the update may
	// revoke the key that signed it, and that must not stop the log from
	// growing.
	if p.have.Checkpoint != nil {
		if p.oldCP, err = catalog.ParseUnverified(p.have.Checkpoint); err != nil {
			return nil, fmt.Errorf("store: publisher %s: stored checkpoint: %w", p.id, err)
		}
	}
	return p, nil
}

// verifyStatement verifies the update's key statement, if any, against
// the stored one (or the root key, for a new publisher), and sets the
// trust the rest of the update is verified under.
func (p *plan) verifyStatement() error {
	if p.u.Statement == nil {
		return nil
	}
	var next *keys.Trust
	var err error
	if p.trust == nil {
		next, err = keys.NewTrust(p.root, p.u.Statement)
	} else {
		next, err = p.trust.Update(p.u.Statement)
	}
	if err != nil {
		return err
	}
	p.newStatement = p.trust == nil || next.Statement().Version > p.trust.Statement().Version
	p.trust = next
	return nil
}

// verifyCheckpoint verifies the update's checkpoint under the trust in
// force and parses its leaves.
func (p *plan) verifyCheckpoint() error {
	if p.u.Checkpoint != nil {
		var err error
		if p.newCP, err = catalog.OpenCheckpoint(p.u.Checkpoint, p.trust); err != nil {
			return err
		}
	} else if len(p.u.Leaves) > 0 {
		return fmt.Errorf("store: %d leaves without a checkpoint", len(p.u.Leaves))
	}
	p.leaves = make([]*catalog.Leaf, len(p.u.Leaves))
	for i, raw := range p.u.Leaves {
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			return fmt.Errorf("store: leaf %d: %w", p.oldSize+int64(i), err)
		}
		p.leaves[i] = l
	}
	return nil
}

// checkTree judges the new checkpoint against the stored one (catalog.Judge)
// and checks that it signs the stored leaves with the update's appended:
// it computes the tree hashes the leaves add and the tree's root. It
// returns an error wrapping ErrStale and catalog.ErrRollback for an older
// checkpoint, one wrapping a *catalog.ForkError for a contradicting one.
func (p *plan) checkTree(hb *bolt.Bucket) error {
	if err := catalog.Judge(p.oldCP, p.newCP); err != nil {
		if fe := (*catalog.ForkError)(nil); errors.As(err, &fe) {
			if fe.Reason != "" {
				return p.fork(fe.Reason)
			}
			return p.fork(fmt.Sprintf("two checkpoints of size %d with different roots", p.newCP.Size))
		}
		return &staleError{id: p.id, err: err}
	}
	added := int64(len(p.leaves))
	if p.newCP.Size != p.oldSize+added {
		if p.newCP.Size < p.oldSize {
			// Only without a stored checkpoint, which Judge would see.
			return &staleError{id: p.id, err: fmt.Errorf("%w: checkpoint of size %d, store has %d leaves", catalog.ErrRollback, p.newCP.Size, p.oldSize)}
		}
		return fmt.Errorf("store: publisher %s: checkpoint of size %d does not cover the %d stored and %d new leaves", p.id, p.newCP.Size, p.oldSize, added)
	}
	base := tlog.StoredHashCount(p.oldSize)
	for i, raw := range p.u.Leaves {
		hs, err := tlog.StoredHashes(p.oldSize+int64(i), raw, hashReader(hb, base, p.hashes))
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		p.hashes = append(p.hashes, hs...)
	}
	switch {
	case p.newCP.Size > 0:
		th, err := tlog.TreeHash(p.newCP.Size, hashReader(hb, base, p.hashes))
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if th != p.newCP.Root {
			return p.fork(fmt.Sprintf("checkpoint root for size %d does not match the log's leaves", p.newCP.Size))
		}
	case p.newCP.Root != (tlog.Hash{}):
		return fmt.Errorf("store: empty log with a non-empty root")
	}
	return nil
}

// fork returns the error for a checkpoint that contradicts the stored
// log: a *catalog.ForkError holding both checkpoints, wrapped with the
// publisher's ID.
func (p *plan) fork(reason string) error {
	fe := &catalog.ForkError{Size: p.newCP.Size, Got: p.u.Checkpoint, Reason: reason}
	if p.have != nil {
		fe.Have = p.have.Checkpoint
	}
	return fmt.Errorf("store: publisher %s: %w", p.id, fe)
}

// staleError is Apply's error for a checkpoint older than the stored one:
// it is ErrStale, and wraps Judge's error (catalog.ErrRollback).
type staleError struct {
	id  string
	err error
}

func (e *staleError) Error() string   { return fmt.Sprintf("store: publisher %s: %v", e.id, e.err) }
func (e *staleError) Unwrap() []error { return []error{ErrStale, e.err} }

// article returns an article's state with the leaves replayed so far: the
// plan's change, else the stored index's (ab, nil for a new publisher).
func (p *plan) article(ab *bolt.Bucket, name string) *catalog.Article {
	if a, ok := p.changed[name]; ok {
		return a
	}
	if ab == nil {
		return nil
	}
	return decodeArticle(name, ab.Get([]byte(name)))
}

// replayLeaves applies the log's rules to the update's leaves, in order,
// against the stored article index and versions. It sets the articles the
// leaves change, the bundles they supersede, and the newest key-statement
// and mirror-list versions.
func (p *plan) replayLeaves(ab *bolt.Bucket) error {
	for i, l := range p.leaves {
		n := p.oldSize + int64(i)
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			prev := p.article(ab, l.ID)
			next, err := catalog.Next(prev, l, n)
			if err != nil {
				return fmt.Errorf("store: leaf %d: %w", n, err)
			}
			if prev != nil && !prev.Retracted {
				p.garbage = append(p.garbage, prev.Digest)
			}
			p.changed[l.ID] = next
		case catalog.KindKeyStatement:
			if err := catalog.NextVersion(p.keyVersion, l); err != nil {
				return fmt.Errorf("store: leaf %d: %w", n, err)
			}
			// The leaf must record a statement the store holds or an
			// older one: its own, byte for byte, if of the same version
			// (Check verifies the same).
			if st := p.trust.Statement(); l.Version > st.Version {
				return fmt.Errorf("store: leaf %d records key statement version %d, but the store has version %d", n, l.Version, st.Version)
			} else if l.Version == st.Version && l.Digest != sha256.Sum256(p.trust.SignedStatement()) {
				return fmt.Errorf("store: leaf %d records another key statement than the version %d given", n, l.Version)
			}
			p.keyVersion = l.Version
		case catalog.KindMirrorList:
			if err := catalog.NextVersion(p.mirrorVersion, l); err != nil {
				return fmt.Errorf("store: leaf %d: %w", n, err)
			}
			p.mirrorVersion = l.Version
			p.mirrorLeaf, p.mirrorIndex = l, n
		}
	}
	return nil
}

// checkMirrorList checks the update's mirror list, if any, against the
// log's newest mirror-list leaf (the update's, else the stored one), and
// notes whether it is the list stored.
func (p *plan) checkMirrorList(pb *bolt.Bucket) error {
	if p.mirrors == nil {
		return nil
	}
	last := p.mirrorLeaf
	if last == nil {
		var err error
		if last, err = lastMirrorLeaf(pb); err != nil {
			return err
		}
	}
	if err := checkMirrorListLeaf(p.mirrors, p.u.MirrorList, last); err != nil {
		return fmt.Errorf("store: publisher %s: %w", p.id, err)
	}
	p.sameMirrors = pb != nil && bytes.Equal(pb.Get(keyMirrorList), p.u.MirrorList)
	return nil
}

// checkBundles checks that every bundle given is the current revision of
// an article of the log with the update's leaves, its digest the one the
// article's leaf records, and lists the bundles to write: those not held,
// once each, in the order given.
func (p *plan) checkBundles(bb, ab *bolt.Bucket) error {
	seen := make(map[bundle.Digest]bool, len(p.bundles))
	for i, b := range p.bundles {
		d := b.Digest
		if seen[d] {
			continue // given twice: checked or skipped the first time
		}
		seen[d] = true
		if bb.Get(d[:]) != nil {
			continue // already held
		}
		a := p.article(ab, b.Manifest.ID)
		if a == nil || a.Retracted || a.Digest != d || a.Revision != b.Manifest.Revision {
			return fmt.Errorf("store: bundle %s (%q revision %d) is not the current revision of an article in the log", d, b.Manifest.ID, b.Manifest.Revision)
		}
		p.write = append(p.write, d)
		p.raws = append(p.raws, p.u.Bundles[i])
	}
	return nil
}

// checkQuota works out what the publisher's bundles will take once the
// superseded ones are collected and the new ones stored, and checks it
// against quota (0: none).
func (p *plan) checkQuota(bb, pb *bolt.Bucket, quota int64) error {
	var used, freed, added int64
	if pb != nil {
		used = int64(getU64(pb, keyBytes))
	}
	for _, d := range p.garbage {
		if _, size, ok := bundleRecord(bb.Get(d[:])); ok {
			freed += size
		}
	}
	for _, raw := range p.raws {
		added += int64(len(raw))
	}
	p.bytes = used - freed + added
	if quota > 0 && added > 0 && p.bytes > quota {
		return fmt.Errorf("%w: publisher %s would use %d bytes, quota %d", ErrQuota, p.id, p.bytes, quota)
	}
	return nil
}

// write stores the plan's new bundle files and returns once they are
// durable. It first records their digests as intents, in a transaction of
// their own, and only then writes the files under their final names, a
// few at once, and makes them durable with one syncfs. Until commit
// records them they are files no record names, which nothing reads; if
// Apply stops before commit, the next Open removes the files the intents
// name and no record holds. So a crash at any moment leaves every recorded
// file whole, and cleaning up after it costs one batch, not the store. On
// an error, write removes what it wrote.
func (s *Store) write(p *plan) error {
	if len(p.write) == 0 {
		return nil
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bktIntents)
		for _, d := range p.write {
			if err := ib.Put(d[:], nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: recording the bundles to write: %w", err)
	}
	if err := s.writeBundles(p.write, p.raws); err != nil {
		s.abandon(p.write)
		return err
	}
	return nil
}

// commit records the plan in one bbolt transaction, which also drops the
// intents of the files write stored, and returns what changed.
func (s *Store) commit(p *plan) (*Result, error) {
	u := p.u
	res := &Result{Size: p.oldSize + int64(len(u.Leaves)), LeavesAdded: len(u.Leaves), BundlesAdded: len(p.write), Statement: p.newStatement}
	err := s.db.Update(func(tx *bolt.Tx) error {
		pb, err := tx.Bucket(bktPubs).CreateBucketIfNotExists([]byte(p.id))
		if err != nil {
			return err
		}
		lb, err1 := pb.CreateBucketIfNotExists(bktLeaves)
		hb, err2 := pb.CreateBucketIfNotExists(bktHashes)
		ab, err3 := pb.CreateBucketIfNotExists(bktArticles)
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		put := func(b *bolt.Bucket, k, v []byte) {
			if err == nil {
				err = b.Put(k, v)
			}
		}
		del := func(b *bolt.Bucket, k []byte) {
			if err == nil {
				err = b.Delete(k)
			}
		}
		put(pb, keyRoot, []byte(p.root.String()))
		if p.newStatement || p.have == nil {
			put(pb, keyStatement, p.trust.SignedStatement())
		}
		if p.newCP != nil && (p.oldCP == nil || p.newCP.Size > p.oldCP.Size || p.newCP.Time.After(p.oldCP.Time)) {
			put(pb, keyCheckpoint, u.Checkpoint)
			res.Checkpoint = true
		}
		for i, raw := range u.Leaves {
			put(lb, u64(uint64(p.oldSize+int64(i))), raw)
		}
		base := tlog.StoredHashCount(p.oldSize)
		for i, h := range p.hashes {
			put(hb, u64(uint64(base+int64(i))), h[:])
		}
		put(pb, keySize, u64(uint64(res.Size)))
		put(pb, keyKeyVersion, u64(p.keyVersion))
		put(pb, keyMirrorVer, u64(p.mirrorVersion))
		if p.mirrorLeaf != nil {
			put(pb, keyMirrorLeaf, u64(uint64(p.mirrorIndex)))
		}
		switch {
		case p.mirrors != nil && !p.sameMirrors:
			put(pb, keyMirrorList, u.MirrorList)
			res.MirrorList = true
		case p.mirrors == nil && p.mirrorLeaf != nil:
			del(pb, keyMirrorList) // superseded, its list not given
		}
		// In key order: bbolt splits a bucket's pages only when the
		// transaction commits, so keys put in a map's random order land
		// in the same few nodes, each put moving the keys after it, and
		// an Apply of k new articles cost O(k²) (red team, issue 10:
		// 113 s for 65,536 leaves); put in order they are appended.
		for _, name := range sortedKeys(p.changed) {
			put(ab, []byte(name), encodeArticle(p.changed[name]))
		}
		if len(p.index) > 0 {
			xb, err := pb.CreateBucketIfNotExists(bktIndex)
			if err != nil {
				return err
			}
			keys := sortedKeys(p.index)
			if len(p.leaves) > 0 {
				if err := keepIndexHistory(pb, xb, p.index, keys, p.oldSize, res.Size, s.now()); err != nil {
					return err
				}
			}
			for _, k := range keys {
				put(xb, []byte(k), p.index[k])
			}
		}
		bb, gb, ib := tx.Bucket(bktBundles), tx.Bucket(bktGarbage), tx.Bucket(bktIntents)
		for i, d := range p.write {
			put(bb, d[:], binary.BigEndian.AppendUint64([]byte(p.id), uint64(len(p.raws[i]))))
			del(ib, d[:])
			if gb.Get(d[:]) != nil {
				// Its old file, written again: not to be collected.
				del(gb, d[:])
			}
		}
		put(pb, keyBytes, u64(uint64(p.bytes)))
		for _, d := range p.garbage {
			if bb.Get(d[:]) != nil {
				put(gb, d[:], nil)
				del(bb, d[:])
			}
		}
		return err
	})
	if err != nil {
		// The files stay, and their intents: a commit that failed may
		// still have reached the disk (bbolt writes its meta page before
		// the sync that failed), and the next Open keeps what it records
		// and removes the rest.
		return nil, fmt.Errorf("store: committing: %w", err)
	}
	return res, nil
}

// beforeCommit, when set (by tests), runs between the durable write of an
// update's bundle files and the transaction that records them: the window
// a crash leaves unrecorded files in.
var beforeCommit func(*Store)

// writeBundles writes bundle files under their final names, a few at
// once, and makes them durable with one syncfs. A file left there by an
// interrupted write, which no record names, is overwritten.
func (s *Store) writeBundles(ds []bundle.Digest, raws [][]byte) error {
	if len(ds) == 0 {
		return nil
	}
	errs := make([]error, writers)
	next := atomic.Int64{}
	var wg gosync.WaitGroup
	for w := range min(writers, len(ds)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ds) && errs[w] == nil; i = int(next.Add(1) - 1) {
				errs[w] = s.writeBundle(ds[i], raws[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.syncfs()
}

// writers is how many bundle files writeBundles writes at once: file
// creation is mostly the kernel's work, which a second thread overlaps
// with the first one's waits.
const writers = 2

// writeBundle writes one bundle file, without syncing it.
func (s *Store) writeBundle(d bundle.Digest, raw []byte) error {
	f, err := os.OpenFile(s.bundlePath(d), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("store: writing bundle: %w", err)
	}
	_, err = f.Write(raw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: writing bundle %s: %w", d, err)
	}
	return nil
}

// abandon removes the files of a write that will not be committed, and
// then their intents. Both are best effort: what is left, the next Open
// removes.
func (s *Store) abandon(ds []bundle.Digest) {
	for _, d := range ds {
		if err := os.Remove(s.bundlePath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return // the intents stay, for Open
		}
	}
	if s.syncfs() != nil {
		return // the removals may not be durable: the intents stay
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bktIntents)
		for _, d := range ds {
			if err := ib.Delete(d[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("store: dropping the record of abandoned bundle files failed; retried at next open", "err", err)
	}
}

// syncfs flushes the file system holding the store: one call makes a whole
// batch of bundle files, their data and their names, durable.
func (s *Store) syncfs() error {
	f, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("store: syncfs: %w", err)
	}
	return nil
}

// verifyAll verifies bundles in parallel, one goroutine per core, and
// returns them in order, or the error of the first that fails.
func verifyAll(raws [][]byte, trust *keys.Trust, lim *bundle.Limits) ([]*bundle.Bundle, error) {
	out := make([]*bundle.Bundle, len(raws))
	errs := make([]error, len(raws))
	parallel(len(raws), func(i int) {
		out[i], errs[i] = bundle.Verify(raws[i], trust, &bundle.OpenOptions{Limits: lim})
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parallel calls fn(i) for every i in [0, n), on GOMAXPROCS goroutines at
// most, each taking the next i when it is done with one, and returns when
// every call has returned. fn writes its result to slot i of something
// the caller made, so that the results come out in order.
func parallel(n int, fn func(i int)) {
	next := atomic.Int64{}
	var wg gosync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// sortedKeys returns m's keys in ascending order, the order in which a
// transaction puts them cheaply.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
