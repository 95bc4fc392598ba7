package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// progressInterval is the least time between the announces a node sends
// while it stores the bundles of a long sync, so that the next mirror
// fetches what arrived (and asks again for what did not) without asking
// for every bundle at every batch.
const progressInterval = time.Second

// batch is what one store.Apply takes: bundles, and in the first batch of
// a pull the plan's update of the log.
type batch struct {
	plan    *plan // nil but in the first batch
	size    int64 // the size of the publisher's log that the bundles were chosen for
	digests []bundle.Digest
	bundles [][]byte
	bytes   int64
}

// transferred is what transfer stored.
type transferred struct {
	added   int   // bundles stored
	dropped error // why the first batch's bundles were refused, the log stored without them
}

// transfer stores the plan p's update of the log (if p is not nil) and
// the bundles named by want, chosen for the publisher's log of size
// leaves (with p's update), fetched from the peer on c, in batches of at
// most Config.Batch bundles and Config.BatchBytes bytes: one store.Apply a
// batch, the publisher's lock held only for it, one batch stored while the
// next is fetched. The plan's update goes with the first batch, stored as
// soon as it is full or want is all fetched; if ctx ends first, it is not
// stored without its bundles. The other sessions are told at once of a
// new checkpoint or key statement, and of new bundles at most every
// progressInterval and once at the end.
//
// It returns what it stored; the error of the first Apply that failed
// (unchecked: the caller passes it to refuse once no lock is held), after
// which nothing more is stored; and the error of fetch, for a peer that
// sent a bundle that does not match its digest.
func (n *Node) transfer(ctx context.Context, c session.Conn, root *keys.PublicKey, p *plan, want []bundle.Digest, size int64) (got transferred, applyErr, fetchErr error) {
	pub := root.ID()
	budget := newBudget(2 * n.cfg.BatchBytes)
	cl := n.newClaims()
	defer cl.releaseAll()
	var stopped atomic.Bool
	applies := make(chan *batch)
	var applier sync.WaitGroup
	applier.Go(func() {
		last, pending := time.Now(), false
		for b := range applies {
			if stopped.Load() {
				budget.release(b.bytes)
				continue
			}
			res, dropped, err := n.applyBatch(ctx, c, root, b)
			budget.release(b.bytes)
			cl.release(b.digests...)
			if err != nil {
				applyErr = err
				stopped.Store(true)
				continue
			}
			if dropped != nil {
				got.dropped = dropped
				stopped.Store(true)
			}
			if res == nil {
				continue
			}
			n.leaves.Add(uint64(res.LeavesAdded))
			n.bundles.Add(uint64(res.BundlesAdded))
			got.added += res.BundlesAdded
			switch {
			case res.Checkpoint || res.Statement || res.MirrorList:
				// The new checkpoint is announced as soon as it is
				// stored, not after the bundles: the next mirror takes
				// the log now and the bundles this node holds, and the
				// rest on later announces.
				n.log.Info("replica: updated publisher", "peer", c.RemoteAddr(), "publisher", pub, "size", res.Size, "leaves", res.LeavesAdded, "bundles", res.BundlesAdded)
				if res.Checkpoint {
					// The peer brought a newer checkpoint of a trusted
					// publisher: a session on probation (a push) stays.
					n.host.Promote(c)
				}
				n.notify(pub, c)
				last, pending = time.Now(), false
			case res.BundlesAdded > 0 && time.Since(last) >= progressInterval:
				n.notify(pub, c)
				last, pending = time.Now(), false
			case res.BundlesAdded > 0:
				pending = true
			}
		}
		if pending {
			n.notify(pub, c)
		}
	})

	cur := &batch{plan: p, size: size}
	if p != nil && p.empty() {
		cur.plan = nil
	}
	flush := func() {
		if cur.plan != nil || len(cur.bundles) > 0 {
			applies <- cur
		}
		cur = &batch{size: size}
	}
	if len(want) == 0 {
		flush()
	} else {
		fetchErr = n.fetch(ctx, c, want, budget, cl, func(d bundle.Digest, raw []byte) bool {
			k := int64(len(raw))
			if len(cur.bundles) > 0 && cur.bytes+k > n.cfg.BatchBytes {
				flush()
			}
			cur.digests = append(cur.digests, d)
			cur.bundles = append(cur.bundles, raw)
			cur.bytes += k
			if len(cur.bundles) >= n.cfg.Batch || cur.bytes >= n.cfg.BatchBytes {
				flush()
			}
			return !stopped.Load()
		})
		if ctx.Err() != nil && cur.plan != nil {
			// Not the new leaves without their bundles.
			budget.release(cur.bytes)
			cur = &batch{size: size}
		}
		flush()
	}
	close(applies)
	applier.Wait() // got and applyErr are read only after this
	n.noteHeld(budget.peak())
	return got, applyErr, fetchErr
}

