package reader

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// view is what a reader knows of a publisher's log up to a verified size:
// the right edge of its tree (the roots of its complete subtrees, which
// are all it takes to append leaves and compute the new root), the
// versions the log records, and each article's state: those changed since
// the index on disk was written are in memory, the others in the index.
// A view is never changed once built; extend returns a new one.
type view struct {
	size int64
	// edge holds the hashes of the tree's complete subtrees, largest
	// first: one for each bit set in size (torchwood.RightEdge's order).
	edge []tlog.Hash

	base     *index                      // articles of leaves [0, baseSize); nil for none
	baseSize int64                       // the size base covers
	articles map[string]*catalog.Article // changed in leaves [baseSize, size)
	leaves   [][]byte                    // leaves [baseSize, size), to be saved
	// superseded are the bundles the leaves since baseSize replaced or
	// withdrew: saved copies of them can go.
	superseded []bundle.Digest

	keyVersion    uint64        // highest key statement version the log records
	mirrorVersion uint64        // highest mirror list version the log records
	mirrorDigest  bundle.Digest // SHA-256 of that mirror list
}

// root returns the tree's root hash (zero for an empty tree).
func (v *view) root() tlog.Hash { return edgeRoot(v.edge) }

// edgeRoot folds a right edge into the tree's root, as RFC 6962 hashes a
// tree from its complete subtrees.
func edgeRoot(edge []tlog.Hash) tlog.Hash {
	if len(edge) == 0 {
		return tlog.Hash{}
	}
	h := edge[len(edge)-1]
	for i := len(edge) - 2; i >= 0; i-- {
		h = tlog.NodeHash(edge[i], h)
	}
	return h
}

// edgeFits reports whether edge has the shape of a right edge of a tree of
// size leaves.
func edgeFits(edge []tlog.Hash, size int64) bool {
	return size >= 0 && len(edge) == bits.OnesCount64(uint64(size))
}

// article returns the state of id, or nil if the log never named it. An
// index that cannot be read is reported as an error.
func (v *view) article(id string) (*catalog.Article, error) {
	if a, ok := v.articles[id]; ok {
		return a, nil
	}
	if v.base == nil {
		return nil, nil
	}
	return v.base.get(id, v.baseSize)
}

// list returns every article's state, most recently changed first.
func (v *view) list() ([]*catalog.Article, error) {
	var out []*catalog.Article
	if v.base != nil {
		err := v.base.each(v.baseSize, func(a *catalog.Article) {
			if _, changed := v.articles[a.ID]; !changed {
				out = append(out, a)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	for _, a := range v.articles {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *catalog.Article) int { return cmp.Compare(b.Leaf, a.Leaf) })
	return out, nil
}

// child returns a copy of v to append to; v is unchanged.
func (v *view) child() *view {
	n := *v
	n.edge = slices.Clone(v.edge)
	n.leaves = v.leaves[:len(v.leaves):len(v.leaves)]
	n.superseded = v.superseded[:len(v.superseded):len(v.superseded)]
	n.articles = make(map[string]*catalog.Article, len(v.articles))
	for id, a := range v.articles {
		n.articles[id] = a
	}
	return &n
}

// errLeaves says a mirror's leaves do not hash to the checkpoint it
// served: it altered the log, or the publisher's log forked.
var errLeaves = errors.New("leaves do not hash to the checkpoint")

// extend returns the view with the given leaves appended, after checking
// that they follow the log's rules and that the whole tree hashes to
// root. On failure v is unchanged.
func (v *view) extend(leaves [][]byte, root tlog.Hash) (*view, error) {
	n := v.child()
	if err := n.append(leaves); err != nil {
		return nil, err
	}
	if n.root() != root {
		return nil, errLeaves
	}
	return n, nil
}

// append appends leaves to v, which must be v's own (a child), checking
// the log's rules. It costs O(len(leaves) log size) time, and memory for
// the leaves and the articles they change.
func (v *view) append(leaves [][]byte) error {
	for _, raw := range leaves {
		idx := v.size
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			return fmt.Errorf("leaf %d: %w", idx, err)
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			prev, err := v.article(l.ID)
			if err != nil {
				return err
			}
			a, err := catalog.Next(prev, l, idx)
			if err != nil {
				return fmt.Errorf("leaf %d: %w", idx, err)
			}
			if prev != nil && !prev.Retracted {
				v.superseded = append(v.superseded, prev.Digest)
			}
			v.articles[l.ID] = a
		case catalog.KindKeyStatement:
			if err := catalog.NextVersion(v.keyVersion, l); err != nil {
				return fmt.Errorf("leaf %d: %w", idx, err)
			}
			v.keyVersion = l.Version
		case catalog.KindMirrorList:
			if err := catalog.NextVersion(v.mirrorVersion, l); err != nil {
				return fmt.Errorf("leaf %d: %w", idx, err)
			}
			v.mirrorVersion, v.mirrorDigest = l.Version, l.Digest
		}
		// The new leaf's hash merges with the subtrees it completes.
		h := tlog.RecordHash(raw)
		for s := idx; s&1 == 1; s >>= 1 {
			h = tlog.NodeHash(v.edge[len(v.edge)-1], h)
			v.edge = v.edge[:len(v.edge)-1]
		}
		v.edge = append(v.edge, h)
		v.size++
		v.leaves = append(v.leaves, raw)
	}
	return nil
}

// splitLeaves splits the leaves a reader keeps in its state file: each
// a 2-byte big-endian length, then the leaf, as in an entry bundle. It
// returns the first n and the bytes they take.
func splitLeaves(b []byte, n int) ([][]byte, int, error) {
	out := make([][]byte, 0, min(n, len(b)/3))
	off := 0
	for len(out) < n {
		if len(b)-off < 2 {
			return nil, 0, fmt.Errorf("%d leaves where %d were expected", len(out), n)
		}
		l := int(uint16(b[off])<<8 | uint16(b[off+1]))
		if l == 0 || l > catalog.MaxLeafSize {
			return nil, 0, fmt.Errorf("leaf %d has %d bytes (1 to %d)", len(out), l, catalog.MaxLeafSize)
		}
		if len(b)-off-2 < l {
			return nil, 0, fmt.Errorf("leaf %d is cut short", len(out))
		}
		out = append(out, b[off+2:off+2+l:off+2+l])
		off += 2 + l
	}
	return out, off, nil
}
