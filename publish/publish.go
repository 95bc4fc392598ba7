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
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
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
	// IDGiven says that the publisher chose Meta.ID for this item
	// (samizdat publish --id), so that it may replace whatever article has
	// that id. When it is false the id was derived (from front matter, a
	// feed item, a URL or a file name), and Publish refuses to make the
	// item a revision of an article that looks like another one: see
	// IDTakenError.
	IDGiven bool
}

// IDTakenError is Publish's refusal of an item whose derived id (not
// Item.IDGiven) already belongs to another article: one whose canonical URL
// differs from the item's (one of the two may have none), or, when neither
// has a canonical URL, whose title differs. Two different pages that
// derive one id (a/source.html and b/source.html) are then refused rather
// than one made a silent revision of the other. An article that was
// retracted keeps no content to compare with, and is not refused.
type IDTakenError struct {
	ID           string
	CanonicalURL string // the existing article's; "" if it has none
	Title        string // the existing article's
}

func (e *IDTakenError) Error() string {
	owner := e.CanonicalURL
	if owner == "" {
		owner = `"` + e.Title + `" (no canonical URL)` // %q would escape Persian's joiners
	}
	return fmt.Sprintf("publish: article id %q already belongs to %s; give --id %s to replace it, or a different --id", e.ID, owner, e.ID)
}

// Result is one published article.
type Result struct {
	ID        string
	Revision  uint64
	Digest    bundle.Digest
	Unchanged bool // the article's current revision already has this content
	Resigned  bool // not asked for: signed again because its key is no longer trusted
}

