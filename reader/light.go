package reader

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	artindex "github.com/samizdat-news/samizdat/catalog/index"
)

// The light path. A reader that keeps no copy of the log fetches one
// article in three sequential round trips from a dynamic mirror, four from
// a static export, whatever the log's size:
//
//  1. the key statement and the checkpoint, in parallel;
//  2. the article's index proof against the checkpoint's index root
//     (p/PUB/index/SIZE/ID), which carries the article's newest leaf,
//     and, when the reader holds an older checkpoint, the hash tiles that
//     prove the new one extends it; in parallel, the top part of the
//     article's split proof (p/PUB/index/t/SIZE/BUCKET), which a static
//     export serves where it holds no full proof;
//  3. from a mirror that had no full proof, the bottom part below the
//     bucket root the top part names (p/PUB/index/n/NODE/ID);
//  4. the bundle that the leaf names.
//
// The newest K articles are read from the log's last leaves instead
// (Client.Newest): the entry bundles at its end and the hash tiles that
// tie them to the checkpoint's root, O(K + log n).

// Limits of the light path.
const (
	// MaxNewest bounds the articles a light list (Client.Newest) shows.
	MaxNewest = 1000
	// maxNewestBundles bounds the entry bundles a light list reads back
	// from the log's end looking for its articles: a log whose last
	// leaves revise few articles again and again shows fewer.
	maxNewestBundles = 16
	// maxLightTiles bounds the tiles (entry bundles and hash tiles) one
	// light list reads: its entry bundles and a few hash tiles a level.
	maxLightTiles = maxNewestBundles + 4*(catalog.MaxTileLevel+1)
)

// errFallback is wrapped by the reasons a light fetch gives way to a sync
// of the whole log: the checkpoint carries no article index, or the mirror
// serves no index proofs.
var errFallback = errors.New("no per-article proof")

// errNoProofs is the fallback of a mirror that serves no index proofs:
// another mirror may serve them, so the race asks the others before it
// syncs the whole log from this one.
var errNoProofs = fmt.Errorf("%w: the mirror serves no index proofs", errFallback)

// errNoIndex is the fallback of a mirror whose checkpoint carries no
// article index (one signed before it existed, which a censor's mirror
// may serve in place of the newest): like errNoProofs, the race asks the
// other mirrors before it syncs the whole log from this one. Synced at
// once, it made a light reader download the whole log from the censor's
// mirror beside an honest one (red team, fourth session: 1.2 MB at
// 20,000 articles, where the light path costs 4 KB).
var errNoIndex = fmt.Errorf("%w: the checkpoint carries no article index (signed before it existed)", errFallback)

// errMoved says a mirror's checkpoint moved on while the reader asked for
// a proof against the one it served: the attempt starts again.
var errMoved = errors.New("the mirror's checkpoint moved on during the fetch")

// indexRoot returns the article index root a checkpoint carries, zero for
// none.
func indexRoot(cp *catalog.Checkpoint) tlog.Hash { return cp.Index }

