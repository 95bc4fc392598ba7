package publish

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Mirrors returns the publisher's current mirror list as the store holds
// it, or nil if the publisher has not signed one.
func (p *Publisher) Mirrors() (*catalog.MirrorList, error) {
	signed, err := p.store.MirrorList(p.trust.PublisherID())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	old, err := p.store.Trust(p.trust.Root())
	if err != nil {
		return nil, err
	}
	// Read under the statement the store holds, which accepted it; a
	// newer statement given to New may revoke its key.
	return catalog.OpenMirrorList(signed, old)
}

// SetMirrors is SetMirrorList with the verifier page hashes of the
// current list (none if there is no list).
func (p *Publisher) SetMirrors(urls []string) (*catalog.MirrorList, error) {
	cur, err := p.Mirrors()
	if err != nil {
		return nil, err
	}
	var verifiers [][sha256.Size]byte
	if cur != nil {
		verifiers = cur.Verifiers
	}
	return p.SetMirrorList(urls, verifiers)
}

// SetMirrorList signs a mirror list of urls, in that order, that vouches
// for the verifier pages whose SHA-256 are verifiers, one version above
// the log's newest, records it in the log with a new signed checkpoint,
// and stores it. When the current list already holds exactly urls and
// verifiers, nothing is signed and the current list is returned. A new
// key statement is carried to the store first, as Publish does.
func (p *Publisher) SetMirrorList(urls []string, verifiers [][sha256.Size]byte) (*catalog.MirrorList, error) {
	if _, err := p.Publish(nil); err != nil {
		return nil, err
	}
	cur, err := p.Mirrors()
	if err != nil {
		return nil, err
	}
	if cur != nil && slices.Equal(cur.URLs, urls) && slices.Equal(cur.Verifiers, verifiers) {
		return cur, nil
	}
	now := p.opts.Now().UTC().Truncate(time.Second)
	u := &store.Update{}
	var leaves []*catalog.Leaf
	m, err := p.mirrorListLeaf(u, &leaves, &catalog.MirrorList{URLs: urls, Verifiers: verifiers}, now)
	if err != nil {
		return nil, err
	}
	if err := p.commit(u, leaves, now); err != nil {
		return nil, err
	}
	return m, nil
}

// mirrorListLeaf signs a mirror list of the URLs and verifier hashes of
// list, one version above the log's newest, at now, and adds it and its
// leaf to the update.
func (p *Publisher) mirrorListLeaf(u *store.Update, leaves *[]*catalog.Leaf, list *catalog.MirrorList, now time.Time) (*catalog.MirrorList, error) {
	var version uint64
	switch l, err := p.store.MirrorListLeaf(p.trust.PublisherID()); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		version = l.Version
	}
	if version == 1<<64-1 {
		return nil, errors.New("publish: mirror list version is at its maximum")
	}
	m := &catalog.MirrorList{Version: version + 1, Time: now, URLs: slices.Clone(list.URLs), Verifiers: slices.Clone(list.Verifiers)}
	signed, err := m.Sign(p.signer, p.trust.PublisherID())
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	u.MirrorList = signed
	*leaves = append(*leaves, &catalog.Leaf{Kind: catalog.KindMirrorList, Version: m.Version, Digest: sha256.Sum256(signed)})
	return m, nil
}

// resignMirrors signs the current mirror list again, as a new version, when
// the publisher's key statement no longer accepts the stored one (its key
// was revoked or its delegation ended), so that the store never holds a
// list its own statement refuses.
func (p *Publisher) resignMirrors(u *store.Update, leaves *[]*catalog.Leaf, now time.Time) error {
	signed, err := p.store.MirrorList(p.trust.PublisherID())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := catalog.OpenMirrorList(signed, p.trust); err == nil {
		return nil
	}
	cur, err := p.Mirrors()
	if err != nil {
		return fmt.Errorf("publish: re-signing the mirror list: %w", err)
	}
	_, err = p.mirrorListLeaf(u, leaves, cur, now)
	return err
}

// Refresh signs a new checkpoint of the log as it is, at the current time:
// a heartbeat that lets readers tell a quiet publisher from a mirror that
// froze its copy. It returns the checkpoint the store holds afterwards;
// when the clock has not passed the stored checkpoint's time, that is the
// stored one. A new key statement is carried to the store first, as
// Publish does.
func (p *Publisher) Refresh() (*catalog.Checkpoint, error) {
	if _, err := p.Publish(nil); err != nil {
		return nil, err
	}
	id := p.trust.PublisherID()
	have, err := p.store.Publisher(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && have.Checkpoint == nil {
		return nil, fmt.Errorf("publish: publisher %s has no log in the store yet: publish first", id)
	}
	if err != nil {
		return nil, err
	}
	now := p.opts.Now().UTC().Truncate(time.Second)
	cp, err := p.nextCheckpoint(nil)
	if err != nil {
		return nil, err
	}
	cp.Time = now
	if old, err := storedCheckpoint(have.Checkpoint); err == nil && !now.After(old.Time) {
		return old, nil
	}
	signed, err := cp.Sign(p.signer)
	if err != nil {
		return nil, err
	}
	if _, err := p.store.Apply(p.trust.Root(), &store.Update{Checkpoint: signed}); err != nil {
		return nil, err
	}
	return cp, nil
}

// storedCheckpoint parses a checkpoint the store verified when it stored
// it, without verifying it again: a newer statement may revoke its key.
func storedCheckpoint(signed []byte) (*catalog.Checkpoint, error) {
	return catalog.ParseUnverified(signed)
}