// Publish builds, signs and stores the items as one update of the catalog.
// An item whose content and metadata equal its current revision's is
// reported Unchanged and not published again. An item whose derived id
// belongs to another article is refused with an *IDTakenError, and then
// none of the items is published: a caller that wants the others published
// leaves that one out and calls Publish again.
func (p *Publisher) Publish(items []Item) ([]Result, error) {
	now := p.opts.Now().UTC().Truncate(time.Second)
	u := &store.Update{}
	var leaves []*catalog.Leaf
	if err := p.keyStatementLeaf(u, &leaves); err != nil {
		return nil, err
	}
	asked := len(items)
	if u.Statement != nil {
		// A new key statement may revoke the key that signed articles
		// already in the store: sign them again in the same update, so
		// the store never holds an article its own statement refuses.
		again, err := p.untrusted(items, now)
		if err != nil {
			return nil, err
		}
		items = append(slices.Clip(items), again...)
		if err := p.resignMirrors(u, &leaves, now); err != nil {
			return nil, err
		}
	}
	results := make([]Result, len(items))
	seen := map[string]bool{}
	for i, it := range items {
		meta := it.Meta
		if err := bundle.CheckID(meta.ID); err != nil {
			return nil, err
		}
		if seen[meta.ID] {
			return nil, fmt.Errorf("publish: article %q given twice", meta.ID)
		}
		seen[meta.ID] = true
		prev, prevBundle, prevManifest, err := p.current(meta.ID)
		if err != nil {
			return nil, err
		}
		var prevCreated time.Time
		if m := prevManifest; m != nil {
			prevCreated = m.Created
			if !it.IDGiven && (m.CanonicalURL != meta.CanonicalURL || m.CanonicalURL == "" && m.Title != meta.Title) {
				return nil, &IDTakenError{ID: meta.ID, CanonicalURL: m.CanonicalURL, Title: m.Title}
			}
		}
		meta.Revision = 1
		if prev != nil {
			meta.Revision = prev.Revision + 1
		}
		signedNow := meta.Updated.IsZero()
		if signedNow {
			meta.Updated = now
		}
		if meta.Created.IsZero() {
			meta.Created = meta.Updated
			if !prevCreated.IsZero() {
				meta.Created = prevCreated
				if signedNow {
					// A clock behind the first publication signs at it.
					meta.Updated = later(meta.Updated, prevCreated)
				}
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
		leaves = append(leaves, l)
		u.Bundles = append(u.Bundles, data)
		results[i] = Result{ID: meta.ID, Revision: meta.Revision, Digest: b.Digest, Resigned: i >= asked}
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
	// Carry a new key statement first, re-signing what it no longer
	// accepts, as Publish does.
	if _, err := p.Publish(nil); err != nil {
		return err
	}
	now := p.opts.Now().UTC().Truncate(time.Second)
	var leaves []*catalog.Leaf
	leaves = append(leaves, &catalog.Leaf{Kind: catalog.KindRetraction, ID: id, Revision: a.Revision, Time: now})
	u := &store.Update{}
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
	cp, err := p.nextCheckpoint(u.Leaves)
	if err != nil {
		return err
	}
	if have, err := p.store.Publisher(id); err == nil && have.Checkpoint != nil {
		// The store verified its checkpoint when it stored it, perhaps
		// under an older key statement whose keys p.trust revokes; only
		// its time is needed here.
		if old, err := catalog.ParseUnverified(have.Checkpoint); err == nil && old.Time.After(now) {
			now = old.Time // never sign a checkpoint older than the last
		}
	}
	cp.Time = now
	if u.Checkpoint, err = cp.Sign(p.signer); err != nil {
		return err
	}
	_, err = p.store.Apply(p.trust.Root(), u)
	return err
}

// nextCheckpoint returns the checkpoint, without its time, of the
// publisher's log in the store with leaves appended: its size, root hash
// and article index root.
func (p *Publisher) nextCheckpoint(leaves [][]byte) (*catalog.Checkpoint, error) {
	id := p.trust.PublisherID()
	size, root, err := p.store.NextRoot(id, leaves)
	if err != nil {
		return nil, err
	}
	x, err := p.store.NextIndex(id, leaves)
	if err != nil {
		return nil, err
	}
	return &catalog.Checkpoint{Origin: catalog.Origin(id), Size: size, Root: root, Index: x}, nil
}

// current returns the article's state and, if it is not retracted, its
// current bundle and that bundle's manifest. A current bundle signed by a
// key that the publisher no longer trusts (revoked, or not delegated any
// more) is returned as nil, so that it is signed again; its manifest is
// still returned.
func (p *Publisher) current(id string) (*catalog.Article, *bundle.Bundle, *bundle.Manifest, error) {
	a, err := p.store.Article(p.trust.PublisherID(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, nil
	}
	if err != nil || a.Retracted {
		return a, nil, nil, err
	}
	data, err := p.store.Bundle(a.Digest)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := bundle.Open(data, p.trust, nil)
	var untrusted *keys.UntrustedKeyError
	if errors.As(err, &untrusted) {
		// The store verified the bundle when it stored it, under the key
		// statement of that time; its publication date is kept.
		u, perr := bundle.ParseUnverified(data, nil)
		if perr != nil {
			return nil, nil, nil, fmt.Errorf("publish: stored bundle of %q: %w", id, perr)
		}
		return a, nil, u.Manifest, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("publish: stored bundle of %q: %w", id, err)
	}
	return a, b, b.Manifest, nil
}

// untrusted returns, as items to publish again, the store's current
// articles (other than those in items) whose bundles the publisher's key
// statement no longer accepts. Their content is read under the statement the
// store holds, which accepted them.
func (p *Publisher) untrusted(items []Item, now time.Time) ([]Item, error) {
	id := p.trust.PublisherID()
	old, err := p.store.Trust(p.trust.Root())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, it := range items {
		skip[it.Meta.ID] = true
	}
	arts, err := p.store.Articles(id)
	if err != nil {
		return nil, err
	}
	var again []Item
	for _, a := range arts {
		if a.Retracted || skip[a.ID] {
			continue
		}
		data, err := p.store.Bundle(a.Digest)
		if err != nil {
			return nil, err
		}
		var untrusted *keys.UntrustedKeyError
		if _, err := bundle.Open(data, p.trust, nil); !errors.As(err, &untrusted) {
			continue
		}
		b, err := bundle.Verify(data, old, nil)
		if err != nil {
			return nil, fmt.Errorf("publish: re-signing %q: %w", a.ID, err)
		}
		m := b.Manifest
		// Signed now, or at its publication date if a clock that went
		// back puts now before it.
		it := Item{IDGiven: true, Meta: bundle.Metadata{ID: m.ID, Created: m.Created, Updated: later(now, m.Created), Title: m.Title, Language: m.Language, CanonicalURL: m.CanonicalURL, Authors: m.Authors}}
		for i, e := range m.Entries {
			data, err := b.Entry(i)
			if err != nil {
				return nil, err
			}
			it.Files = append(it.Files, bundle.File{Name: e.Name, Type: e.Type, Data: data})
		}
		again = append(again, it)
	}
	return again, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