// applyBatch stores b with the publisher's lock held. The first batch's
// update of the log is first brought up to the store's state (rebase).
// Bundles are checked against the store's log when it changed since they
// were chosen (at a size other than b.size): those it left without an
// article are dropped; if it changed under the first batch, the log is
// stored first and its bundles after it. It returns the store's result
// (the counts of both when the log went first), nil when nothing was left
// to store, and why the first batch's bundles were refused if the log was
// stored without them; or the store's error, an *unprovenFork for leaves
// that, appended to the store's log, do not hash to the checkpoint.
func (n *Node) applyBatch(ctx context.Context, c session.Conn, root *keys.PublicKey, b *batch) (res *store.Result, dropped, err error) {
	pub := root.ID()
	unlock, err := n.lock(ctx, pub)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	now, err := n.st.Publisher(pub)
	switch {
	case errors.Is(err, store.ErrNotFound):
		now = nil
	case err != nil:
		return nil, nil, err
	}
	bundles := &store.Update{Bundles: b.bundles}
	if p := b.plan; p != nil {
		u := &store.Update{Statement: p.statement, Checkpoint: p.checkpoint, Leaves: p.leaves, MirrorList: p.mirrorList}
		if err := n.rebase(p, u, now); err != nil {
			return nil, nil, err
		}
		if now == nil || now.Size == p.haveSize {
			// The log as planned: its bundles go with it.
			u.Bundles = b.bundles
			return n.applyLog(c, root, p, u, now)
		}
		if res, dropped, err = n.applyLog(c, root, p, u, now); err != nil {
			return nil, nil, err
		}
		if now, err = n.st.Publisher(pub); err != nil {
			return nil, nil, err
		}
	}
	if len(b.bundles) > 0 && (now == nil || now.Size != b.size) {
		// Skipped when the log is as it was: MissingBundles reads every
		// article of the publisher.
		if bundles.Bundles, err = n.stillMissing(pub, b.digests, b.bundles); err != nil {
			return nil, nil, err
		}
	}
	if updateEmpty(bundles) {
		return res, dropped, nil
	}
	r, err := n.st.Apply(root, bundles)
	if err != nil {
		return nil, nil, err
	}
	if res != nil {
		r.LeavesAdded, r.Statement, r.Checkpoint, r.MirrorList = res.LeavesAdded, res.Statement, res.Checkpoint, res.MirrorList
		r.BundlesAdded += res.BundlesAdded
	}
	return r, dropped, nil
}

