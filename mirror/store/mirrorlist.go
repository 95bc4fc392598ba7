package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// keyMirrorList holds a publisher's latest signed mirror list.
var keyMirrorList = []byte("mirror-list")

// MirrorList returns the publisher's latest signed mirror list, the one
// that the log's newest mirror-list leaf records, as the publisher signed
// it. It returns an error wrapping ErrNotFound when the store holds no list:
// the log has no mirror-list leaf, or the store holds the leaf but not yet
// its list (a mirror in the middle of a sync, or one whose peer does not
// carry lists). The store never holds a list that a newer leaf superseded.
// It is safe for concurrent use.
func (s *Store) MirrorList(pub string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		v := b.Get(keyMirrorList)
		if v == nil {
			return fmt.Errorf("%w: mirror list of publisher %s", ErrNotFound, pub)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// lastMirrorLeaf returns the newest mirror-list leaf among a publisher's
// stored leaves, or nil if there is none: the one whose index Apply
// recorded, or, in a store written before it recorded one, the first
// found reading the log backwards.
func lastMirrorLeaf(pb *bolt.Bucket) (*catalog.Leaf, error) {
	if pb == nil || getU64(pb, keyMirrorVer) == 0 {
		return nil, nil
	}
	lb := pb.Bucket(bktLeaves)
	if lb == nil {
		return nil, nil
	}
	if v := pb.Get(keyMirrorLeaf); len(v) == 8 {
		raw := lb.Get(v)
		l, err := catalog.ParseLeaf(raw)
		if err != nil || l.Kind != catalog.KindMirrorList {
			return nil, fmt.Errorf("store: the recorded mirror-list leaf is damaged or of another kind")
		}
		return l, nil
	}
	c := lb.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if len(v) == 0 || catalog.Kind(v[0]) != catalog.KindMirrorList {
			continue
		}
		l, err := catalog.ParseLeaf(v)
		if err != nil {
			return nil, fmt.Errorf("store: damaged mirror-list leaf: %w", err)
		}
		return l, nil
	}
	return nil, nil
}

// checkMirrorListLeaf checks that a signed mirror list is the one the
// log's newest mirror-list leaf records. Its errors have no package prefix.
func checkMirrorListLeaf(m *catalog.MirrorList, signed []byte, last *catalog.Leaf) error {
	if last == nil {
		return errors.New("mirror list given, but the log records none")
	}
	if m.Version != last.Version || sha256.Sum256(signed) != last.Digest {
		return fmt.Errorf("mirror list version %d is not the one the log's newest mirror-list leaf (version %d) records", m.Version, last.Version)
	}
	return nil
}

// auditMirrorList checks the publisher's stored mirror list, if any,
// against its trust and last, the newest mirror-list leaf of the log.
func (s *Store) auditMirrorList(id string, trust *keys.Trust, last *catalog.Leaf) error {
	signed, err := s.MirrorList(id)
	if errors.Is(err, ErrNotFound) {
		return nil // the list has not arrived yet, or there is none
	}
	if err != nil {
		return err
	}
	m, err := catalog.OpenMirrorList(signed, trust)
	if err != nil {
		return err
	}
	return checkMirrorListLeaf(m, signed, last)
}

// MirrorListLeaf returns the newest mirror-list leaf of the publisher's
// log, or an error wrapping ErrNotFound if the log has none. It is safe for
// concurrent use.
func (s *Store) MirrorListLeaf(pub string) (*catalog.Leaf, error) {
	var l *catalog.Leaf
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		var err error
		if l, err = lastMirrorLeaf(b); err == nil && l == nil {
			err = fmt.Errorf("%w: mirror-list leaf of publisher %s", ErrNotFound, pub)
		}
		return err
	})
	return l, err
}
