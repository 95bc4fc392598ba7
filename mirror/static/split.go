package static

import (
	"context"
	"encoding/hex"
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Split index proofs (FORMAT.md "Split proofs"): where a full proof per
// article is new at every size, an export writes a top part per bucket at
// the new size (about sqrt(size) small files) and the bottom parts of the
// articles below a bucket root it has not written before (those of the
// buckets that changed), so a re-export after one changed article writes
// about 2*sqrt(size) index files, not one per article.

// topDir is the directory of a publisher's top parts at one size, and
// nodeDir that of its bottom parts below one bucket root.
func topDir(pub string, size int64) string {
	return "p/" + pub + "/index/t/" + strconv.FormatInt(size, 10) + "/"
}

func nodeDir(pub, node string) string { return "p/" + pub + "/index/n/" + node + "/" }

// nodeSet is the bucket roots (hex) that the top parts of one size name,
// as the export state keeps them for pruning.
type nodeSet struct {
	Size  int64    `json:"size"`
	Nodes []string `json:"nodes"`
	// Prev is the set of the export's size before, kept through
	// re-exports at the same size (without its own Prev).
	Prev *nodeSet `json:"prev,omitempty"`
}

// splitProofs writes the top part of every bucket at the checkpoint's
// size, and the bottom part of every article below its bucket root that
// the sink lacks, at p/ID/index/t/SIZE/BUCKET and p/ID/index/n/NODE/ARTICLE,
// the paths a dynamic mirror serves them at. It records the bucket roots
// in p.nodes; it leaves p.nodes nil when it did not finish (the store's
// checkpoint moved, or it carries no index), and pruning then leaves the
// bottom parts alone. As for full proofs, articles whose ID ends in an
// extension a static host may serve as HTML, XML or script get none.
func (e *exporter) splitProofs(ctx context.Context, p *pubExport) error {
	size, tops, err := e.st.IndexTops(p.id)
	switch {
	case errors.Is(err, store.ErrNoIndex):
		return nil
	case err != nil:
		return err
	case size != p.cp.Size:
		e.leave("publisher %s: the store's checkpoint changed during the export; its split index proofs are left for the next one", p.id)
		return nil
	}
	roots := make(map[index.Bucket]string, len(tops))
	nodes := make([]string, 0, len(tops))
	dir := topDir(p.id, size)
	for _, t := range tops {
		if err := e.putOnce(ctx, Object{Name: dir + t.Bucket().String(), Type: "application/octet-stream", Cache: CacheImmutable}, func() ([]byte, error) {
			return t.Encode(), nil
		}); err != nil {
			return err
		}
		if n, ok := t.Node(); ok {
			roots[t.Bucket()] = hex.EncodeToString(n[:])
			nodes = append(nodes, roots[t.Bucket()])
		}
	}
	for _, a := range p.arts {
		if riskyExt(strings.ToLower(path.Ext(a.ID))) {
			e.leave("article %s of publisher %s: its index proofs are not written (the file name ends in %s)", a.ID, p.id, path.Ext(a.ID))
			continue
		}
		node, ok := roots[index.BucketOf(size, a.ID)]
		if !ok {
			return errors.New("static: an article's bucket is empty in the index (damaged store)")
		}
		err := e.putOnce(ctx, Object{Name: nodeDir(p.id, node) + a.ID, Type: "application/octet-stream", Cache: CacheImmutable}, func() ([]byte, error) {
			at, raw, err := e.st.IndexProof(p.id, a.ID)
			if err != nil {
				return nil, err
			}
			if at != size {
				return nil, errMoved
			}
			pr, err := index.ParseProof(raw)
			if err != nil {
				return nil, err
			}
			_, b, err := pr.Split(size, a.ID)
			if err != nil {
				return nil, err
			}
			if b == nil {
				return nil, errMoved
			}
			if n := b.Node(); hex.EncodeToString(n[:]) != node {
				return nil, errMoved
			}
			return b.Encode(), nil
		})
		switch {
		case errors.Is(err, errMoved):
			e.leave("publisher %s: the store's checkpoint changed during the export; its split index proofs are left for the next one", p.id)
			return nil
		case err != nil:
			return err
		}
	}
	slices.Sort(nodes)
	p.nodes = &nodeSet{Size: size, Nodes: nodes}
	return nil
}

// pruneSplit removes the publisher's top parts of every size but the
// checkpoint's and the one before it (the largest smaller size the sink
// holds top parts of), and the bottom parts below every bucket root that
// neither names, once the checkpoint is in place, as pruneProofs does for
// full proofs. The previous size's bucket roots come from the export
// state; without it, only the current size's bottom parts stay, and a
// reader of the previous checkpoint fetches the checkpoint again.
func (e *exporter) pruneSplit(ctx context.Context, p *pubExport) error {
	prev := e.state.IndexNodes[p.id]
	if p.nodes == nil {
		// Not finished: keep what the last export kept.
		if prev != nil {
			e.next.IndexNodes[p.id] = prev
		}
		return nil
	}
	// The set of the size before this one: the last export's, or, when
	// it was at this size too, the one it kept.
	switch {
	case prev != nil && prev.Size < p.nodes.Size:
		p.nodes.Prev = &nodeSet{Size: prev.Size, Nodes: prev.Nodes}
	case prev != nil && prev.Size == p.nodes.Size:
		p.nodes.Prev = prev.Prev
	}
	e.next.IndexNodes[p.id] = p.nodes
	tops := "p/" + p.id + "/index/t/"
	bottoms := "p/" + p.id + "/index/n/"
	sizeOf := func(name string) int64 {
		s, _, _ := strings.Cut(strings.TrimPrefix(name, tops), "/")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	prevSize := int64(-1)
	for name := range e.have {
		if n := sizeOf(name); strings.HasPrefix(name, tops) && n < p.cp.Size && n > prevSize {
			prevSize = n
		}
	}
	keep := map[string]bool{}
	for _, n := range p.nodes.Nodes {
		keep[n] = true
	}
	if before := p.nodes.Prev; before != nil && before.Size == prevSize {
		for _, n := range before.Nodes {
			keep[n] = true
		}
	}
	var old []string
	for name := range e.have {
		switch {
		case strings.HasPrefix(name, tops):
			if n := sizeOf(name); n != p.cp.Size && n != prevSize {
				old = append(old, name)
			}
		case strings.HasPrefix(name, bottoms):
			node, _, _ := strings.Cut(strings.TrimPrefix(name, bottoms), "/")
			if !keep[node] {
				old = append(old, name)
			}
		}
	}
	return e.remove(ctx, old)
}