// applyLog gives u, the first batch's update rebased on now (the store's
// state), to the store. A mirror list or bundles that the store refuses
// must not keep the log back: they are dropped and the update is given
// again (dropped says why the bundles were). It returns what applyBatch
// does.
func (n *Node) applyLog(c session.Conn, root *keys.PublicKey, p *plan, u *store.Update, now *store.Publisher) (res *store.Result, dropped, err error) {
	if updateEmpty(u) {
		return nil, nil, nil
	}
	pub := root.ID()
	res, err = n.st.Apply(root, u)
	if err != nil && u.MirrorList != nil && !isForkOrStale(err) {
		n.log.Warn("replica: mirror list refused; storing the log without it", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		u.MirrorList = nil
		res, err = n.st.Apply(root, u)
	}
	if err != nil && len(u.Bundles) > 0 && !isForkOrStale(err) {
		n.log.Warn("replica: bundles refused; storing the log without them", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		dropped, u.Bundles = err, nil
		if updateEmpty(u) {
			return nil, dropped, nil
		}
		res, err = n.st.Apply(root, u)
	}
	if asFork(err) != nil && len(u.Leaves) > 0 && !errors.Is(err, store.ErrFalseIndex) {
		// The leaves do not lead from the store's log to the checkpoint:
		// a fork, or leaves the peer made up. refuse decides, once the
		// lock is released. (A false index root is proven by the leaves
		// that did lead to the checkpoint: it is raised as it is.)
		uf := &unprovenFork{got: p.cp, gotCP: p.checkpoint}
		if now != nil && now.Checkpoint != nil {
			if uf.have, err = catalog.ParseUnverified(now.Checkpoint); err != nil {
				return nil, nil, fmt.Errorf("replica: publisher %s: stored checkpoint: %w", pub, err)
			}
			uf.haveCP = now.Checkpoint
		}
		return nil, nil, uf
	}
	if err != nil {
		return nil, nil, err
	}
	return res, dropped, nil
}

func isForkOrStale(err error) bool { return asFork(err) != nil || isStale(err) }

// stillMissing returns the bundles, named by digests, that the store still
// lacks and that are of current articles of the publisher.
func (n *Node) stillMissing(pub string, digests []bundle.Digest, bundles [][]byte) ([][]byte, error) {
	missing, err := n.st.MissingBundles(pub)
	if err != nil {
		return nil, err
	}
	set := make(map[bundle.Digest]bool, len(missing))
	for _, d := range missing {
		set[d] = true
	}
	var out [][]byte
	for i, d := range digests {
		if set[d] {
			out = append(out, bundles[i])
		}
	}
	return out, nil
}

// budget bounds the bytes of fetched bundles that a pull holds and has
// not stored yet, and of those it asks for. The size of a bundle is known
// only once it arrives, so each request in flight counts as the largest
// bundle received so far: once bundles are known to be large, fewer are
// asked for at once. It is safe for concurrent use.
type budget struct {
	max int64

	mu       sync.Mutex
	held     int64         // bytes received and not released
	inflight int64         // requests in flight
	largest  int64         // the largest bundle received
	hi       int64         // the most bytes held at once
	freed    chan struct{} // closed when bytes are released
}

func newBudget(max int64) *budget { return &budget{max: max, freed: make(chan struct{})} }

// reserve waits until the bytes held and counted for requests in flight
// are under max (or nothing is), then counts one more request in
// flight; or returns ctx's error.
func (b *budget) reserve(ctx context.Context) error {
	for {
		b.mu.Lock()
		if used := b.held + b.inflight*b.largest; used < b.max || used == 0 {
			b.inflight++
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// received ends a request in flight, whose answer of k bytes is held
// from now on; k is 0 for a request that brought nothing.
func (b *budget) received(k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight--
	b.held += k
	b.largest = max(b.largest, k)
	b.hi = max(b.hi, b.held)
	b.signal()
}

// release counts k bytes as no longer held.
func (b *budget) release(k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= k
	b.signal()
}

// signal wakes the waiting reserves; b.mu is held.
func (b *budget) signal() {
	close(b.freed)
	b.freed = make(chan struct{})
}

// peak returns the most bytes held at once.
func (b *budget) peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hi
}

// noteHeld records the most bytes of fetched bundles that a pull held at
// once, for tests.
func (n *Node) noteHeld(k int64) {
	for {
		old := n.heldPeak.Load()
		if k <= old || n.heldPeak.CompareAndSwap(old, k) {
			return
		}
	}
}
