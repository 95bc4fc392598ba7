package reader

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

// Limits of a sync through tiles.
const (
	// resumeTiles is the number of entry bundles from which a sync first
	// reads the hash tiles that let it keep what it fetched when it is
	// cut short. A shorter sync starts again instead.
	resumeTiles = 4
	// maxHashTiles bounds the hash tiles one sync reads: a few for each
	// level of the tree, beside the tiles of heights 8 it checks bundles
	// with (one per 65,536 leaves).
	maxHashTiles = 64 + MaxNewLeaves/(catalog.TileWidth*catalog.TileWidth)
	// maxAhead bounds the entry bundles a sync holds, fetched or being
	// fetched, beyond the first it has not appended: a mirror that holds
	// back one bundle cannot make it keep the rest in memory.
	maxAhead = 2 * MaxParallel
)

// sync fetches the entry bundles that hold leaves [prior.size, a.cp.Size)
// from a mirror, MaxParallel at a time, appends the leaves to prior in
// order, and checks that the tree hashes to the checkpoint's root. A long
// sync first reads the hash tiles that tie its tree to the kept one (a
// lie or a fork shows before the download) and can prove any prefix of
// it: if a bundle then fails to come, the leaves before it are checked
// against the checkpoint and left in a.progress, for fetch to keep.
func (c *Client) sync(ctx context.Context, get getter, pub string, st *state, prior *view, a *attempt) (*view, error) {
	n0, n1 := prior.size, a.cp.Size
	v := prior.child()
	if n1 == n0 {
		if v.root() != a.cp.Root {
			return nil, errLeaves
		}
		return v, nil
	}
	first, last := n0/catalog.TileWidth, (n1-1)/catalog.TileWidth
	var hr tlog.HashReader
	if last-first >= resumeTiles {
		tr := &tileReader{get: get, pub: pub, cache: map[tlog.Tile][]byte{}}
		hr = tlog.TileHashReader(tlog.Tree{N: n1, Hash: a.cp.Root}, tr)
		if n0 > 0 {
			p, err := tlog.ProveTree(n1, n0, hr)
			if err != nil {
				return nil, hashTileError(err)
			}
			if tlog.CheckTree(p, n1, a.cp.Root, n0, prior.root()) != nil {
				// The hash tiles hash to the mirror's signed checkpoint,
				// and prior to one the reader kept (the head's, or the
				// anchor of a sync in progress): two histories signed.
				have := st.anchor
				if st.cp != nil && n0 == st.cp.Size {
					have = st.checkpoint
				}
				fe := &catalog.ForkError{Size: n0, Have: have, Got: a.checkpoint,
					Reason: fmt.Sprintf("the log's tree of %d leaves differs from the one the reader checked", n0)}
				return nil, fmt.Errorf("%w: %w", ErrFork, fe)
			}
		}
		// The hashes of heights 8 and above over the bundles to come: what
		// proves a prefix that ends on a bundle's edge.
		var idx []int64
		for n := first + 1; n <= last && n*catalog.TileWidth <= n1; n++ {
			idx = append(idx, tlog.StoredHashIndex(catalog.TileHeight, n-1))
		}
		if _, err := hr.ReadHashes(idx); err != nil {
			return nil, hashTileError(err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	count := int(last - first + 1)
	bodies := make([][][]byte, count)
	errs := make([]error, count)
	done := make([]chan struct{}, count)
	used := make([]chan struct{}, count) // closed once bundle i is appended
	sem := make(chan struct{}, MaxParallel)
	for i := range count {
		done[i] = make(chan struct{})
		used[i] = make(chan struct{})
		t := tlog.Tile{H: catalog.TileHeight, L: -1, N: first + int64(i), W: int(min(catalog.TileWidth, n1-(first+int64(i))*catalog.TileWidth))}
		wg.Go(func() {
			defer close(done[i])
			if i >= maxAhead {
				select {
				case <-used[i-maxAhead]:
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			body, err := get(pub+"/"+catalog.TilePath(t), int64(t.W)*(2+catalog.MaxLeafSize))
			if err == nil {
				bodies[i], err = catalog.ParseEntryBundle(body, t.W)
			}
			errs[i] = err
		})
	}
	for i := range count {
		<-done[i]
		if err := errs[i]; err != nil {
			cancel()
			if hr != nil && v.size > n0 && !a.rebased {
				a.progress = prove(hr, st, v, a)
			}
			return nil, fmt.Errorf("entry bundle %d: %w", first+int64(i), err)
		}
		leaves := bodies[i]
		bodies[i] = nil
		if skip := n0 - (first+int64(i))*catalog.TileWidth; skip > 0 {
			leaves = leaves[skip:]
		}
		if err := v.append(leaves); err != nil {
			return nil, err
		}
		close(used[i])
	}
	if v.root() != a.cp.Root {
		return nil, errLeaves
	}
	return v, nil
}

// fetchError is a hash tile that did not come.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// hashTileError says why reading hash tiles failed: one did not come, or
// they do not hash to the checkpoint (tlog found them inconsistent).
func hashTileError(err error) error {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.err
	}
	return fmt.Errorf("the mirror's hash tiles do not hash to its checkpoint (%w)", err)
}

// tileReader reads a mirror's hash tiles for tlog.TileHashReader, up to
// MaxParallel at a time, and keeps those it verified. With entries set it
// reads the tiles of level 0 (the leaves' hashes) as the entry bundles of
// the same number and width, hashing the leaves itself, and keeps the
// leaves in entries: tlog.TileHashReader then verifies the leaves
// themselves against the tree. It is safe for concurrent use.
type tileReader struct {
	get     getter
	pub     string
	mu      sync.Mutex
	cache   map[tlog.Tile][]byte    // verified
	calls   map[tlog.Tile]*tileCall // fetched or being fetched, once
	fetched int
	// entries, when not nil, holds the leaves of the entry bundles read
	// as tiles of level 0, by bundle number: checked only once
	// ReadHashes has verified the tiles they hash to.
	entries map[int64][][]byte
	max     int // bound on tiles fetched; 0 means maxHashTiles
}

// tileCall is one fetch of a tile, which every ReadTiles that wants the
// tile waits for: two proofs read at once fetch a tile they share once.
type tileCall struct {
	done chan struct{}
	data []byte
	err  error
}

func (r *tileReader) Height() int { return catalog.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	calls := make([]*tileCall, len(tiles))
	limit := r.max
	if limit == 0 {
		limit = maxHashTiles
	}
	sem := make(chan struct{}, MaxParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, t := range tiles {
		r.mu.Lock()
		if d, ok := r.cache[t]; ok {
			r.mu.Unlock()
			out[i] = d
			continue
		}
		if r.calls == nil {
			r.calls = map[tlog.Tile]*tileCall{}
		}
		c, ok := r.calls[t]
		if !ok {
			r.fetched++
			if r.fetched > limit {
				r.mu.Unlock()
				return nil, &fetchError{fmt.Errorf("more than %d tiles asked for", limit)}
			}
			c = &tileCall{done: make(chan struct{})}
			r.calls[t] = c
		}
		r.mu.Unlock()
		calls[i] = c
		if ok {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer close(c.done)
			c.data, c.err = r.readTile(t)
		})
	}
	for i, c := range calls {
		if c == nil {
			continue
		}
		<-c.done
		if c.err != nil {
			return nil, c.err
		}
		out[i] = c.data
	}
	return out, nil
}

// readTile fetches one tile: a hash tile, or an entry bundle whose leaves'
// hashes stand for a tile of level 0.
func (r *tileReader) readTile(t tlog.Tile) ([]byte, error) {
	if t.L == 0 && r.entries != nil {
		e := tlog.Tile{H: t.H, L: -1, N: t.N, W: t.W}
		body, err := r.get(r.pub+"/"+catalog.TilePath(e), int64(t.W)*(2+catalog.MaxLeafSize))
		if err != nil {
			return nil, &fetchError{err}
		}
		leaves, err := catalog.ParseEntryBundle(body, t.W)
		if err != nil {
			return nil, &fetchError{err}
		}
		d := make([]byte, 0, t.W*tlog.HashSize)
		for _, l := range leaves {
			h := catalog.LeafHash(l)
			d = append(d, h[:]...)
		}
		r.mu.Lock()
		r.entries[t.N] = leaves
		r.mu.Unlock()
		return d, nil
	}
	d, err := r.get(r.pub+"/"+catalog.TilePath(t), int64(t.W)*tlog.HashSize)
	if err != nil {
		return nil, &fetchError{err}
	}
	if len(d) != t.W*tlog.HashSize {
		return nil, fmt.Errorf("hash tile %s has %d bytes, not %d", catalog.TilePath(t), len(d), t.W*tlog.HashSize)
	}
	return d, nil
}

// leaves returns the leaves of entry bundle n, read as a tile of level 0.
func (r *tileReader) leaves(n int64) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries[n]
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		r.cache[t] = data[i]
	}
}

// prove returns v, a prefix of a's log, as progress worth keeping: with
// the proofs, read from the hash tiles hr verifies, that the kept
// checkpoint's tree and v's are both in a's. It is nil when they cannot
// be had.
func prove(hr tlog.HashReader, st *state, v *view, a *attempt) *progress {
	n1 := a.cp.Size
	tip, err := tlog.ProveTree(n1, v.size, hr)
	if err != nil || tlog.CheckTree(tip, n1, a.cp.Root, v.size, v.root()) != nil {
		return nil
	}
	var base tlog.TreeProof
	if st.cp != nil && st.cp.Size > 0 {
		base, err = tlog.ProveTree(n1, st.cp.Size, hr)
		if err != nil || tlog.CheckTree(base, n1, a.cp.Root, st.cp.Size, st.cp.Root) != nil {
			return nil
		}
	}
	return &progress{view: v, anchor: a.checkpoint, anchorCP: a.cp, trust: a.trust, baseProof: base, tipProof: tip}
}

// keepProgress keeps the longest sync cut short among failures, if it
// goes beyond what st holds: the next fetch goes on from there.
func (c *Client) keepProgress(st *state, failures []Failure) {
	var best *progress
	for _, f := range failures {
		var me *mirrorError
		if errors.As(f.Err, &me) && me.progress != nil && me.progress.view.size > st.view.size && (best == nil || me.progress.view.size > best.view.size) {
			best = me.progress
		}
	}
	if best == nil {
		return
	}
	st = st.clone()
	if err := st.keep(best); err != nil {
		c.cfg.Logger.Warn("reader: cannot keep a sync in progress", "dir", c.dir, "err", err)
		st = nil
	}
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
}
