// Package publish is the publisher's side of a store: it builds and signs
// bundles, appends them to the publisher's catalog with a new signed
// checkpoint, and retracts articles. Everything it writes goes through
// store.Apply, which verifies it as a mirror would.
package publish

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Publisher publishes into a store with a signing key.
// It is not safe for concurrent use; the store serializes writers.
type Publisher struct {
	store  *store.Store
	trust  *keys.Trust
	signer *keys.PrivateKey
	opts   Options
}

// Options tunes a Publisher. The zero value is the defaults.
type Options struct {
	// Now gives the signing time; nil means time.Now.
	Now func() time.Time
	// Build tunes bundle building; nil means bundle's defaults.
	Build *bundle.BuildOptions
}

// New returns a publisher for the publisher whose root key is root and
// whose signed key statement delegates signer.
func New(st *store.Store, root *keys.PublicKey, statement []byte, signer *keys.PrivateKey, opts *Options) (*Publisher, error) {
	trust, err := keys.NewTrust(root, statement)
	if err != nil {
		return nil, err
	}
	if _, err := trust.SigningKey(signer.Public().Ed25519()); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	p := &Publisher{store: st, trust: trust, signer: signer}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.Now == nil {
		p.opts.Now = time.Now
	}
	return p, nil
}

// Item is one article to publish. Meta.Revision is ignored: the next
// revision is chosen. A zero Meta.Created means the first revision's
// publication time (or now, for a new article); a zero Meta.Updated means
// now.
type Item struct {
	Meta  bundle.Metadata
	Files []bundle.File
}

// Result is one published article.
type Result struct {
	ID        string
	Revision  uint64
	Digest    bundle.Digest
	Unchanged bool // the article's current revision already has this content
}

// Publish builds, signs and stores the items as one update of the catalog.
// An item whose content and metadata equal its current revision's is
// reported Unchanged and not published again.
func (p *Publisher) Publish(items []Item) ([]Result, error) {
	now := p.opts.Now().UTC().Truncate(time.Second)
	u := &store.Update{}
	var leaves []*catalog.Leaf
	if err := p.keyStatementLeaf(u, &leaves); err != nil {
		return nil, err
	}
	results := make([]Result, len(items))
	batch := map[string]*catalog.Leaf{}
	for i, it := range items {
		meta := it.Meta
		if err := bundle.CheckID(meta.ID); err != nil {
			return nil, err
		}
		if batch[meta.ID] != nil {
			return nil, fmt.Errorf("publish: article %q given twice", meta.ID)
		}
		prev, prevBundle, err := p.current(meta.ID)
		if err != nil {
			return nil, err
		}
		meta.Revision = 1
		if prev != nil {
			meta.Revision = prev.Revision + 1
		}
		if meta.Updated.IsZero() {
			meta.Updated = now
		}
		if meta.Created.IsZero() {
			meta.Created = meta.Updated
			if prevBundle != nil {
				meta.Created = prevBundle.Manifest.Created
			}
		}
		if meta.Created.After(meta.Updated) {
			return nil, fmt.Errorf("publish: %q: publication date %s is after the signing time %s", meta.ID, meta.Created.Format(time.RFC3339), meta.Updated.Format(time.RFC3339))
		}
		data, err := bundle.Build(meta, it.Files, p.trust.Root(), p.signer, p.opts.Build)
		if err != nil {
			return nil, fmt.Errorf("publish: %q: %w", meta.ID, err)
		}
		b, err := bundle.Open(data, p.trust, nil)
		if err != nil {
			return nil, fmt.Errorf("publish: %q: built bundle does not verify: %w", meta.ID, err)
		}
		if prevBundle != nil && sameContent(prevBundle.Manifest, b.Manifest) {
			results[i] = Result{ID: meta.ID, Revision: prev.Revision, Digest: prev.Digest, Unchanged: true}
			continue
		}
		l := &catalog.Leaf{Kind: catalog.KindBundle, ID: meta.ID, Revision: meta.Revision, Digest: b.Digest}
		batch[meta.ID] = l
		leaves = append(leaves, l)
		u.Bundles = append(u.Bundles, data)
		results[i] = Result{ID: meta.ID, Revision: meta.Revision, Digest: b.Digest}
	}
	if err := p.commit(u, leaves, now); err != nil {
		return nil, err
	}
	return results, nil
}

