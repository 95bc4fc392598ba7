package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
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
func (s *Store) Apply(root *keys.PublicKey, u *Update) (*Result, error) {
	if s.readOnly {
		return nil, errors.New("store: opened read-only")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	id := root.ID()
	res := &Result{}

	// The stored state, read once; only this goroutine writes.
	var have *Publisher
	var trust *keys.Trust
	switch p, err := s.Publisher(id); {
	case errors.Is(err, ErrNotFound):
		if u.Statement == nil {
			return nil, fmt.Errorf("store: publisher %s: first update needs a key statement", id)
		}
	case err != nil:
		return nil, err
	default:
		have = p
		if !p.Root.Equal(root) {
			return nil, fmt.Errorf("store: publisher %s is stored under root key %s, not %s", id, p.Root, root)
		}
		if trust, err = keys.NewTrust(root, p.Statement); err != nil {
			return nil, fmt.Errorf("store: publisher %s: stored key statement: %w", id, err)
		}
	}

	// The stored checkpoint was verified when it was stored. It is read
	// as stored, not verified again: the key statement below may revoke
	// the key that signed it, and that must not stop the log from growing.
	var oldSize int64
	var oldCP *catalog.Checkpoint
	if have != nil {
		oldSize = have.Size
		if have.Checkpoint != nil {
			var err error
			if oldCP, err = storedCheckpoint(have.Checkpoint); err != nil {
				return nil, fmt.Errorf("store: publisher %s: stored checkpoint: %w", id, err)
			}
		}
	}

	// 1. Key statement.
	if u.Statement != nil {
		var next *keys.Trust
		var err error
		if trust == nil {
			next, err = keys.NewTrust(root, u.Statement)
		} else {
			next, err = trust.Update(u.Statement)
		}
		if err != nil {
			return nil, err
		}
		if trust == nil || next.Statement().Version > trust.Statement().Version {
			res.Statement = true
		}
		trust = next
	}

	// 2. Leaves and checkpoint.
	var newCP *catalog.Checkpoint
	if u.Checkpoint != nil {
		var err error
		if newCP, err = catalog.OpenCheckpoint(u.Checkpoint, trust); err != nil {
			return nil, err
		}
	} else if len(u.Leaves) > 0 {
		return nil, fmt.Errorf("store: %d leaves without a checkpoint", len(u.Leaves))
	}

	leaves := make([]*catalog.Leaf, len(u.Leaves))
	for i, raw := range u.Leaves {
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			return nil, fmt.Errorf("store: leaf %d: %w", oldSize+int64(i), err)
		}
		leaves[i] = l
	}

	var pendingHashes []tlog.Hash
	changed := map[string]*catalog.Article{}
	var garbage []bundle.Digest
	keyVersion, mirrorVersion := uint64(0), uint64(0)
	var bundleDigests = map[bundle.Digest]*catalog.Article{}
	var used, freed, added int64 // bytes of the publisher's bundles

	// The mirror list is verified under the key statement after the
	// update, then checked against the log in the transaction below.
	var mirrors *catalog.MirrorList
	if u.MirrorList != nil {
		var err error
		if mirrors, err = catalog.OpenMirrorList(u.MirrorList, trust); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	var newMirrorLeaf *catalog.Leaf // the newest mirror-list leaf of the update
	var newMirrorIndex int64        // and its index in the log
	sameMirrors := false            // the update's list is the one stored

	// Bundles are verified on every core before the transaction that
	// checks them against the log.
	verified, err := verifyAll(u.Bundles, trust, s.lim)
	if err != nil {
		return nil, err
	}

	err = s.db.View(func(tx *bolt.Tx) error {
		var pb, hb, ab *bolt.Bucket
		if pb = tx.Bucket(bktPubs).Bucket([]byte(id)); pb != nil {
			hb, ab = pb.Bucket(bktHashes), pb.Bucket(bktArticles)
			keyVersion, mirrorVersion = getU64(pb, keyKeyVersion), getU64(pb, keyMirrorVer)
		}
		article := func(name string) *catalog.Article {
			if a, ok := changed[name]; ok {
				return a
			}
			if ab == nil {
				return nil
			}
			return decodeArticle(name, ab.Get([]byte(name)))
		}
		if newCP != nil {
			if err := s.checkTree(id, have, oldCP, newCP, u.Checkpoint, oldSize, len(leaves)); err != nil {
				return err
			}
			base := tlog.StoredHashCount(oldSize)
			for i, raw := range u.Leaves {
				hs, err := tlog.StoredHashes(oldSize+int64(i), raw, hashReader(hb, base, pendingHashes))
				if err != nil {
					return fmt.Errorf("store: %w", err)
				}
				pendingHashes = append(pendingHashes, hs...)
			}
			if len(leaves) > 0 || oldSize > 0 {
				th, err := tlog.TreeHash(newCP.Size, hashReader(hb, base, pendingHashes))
				if err != nil {
					return fmt.Errorf("store: %w", err)
				}
				if th != newCP.Root {
					return &ForkError{Publisher: id, Have: have.checkpoint(), Got: u.Checkpoint,
						Reason: fmt.Sprintf("checkpoint root for size %d does not match the log's leaves", newCP.Size)}
				}
			} else if newCP.Root != (tlog.Hash{}) && newCP.Size == 0 {
				return fmt.Errorf("store: empty log with a non-empty root")
			}
		}
		for i, l := range leaves {
			n := oldSize + int64(i)
			switch l.Kind {
			case catalog.KindBundle, catalog.KindRetraction:
				prev := article(l.ID)
				next, err := catalog.Next(prev, l, n)
				if err != nil {
					return fmt.Errorf("store: leaf %d: %w", n, err)
				}
				if prev != nil && !prev.Retracted {
					garbage = append(garbage, prev.Digest)
				}
				changed[l.ID] = next
			case catalog.KindKeyStatement:
				if err := catalog.NextVersion(keyVersion, l); err != nil {
					return fmt.Errorf("store: leaf %d: %w", n, err)
				}
				// The leaf must record a statement the store holds or
				// an older one: its own, byte for byte, if of the same
				// version (Check verifies the same).
				if st := trust.Statement(); l.Version > st.Version {
					return fmt.Errorf("store: leaf %d records key statement version %d, but the store has version %d", n, l.Version, st.Version)
				} else if l.Version == st.Version && l.Digest != sha256.Sum256(trust.SignedStatement()) {
					return fmt.Errorf("store: leaf %d records another key statement than the version %d given", n, l.Version)
				}
				keyVersion = l.Version
			case catalog.KindMirrorList:
				if err := catalog.NextVersion(mirrorVersion, l); err != nil {
					return fmt.Errorf("store: leaf %d: %w", n, err)
				}
				mirrorVersion = l.Version
				newMirrorLeaf = l
				newMirrorIndex = n
			}
		}
		if mirrors != nil {
			last := newMirrorLeaf
			if last == nil {
				var err error
				if last, err = lastMirrorLeaf(pb); err != nil {
					return err
				}
			}
			if err := checkMirrorListLeaf(mirrors, u.MirrorList, last); err != nil {
				return fmt.Errorf("store: publisher %s: %w", id, err)
			}
			sameMirrors = pb != nil && bytes.Equal(pb.Get(keyMirrorList), u.MirrorList)
		}
		for i, raw := range u.Bundles {
			b := verified[i]
			d := b.Digest
			if _, dup := bundleDigests[d]; dup {
				continue // given twice: checked or skipped the first time
			}
			if tx.Bucket(bktBundles).Get(d[:]) != nil {
				bundleDigests[d] = nil // already held
				continue
			}
			a := article(b.Manifest.ID)
			if a == nil || a.Retracted || a.Digest != d || a.Revision != b.Manifest.Revision {
				return fmt.Errorf("store: bundle %s (%q revision %d) is not the current revision of an article in the log", d, b.Manifest.ID, b.Manifest.Revision)
			}
			bundleDigests[d] = a
			added += int64(len(raw))
		}
		// Quota: what the publisher's bundles will take once superseded
		// ones are collected and the new ones stored.
		bb := tx.Bucket(bktBundles)
		for _, d := range garbage {
			if _, size, ok := bundleRecord(bb.Get(d[:])); ok {
				freed += size
			}
		}
		if pb != nil {
			used = int64(getU64(pb, keyBytes))
		}
		if s.quota > 0 && added > 0 && used-freed+added > s.quota {
			return fmt.Errorf("%w: publisher %s would use %d bytes, quota %d", ErrQuota, id, used-freed+added, s.quota)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 3. Bundle files: written under their final names, then made durable
	// with one syncfs before the transaction that records them commits.
	// Until it commits they are files no record names, which Open
	// removes: a crash at any moment leaves every recorded file whole.
	var written []bundle.Digest
	var raws [][]byte
	for i, raw := range u.Bundles {
		d := verified[i].Digest
		if bundleDigests[d] == nil {
			continue
		}
		bundleDigests[d] = nil // written once, however often given
		written = append(written, d)
		raws = append(raws, raw)
	}
	if err := s.writeBundles(written, raws); err != nil {
		s.removeFiles(written)
		return nil, err
	}
	sizes := make(map[bundle.Digest]int, len(written))
	for i, d := range written {
		sizes[d] = len(raws[i])
	}
	if beforeCommit != nil {
		beforeCommit(s)
	}

	// 4. One transaction for everything the database records.
	err = s.db.Update(func(tx *bolt.Tx) error {
		pb, err := tx.Bucket(bktPubs).CreateBucketIfNotExists([]byte(id))
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
		put(pb, keyRoot, []byte(root.String()))
		if res.Statement || have == nil {
			put(pb, keyStatement, trust.SignedStatement())
		}
		if newCP != nil && (oldCP == nil || newCP.Size > oldCP.Size || newCP.Time.After(oldCP.Time)) {
			put(pb, keyCheckpoint, u.Checkpoint)
			res.Checkpoint = true
		}
		for i, raw := range u.Leaves {
			put(lb, u64(uint64(oldSize+int64(i))), raw)
		}
		base := tlog.StoredHashCount(oldSize)
		for i, h := range pendingHashes {
			put(hb, u64(uint64(base+int64(i))), h[:])
		}
		put(pb, keySize, u64(uint64(oldSize+int64(len(u.Leaves)))))
		put(pb, keyKeyVersion, u64(keyVersion))
		put(pb, keyMirrorVer, u64(mirrorVersion))
		if newMirrorLeaf != nil {
			put(pb, keyMirrorLeaf, u64(uint64(newMirrorIndex)))
		}
		switch {
		case mirrors != nil && !sameMirrors:
			put(pb, keyMirrorList, u.MirrorList)
			res.MirrorList = true
		case mirrors == nil && newMirrorLeaf != nil && err == nil:
			err = pb.Delete(keyMirrorList) // superseded, its list not given
		}
		for name, a := range changed {
			put(ab, []byte(name), encodeArticle(a))
		}
		bb, gb := tx.Bucket(bktBundles), tx.Bucket(bktGarbage)
		for _, d := range written {
			put(bb, d[:], binary.BigEndian.AppendUint64([]byte(id), uint64(sizes[d])))
			if err == nil && gb.Get(d[:]) != nil {
				// Its old file, written again: not to be collected.
				err = gb.Delete(d[:])
			}
		}
		put(pb, keyBytes, u64(uint64(used-freed+added)))
		for _, d := range garbage {
			if bb.Get(d[:]) != nil {
				put(gb, d[:], nil)
				if err == nil {
					err = bb.Delete(d[:])
				}
			}
		}
		return err
	})
	if err != nil {
		// The files are unreferenced; removing them keeps the store tidy.
		s.removeFiles(written)
		return nil, fmt.Errorf("store: committing: %w", err)
	}
	res.Size = oldSize + int64(len(u.Leaves))
	res.LeavesAdded = len(u.Leaves)
	res.BundlesAdded = len(written)
	if len(garbage) > 0 {
		if err := s.collectGarbage(); err != nil {
			s.log.Warn("store: garbage collection failed; retried at next open", "err", err)
		}
	}
	if s.onChange != nil && (res.LeavesAdded > 0 || res.BundlesAdded > 0 || res.Statement || res.Checkpoint || res.MirrorList) {
		s.onChange(id)
	}
	s.log.Debug("store: applied update", "publisher", id, "size", res.Size, "leaves", res.LeavesAdded, "bundles", res.BundlesAdded)
	return res, nil
}

// storedCheckpoint parses the text of a signed checkpoint that the store
// verified when it stored it, without verifying its signature again.
func storedCheckpoint(signed []byte) (*catalog.Checkpoint, error) {
	return catalog.ParseUnverified(signed)
}

func (p *Publisher) checkpoint() []byte {
	if p == nil {
		return nil
	}
	return p.Checkpoint
}

// checkTree checks the new checkpoint's size and time against the store's.
func (s *Store) checkTree(id string, have *Publisher, oldCP, newCP *catalog.Checkpoint, raw []byte, oldSize int64, added int) error {
	want := oldSize + int64(added)
	if newCP.Size != want {
		if newCP.Size < oldSize {
			return fmt.Errorf("%w: publisher %s: checkpoint of size %d, store has %d leaves", ErrStale, id, newCP.Size, oldSize)
		}
		return fmt.Errorf("store: publisher %s: checkpoint of size %d does not cover the %d stored and %d new leaves", id, newCP.Size, oldSize, added)
	}
	if oldCP != nil && newCP.Time.Before(oldCP.Time) {
		if added == 0 && newCP.Root != oldCP.Root {
			return &ForkError{Publisher: id, Have: have.checkpoint(), Got: raw, Reason: fmt.Sprintf("two checkpoints of size %d with different roots", newCP.Size)}
		}
		return fmt.Errorf("%w: publisher %s: checkpoint time %s is before the stored %s", ErrStale, id, newCP.Time, oldCP.Time)
	}
	return nil
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

// removeFiles removes bundle files that no record names.
func (s *Store) removeFiles(ds []bundle.Digest) {
	for _, d := range ds {
		os.Remove(s.bundlePath(d))
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
	next := atomic.Int64{}
	var wg gosync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(raws)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(raws); i = int(next.Add(1) - 1) {
				out[i], errs[i] = bundle.Verify(raws[i], trust, &bundle.OpenOptions{Limits: lim})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
