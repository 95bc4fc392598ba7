package reader

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// view is what a reader knows of a publisher's log: every leaf up to a
// verified checkpoint, the tree's stored hashes, and the state of each
// article the leaves name. A view is never changed once built; extend
// returns a new one sharing the old one's leaves.
type view struct {
	leaves   [][]byte    // encoded leaves 0 .. size-1
	hashes   []tlog.Hash // tlog stored hashes of leaves
	articles map[string]*catalog.Article
	parent   *view // consulted for articles not in articles

	keyVersion    uint64        // highest key statement version the log records
	mirrorVersion uint64        // highest mirror list version the log records
	mirrorDigest  bundle.Digest // SHA-256 of that mirror list
}

func (v *view) size() int64 { return int64(len(v.leaves)) }

// article returns the state of id, or nil if the log never named it.
func (v *view) article(id string) *catalog.Article {
	for ; v != nil; v = v.parent {
		if a, ok := v.articles[id]; ok {
			return a
		}
	}
	return nil
}

// list returns every article's state, most recently changed first.
func (v *view) list() []*catalog.Article {
	seen := map[string]bool{}
	var out []*catalog.Article
	for w := v; w != nil; w = w.parent {
		for id, a := range w.articles {
			if !seen[id] {
				seen[id] = true
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b *catalog.Article) int { return cmp.Compare(b.Leaf, a.Leaf) })
	return out
}

// errLeaves says a mirror's leaves do not hash to the checkpoint it
// served: it altered the log, or the publisher's log forked.
var errLeaves = errors.New("leaves do not hash to the checkpoint")

// extend returns the view with the given leaves appended, after checking
// that they follow the log's rules and that the whole tree hashes to
// root. On failure v is unchanged.
func (v *view) extend(leaves [][]byte, root tlog.Hash) (*view, error) {
	n := &view{
		leaves:        v.leaves[:len(v.leaves):len(v.leaves)],
		hashes:        v.hashes[:len(v.hashes):len(v.hashes)],
		articles:      map[string]*catalog.Article{},
		parent:        v,
		keyVersion:    v.keyVersion,
		mirrorVersion: v.mirrorVersion,
		mirrorDigest:  v.mirrorDigest,
	}
	if v.parent != nil {
		// Keep chains one deep: flatten v into the new view.
		n.parent = nil
		for _, a := range v.list() {
			n.articles[a.ID] = a
		}
	}
	base := v.size()
	for i, raw := range leaves {
		idx := base + int64(i)
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			return nil, fmt.Errorf("leaf %d: %w", idx, err)
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
			a, err := catalog.Next(n.article(l.ID), l, idx)
			if err != nil {
				return nil, fmt.Errorf("leaf %d: %w", idx, err)
			}
			n.articles[l.ID] = a
		case catalog.KindKeyStatement:
			if err := catalog.NextVersion(n.keyVersion, l); err != nil {
				return nil, fmt.Errorf("leaf %d: %w", idx, err)
			}
			n.keyVersion = l.Version
		case catalog.KindMirrorList:
			if err := catalog.NextVersion(n.mirrorVersion, l); err != nil {
				return nil, fmt.Errorf("leaf %d: %w", idx, err)
			}
			n.mirrorVersion, n.mirrorDigest = l.Version, l.Digest
		}
		hs, err := tlog.StoredHashes(idx, raw, n.hashReader())
		if err != nil {
			return nil, err
		}
		n.leaves = append(n.leaves, raw)
		n.hashes = append(n.hashes, hs...)
	}
	size := n.size()
	if size == 0 {
		if root != (tlog.Hash{}) {
			return nil, errLeaves
		}
		return n, nil
	}
	th, err := tlog.TreeHash(size, n.hashReader())
	if err != nil {
		return nil, err
	}
	if th != root {
		return nil, errLeaves
	}
	return n, nil
}

func (v *view) hashReader() tlog.HashReaderFunc {
	return func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(v.hashes)) {
				return nil, fmt.Errorf("tree hash %d missing", x)
			}
			out[i] = v.hashes[x]
		}
		return out, nil
	}
}

// parseLeaves parses a leaves response: each leaf a 2-byte big-endian
// length, then the leaf. It must hold exactly want leaves.
func parseLeaves(b []byte, want int) ([][]byte, error) {
	leaves, used, err := splitLeaves(b, want)
	if err != nil {
		return nil, err
	}
	if used != len(b) {
		return nil, fmt.Errorf("more than the %d leaves asked for", want)
	}
	return leaves, nil
}

// splitLeaves reads n length-prefixed leaves from the start of b and
// returns them (sharing b) and the bytes they took.
func splitLeaves(b []byte, n int) ([][]byte, int, error) {
	out := make([][]byte, 0, min(n, len(b)/3))
	off := 0
	for len(out) < n {
		if len(b)-off < 2 {
			return nil, 0, fmt.Errorf("%d leaves where %d were asked for", len(out), n)
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
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