// Retract withdraws an article: a retraction leaf is appended and the
// bundle's payload deleted; the article's earlier leaves stay in the log.
func (p *Publisher) Retract(id string) error {
	a, err := p.store.Article(p.trust.PublisherID(), id)
	if err != nil {
		return err
	}
	if a.Retracted {
		return fmt.Errorf("publish: %q was already retracted", id)
	}
	now := p.opts.Now().UTC().Truncate(time.Second)
	u := &store.Update{}
	var leaves []*catalog.Leaf
	if err := p.keyStatementLeaf(u, &leaves); err != nil {
		return err
	}
	leaves = append(leaves, &catalog.Leaf{Kind: catalog.KindRetraction, ID: id, Revision: a.Revision, Time: now})
	return p.commit(u, leaves, now)
}

// keyStatementLeaf adds the key statement to the update, with a leaf
// recording it, when the store does not have it yet.
func (p *Publisher) keyStatementLeaf(u *store.Update, leaves *[]*catalog.Leaf) error {
	have, err := p.store.Publisher(p.trust.PublisherID())
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		old, err := keys.NewTrust(p.trust.Root(), have.Statement)
		if err != nil {
			return err
		}
		if old.Statement().Version > p.trust.Statement().Version {
			return fmt.Errorf("publish: the store has key statement version %d, newer than the %d given", old.Statement().Version, p.trust.Statement().Version)
		}
		if bytes.Equal(have.Statement, p.trust.SignedStatement()) {
			return nil
		}
	}
	signed := p.trust.SignedStatement()
	u.Statement = signed
	*leaves = append(*leaves, &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: p.trust.Statement().Version, Digest: sha256.Sum256(signed)})
	return nil
}

// commit signs a checkpoint over the log with leaves appended and applies
// the update.
func (p *Publisher) commit(u *store.Update, leaves []*catalog.Leaf, now time.Time) error {
	if len(leaves) == 0 {
		return nil
	}
	for _, l := range leaves {
		u.Leaves = append(u.Leaves, l.Encode())
	}
	id := p.trust.PublisherID()
	size, root, err := p.store.NextRoot(id, u.Leaves)
	if err != nil {
		return err
	}
	if have, err := p.store.Publisher(id); err == nil && have.Checkpoint != nil {
		if old, err := catalog.OpenCheckpoint(have.Checkpoint, p.trust); err == nil && old.Time.After(now) {
			now = old.Time // never sign a checkpoint older than the last
		}
	}
	cp := &catalog.Checkpoint{Origin: catalog.Origin(id), Size: size, Root: root, Time: now}
	if u.Checkpoint, err = cp.Sign(p.signer); err != nil {
		return err
	}
	_, err = p.store.Apply(p.trust.Root(), u)
	return err
}

// current returns the article's state and, if it is not retracted, its
// current bundle.
func (p *Publisher) current(id string) (*catalog.Article, *bundle.Bundle, error) {
	a, err := p.store.Article(p.trust.PublisherID(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil || a.Retracted {
		return a, nil, err
	}
	data, err := p.store.Bundle(a.Digest)
	if err != nil {
		return nil, nil, err
	}
	b, err := bundle.Open(data, p.trust, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: stored bundle of %q: %w", id, err)
	}
	return a, b, nil
}

// sameContent reports whether two manifests carry the same article: the
// same entries and metadata, whatever their revision and signing time.
func sameContent(a, b *bundle.Manifest) bool {
	return a.Title == b.Title && a.Language == b.Language && a.CanonicalURL == b.CanonicalURL &&
		a.Created.Equal(b.Created) && slices.Equal(a.Authors, b.Authors) && a.Dictionary == b.Dictionary &&
		slices.EqualFunc(a.Entries, b.Entries, func(x, y bundle.EntryInfo) bool {
			return x.Name == y.Name && x.Type == y.Type && x.SHA256 == y.SHA256
		})
}