// lightArticle verifies article id of a's checkpoint through its index
// proof and the one leaf it carries, then fetches its bundle unless it is
// withdrawn or st keeps it. held, signed as heldSigned, is the newest
// checkpoint the reader verified (nil for none): a's must extend it, which
// the hash tiles prove alongside the index proof. It sets a.article and
// a.bundle.
func (c *Client) lightArticle(get getter, pub string, st *state, a *attempt, id string, held *catalog.Checkpoint, heldSigned []byte) error {
	if indexRoot(a.cp) == (tlog.Hash{}) {
		return errNoIndex
	}
	// Round trip 2: the proof, and the consistency of the tree the reader
	// holds with this one; and, in case the mirror is a static export that
	// holds no full proof of id, the top part of id's split proof.
	size := strconv.FormatInt(a.cp.Size, 10)
	var wg sync.WaitGroup
	var consErr, topErr error
	var top []byte
	wg.Go(func() { consErr = consistent(newTileReader(get, pub, false), held, heldSigned, a) })
	wg.Go(func() {
		top, topErr = get(pub+"/index/t/"+size+"/"+artindex.BucketOf(a.cp.Size, id).String(), artindex.MaxTopSize)
	})
	proof, err := get(pub+"/index/"+size+"/"+id, artindex.MaxProofSize)
	wg.Wait()
	var p *artindex.Proof
	switch {
	case err == nil:
		if consErr != nil {
			return consErr
		}
		if p, err = artindex.ParseProof(proof); err != nil {
			return fmt.Errorf("index proof of %q: %w", id, err)
		}
	case isNotFound(err) && topErr == nil:
		if consErr != nil {
			return consErr
		}
		// Round trip 3: the bottom part.
		if p, err = splitProof(get, pub, a, id, top); err != nil {
			return err
		}
	case isNotFound(err) && isNotFound(topErr):
		if consErr != nil {
			return consErr
		}
		// A mirror proves against its current checkpoint and recent
		// ones: one that moved on far since answers 404 too.
		if movedOn(get, pub, a) {
			return errMoved
		}
		return fmt.Errorf("%w (%s)", errNoProofs, err.(*errStatus).status)
	case isNotFound(err):
		if consErr != nil {
			return consErr
		}
		return fmt.Errorf("index top part of %q: %w", id, topErr)
	default:
		if consErr != nil {
			return consErr
		}
		return err
	}
	// The proof binds its leaf to the root: the leaf hashes to the value
	// the index holds for id, and is a bundle or retraction leaf of id.
	v, ok, err := p.Verify(indexRoot(a.cp), id)
	if err != nil {
		return fmt.Errorf("index proof of %q: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("%w: %q, as of this checkpoint (%d leaves, proven absent from its index)", ErrNotFound, id, a.cp.Size)
	}
	if v.Leaf >= a.cp.Size {
		return fmt.Errorf("index proof of %q names leaf %d, beyond the checkpoint's %d leaves", id, v.Leaf, a.cp.Size)
	}
	l := p.Leaf()
	a.article = articleOf(l, v.Leaf)
	if a.article.Retracted {
		return nil
	}
	// Round trip 3 (4 after a bottom part): the bundle.
	err = c.fetchBundle(get, st, a)
	if errors.Is(err, ErrWithheld) && movedOn(get, pub, a) {
		// A newer revision came since the checkpoint (which a cache in
		// front of the mirror may have served), and the mirror dropped
		// this one's bundle.
		return errMoved
	}
	return err
}

// isNotFound reports whether err is a mirror's 404.
func isNotFound(err error) bool {
	es := (*errStatus)(nil)
	return errors.As(err, &es) && es.code == http.StatusNotFound
}

// splitProof returns id's proof at a's checkpoint from top, the encoded
// top part of its bucket, and the bottom part below the bucket root top
// names, fetched unless top is a whole proof (FORMAT.md "Split proofs"):
// what a static export serves in place of a full proof per article. The
// parts must fit (index.Join): a top part of another size or bucket, or a
// bottom part of another bucket root, is refused here, and the caller
// verifies the joined proof against the checkpoint's index root.
func splitProof(get getter, pub string, a *attempt, id string, top []byte) (*artindex.Proof, error) {
	t, err := artindex.ParseTop(top)
	if err != nil {
		return nil, fmt.Errorf("index top part of %q: %w", id, err)
	}
	// Before the bottom part: a top part of another size's cut depth or
	// another bucket would name a bucket root that is not the id's.
	if err := t.Check(a.cp.Size, id); err != nil {
		return nil, fmt.Errorf("index proof of %q: %w", id, err)
	}
	// A changed top part would name a bucket root that no bottom part
	// has: refused, not taken for a missing bottom part.
	if err := t.Verify(indexRoot(a.cp)); err != nil {
		return nil, fmt.Errorf("index proof of %q: %w", id, err)
	}
	var b *artindex.Bottom
	if node, ok := t.Node(); ok {
		raw, err := get(pub+"/index/n/"+hex.EncodeToString(node[:])+"/"+id, artindex.MaxBottomSize)
		if isNotFound(err) {
			// A static export holds bottom parts of its articles only,
			// and of the bucket roots of its last two sizes.
			if movedOn(get, pub, a) {
				return nil, errMoved
			}
			return nil, fmt.Errorf("%w: no bottom part of %q's split proof (a static export has none for an id it does not hold)", errNoProofs, id)
		}
		if err != nil {
			return nil, err
		}
		if b, err = artindex.ParseBottom(raw); err != nil {
			return nil, fmt.Errorf("index bottom part of %q: %w", id, err)
		}
	}
	p, err := artindex.Join(a.cp.Size, id, t, b)
	if err != nil {
		return nil, fmt.Errorf("index proof of %q: %w", id, err)
	}
	return p, nil
}

// movedOn reports whether the mirror serves another checkpoint now than
// the attempt's.
func movedOn(get getter, pub string, a *attempt) bool {
	cp, err := get(pub+"/checkpoint", catalog.MaxCheckpointSize)
	return err == nil && !bytes.Equal(cp, a.checkpoint)
}

// articleOf returns the state that article leaf l, at index n, gives its
// article: the newest as of a checkpoint when the checkpoint's index names
// it, or when no later leaf of the log names its id.
func articleOf(l *catalog.Leaf, n int64) *catalog.Article {
	if l.Kind == catalog.KindRetraction {
		return &catalog.Article{ID: l.ID, Revision: l.Revision, Leaf: n, Retracted: true, Time: l.Time}
	}
	return &catalog.Article{ID: l.ID, Revision: l.Revision, Digest: l.Digest, Leaf: n}
}

// consistent proves, from the mirror's hash tiles, that the tree of a's
// checkpoint extends that of held (signed as heldSigned), the newest
// checkpoint the reader verified before: O(log n) hashes. A tree that does
// not is a fork: the tiles hash to a's signed root, and held was signed
// too. Judge has refused a smaller or same-size checkpoint already.
func consistent(tr *tileReader, held *catalog.Checkpoint, heldSigned []byte, a *attempt) error {
	if held == nil || held.Size == 0 || held.Size >= a.cp.Size {
		return nil
	}
	hr := tlog.TileHashReader(tlog.Tree{N: a.cp.Size, Hash: a.cp.Root}, tr)
	p, err := tlog.ProveTree(a.cp.Size, held.Size, hr)
	if err != nil {
		return hashTileError(err)
	}
	if tlog.CheckTree(p, a.cp.Size, a.cp.Root, held.Size, held.Root) != nil {
		fe := &catalog.ForkError{Size: held.Size, Have: heldSigned, Got: a.checkpoint,
			Reason: fmt.Sprintf("the log's tree of %d leaves differs from the one the reader checked", held.Size)}
		return fmt.Errorf("%w: %w", ErrFork, fe)
	}
	return nil
}

// newTileReader returns a reader of a mirror's tiles; with entries, one
// that reads tiles of level 0 as entry bundles and keeps their leaves.
func newTileReader(get getter, pub string, entries bool) *tileReader {
	tr := &tileReader{get: get, pub: pub, cache: map[tlog.Tile][]byte{}}
	if entries {
		tr.entries, tr.max = map[int64][][]byte{}, maxLightTiles
	}
	return tr
}

// lightNewest sets a.newest to the newest k articles of a's log, and
// proves, with the same tiles where they are shared, that the log extends
// held's (signed as heldSigned; nil for none).
func lightNewest(get getter, pub string, a *attempt, k int, held *catalog.Checkpoint, heldSigned []byte) error {
	tr := newTileReader(get, pub, true)
	var wg sync.WaitGroup
	var consErr error
	wg.Go(func() { consErr = consistent(tr, held, heldSigned, a) })
	var err error
	a.newest, err = newest(tr, a, k)
	wg.Wait()
	if consErr != nil {
		return consErr
	}
	return err
}

// newest returns the newest k articles of a's log (k at most MaxNewest),
// read through tr (which reads entry bundles as tiles of level 0),
// most recently changed first: the article leaves at the log's end, read
// back from it, each id's last leaf there being its newest state as of the
// checkpoint. The entry bundles they are in and the hash tiles that tie
// those to the checkpoint's root are all it reads: O(k + log n). It stops
// at the log's start or after maxNewestBundles entry bundles.
func newest(tr *tileReader, a *attempt, k int) ([]*catalog.Article, error) {
	n := a.cp.Size
	hr := tlog.TileHashReader(tlog.Tree{N: n, Hash: a.cp.Root}, tr)
	seen := map[string]bool{}
	var out []*catalog.Article
	for end := n; end > 0 && len(out) < k; {
		// Whole entry bundles, enough for the articles still wanted if
		// every leaf names a new one.
		lo := max(0, end-int64(k-len(out))) / catalog.TileWidth * catalog.TileWidth
		if (n-lo+catalog.TileWidth-1)/catalog.TileWidth > maxNewestBundles {
			break
		}
		idx := make([]int64, 0, end-lo)
		for i := lo; i < end; i++ {
			idx = append(idx, tlog.StoredHashIndex(0, i))
		}
		if _, err := hr.ReadHashes(idx); err != nil {
			return nil, hashTileError(err)
		}
		for i := end - 1; i >= lo && len(out) < k; i-- {
			leaves := tr.leaves(i / catalog.TileWidth)
			if int(i%catalog.TileWidth) >= len(leaves) {
				return nil, fmt.Errorf("reader: internal error: leaf %d was not read", i)
			}
			raw := leaves[i%catalog.TileWidth]
			l, err := catalog.ParseLeaf(raw)
			if err != nil {
				return nil, fmt.Errorf("leaf %d: %w", i, err)
			}
			if (l.Kind == catalog.KindBundle || l.Kind == catalog.KindRetraction) && !seen[l.ID] {
				seen[l.ID] = true
				out = append(out, articleOf(l, i))
			}
		}
		end = lo
	}
	return out, nil
}
