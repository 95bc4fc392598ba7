package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// errRefused is wrapped when a node refuses what a peer offers.
var errRefused = errors.New("replica: refused")

// SyncWith pulls from the peer on c everything it has that the store lacks
// of the publishers the node trusts: newer key statements, missing leaves
// with the peer's checkpoint, and missing bundles of current articles.
// Publishers the node does not trust are refused and logged. The peer must
// answer streams on c. It returns the errors met, joined; what verified
// is stored even then.
func (n *Node) SyncWith(ctx context.Context, c session.Conn) error {
	es, err := n.host.List(ctx, c)
	if err != nil {
		return err
	}
	for i := range es {
		// The size the peer's checkpoint claims; it is verified when
		// pulled, and a peer that overstates it only gets fewer leaves.
		if size, ok := checkpointSize(es[i].Checkpoint); ok {
			n.notePeerSize(c, es[i].Pub, size)
		}
	}
	var errs []error
	for i := range es {
		x := &es[i]
		root := n.trusted[x.Pub]
		if root == nil {
			n.refused.Add(1)
			n.log.Info("replica: refusing publisher: its root key is not trusted", "peer", c.RemoteAddr(), "publisher", x.Pub)
			continue
		}
		if err := n.pull(ctx, c, root, x, true); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Push offers the peer on c every publisher the store holds, and answers
// the peer's requests while it takes what it lacks: what `samizdat push`
// does with a publisher's store. It returns once the peer has acted on
// every offer, with the errors met, joined; a peer that does not carry a
// publisher refuses it.
func (n *Node) Push(ctx context.Context, c session.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		// After the streams are done: a hello answered late would
		// note the peer again.
		n.forgetPeer(c)
	}()
	// The publisher's own push is not rate limited.
	wg.Go(func() { n.host.Answer(ctx, c) })
	pubs, err := n.st.Publishers()
	if err != nil {
		return err
	}
	var errs []error
	for _, pub := range pubs {
		if err := n.announce(ctx, c, pub); err != nil {
			errs = append(errs, fmt.Errorf("replica: pushing publisher %s: %w", pub, err))
		}
	}
	return errors.Join(errs...)
}

// announced acts on a peer's announce.
func (n *Node) announced(ctx context.Context, c session.Conn, x *session.Entry) error {
	root := n.trusted[x.Pub]
	if root == nil {
		n.refused.Add(1)
		n.log.Info("replica: refusing announce: publisher's root key is not trusted", "peer", c.RemoteAddr(), "publisher", x.Pub)
		return fmt.Errorf("%w: publisher %s is not carried here", errRefused, x.Pub)
	}
	// One announce per peer and publisher is acted on at a time: an
	// honest node sends them one by one, and a hostile one must not
	// queue many pulls, each holding the publisher's lock.
	n.mu.Lock()
	if n.announcing[c] == nil {
		n.announcing[c] = map[string]bool{}
	}
	busy := n.announcing[c][x.Pub]
	n.announcing[c][x.Pub] = true
	n.mu.Unlock()
	if busy {
		n.refused.Add(1)
		return fmt.Errorf("%w: an announce of publisher %s from this peer is being acted on", errRefused, x.Pub)
	}
	defer func() {
		n.mu.Lock()
		delete(n.announcing[c], x.Pub)
		if len(n.announcing[c]) == 0 {
			delete(n.announcing, c)
		}
		n.mu.Unlock()
	}()
	return n.pull(ctx, c, root, x, false)
}

// announce tells the peer on c of the publisher's current checkpoint.
func (n *Node) announce(ctx context.Context, c session.Conn, pub string) error {
	x, err := n.entry(pub)
	if err != nil || x.Checkpoint == nil {
		return err
	}
	size := x.First
	x.First = max(0, size-session.MaxAnnounceLeaves)
	// Leaves the peer is known to hold are not sent again.
	if known, ok := n.peerSize(c, pub); ok && known >= x.First && known <= size {
		x.First = known
	}
	if x.Leaves, err = n.st.Leaves(pub, x.First, size); err != nil {
		return err
	}
	n.announces.Add(1)
	if err = n.host.Announce(ctx, c, x); err != nil {
		return err
	}
	n.notePeerSize(c, pub, size) // the peer acted on it: it holds them now
	return nil
}

// checkpointSize reads the size a signed checkpoint states, without
// verifying it.
func checkpointSize(signed []byte) (int64, bool) {
	c, err := catalog.ParseUnverified(signed)
	if err != nil {
		return 0, false
	}
	return c.Size, true
}

// notePeerSize records the size of a publisher's log that the peer on c
// is known to hold, so announces to it carry only the leaves it lacks.
func (n *Node) notePeerSize(c session.Conn, pub string, size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.peerSizes[c]
	if m == nil {
		m = map[string]int64{}
		n.peerSizes[c] = m
	}
	if size > m[pub] {
		m[pub] = size
	}
}

func (n *Node) peerSize(c session.Conn, pub string) (int64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	size, ok := n.peerSizes[c][pub]
	return size, ok
}

func (n *Node) forgetPeer(c session.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.peerSizes, c)
	delete(n.peerURLs, c)
	delete(n.peerSince, c)
}

// pull brings the store's copy of one publisher up to the peer's entry x.
// With all, every missing bundle is fetched, not only the new leaves'.
func (n *Node) pull(ctx context.Context, c session.Conn, root *keys.PublicKey, x *session.Entry, all bool) error {
	pub := x.Pub
	unlock, err := n.lock(ctx, pub)
	if err != nil {
		return err
	}
	defer unlock()

	var trust *keys.Trust
	var haveVer uint64
	var haveSize int64
	var haveCP []byte
	switch p, err := n.st.Publisher(pub); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if trust, err = n.st.Trust(root); err != nil {
			return err
		}
		haveVer, haveSize, haveCP = trust.Statement().Version, p.Size, p.Checkpoint
	}

	u := &store.Update{}
	var newCP *catalog.Checkpoint
	if trust == nil || x.Version > haveVer {
		if u.Statement, err = n.host.Statement(ctx, c, pub); err != nil {
			return fmt.Errorf("replica: publisher %s: key statement: %w", pub, err)
		}
		if trust == nil {
			trust, err = keys.NewTrust(root, u.Statement)
		} else {
			trust, err = trust.Update(u.Statement)
		}
		if err != nil {
			return n.refuse(c, pub, err)
		}
	}
	if x.Checkpoint != nil && !bytes.Equal(x.Checkpoint, haveCP) {
		// The checkpoint is verified before its size decides how many
		// leaves to ask for; the store verifies it again.
		cp, err := catalog.OpenCheckpoint(x.Checkpoint, trust)
		if err == nil && cp.Origin != catalog.Origin(pub) {
			err = fmt.Errorf("checkpoint of log %q", cp.Origin)
		}
		if err != nil {
			return n.refuse(c, pub, err)
		}
		switch {
		case cp.Size < haveSize:
			n.stale.Add(1)
			n.log.Debug("replica: peer is behind", "peer", c.RemoteAddr(), "publisher", pub, "size", cp.Size, "have", haveSize)
		case cp.Size-haveSize > n.cfg.MaxLeaves:
			n.refused.Add(1)
			return fmt.Errorf("%w: publisher %s: %d new leaves exceed the limit of %d", errRefused, pub, cp.Size-haveSize, n.cfg.MaxLeaves)
		default:
			if x.Leaves != nil && x.First <= haveSize && x.First+int64(len(x.Leaves)) == cp.Size {
				u.Leaves = x.Leaves[haveSize-x.First:]
			} else if u.Leaves, err = n.getLeaves(ctx, c, pub, haveSize, cp.Size); err != nil {
				return err
			}
			u.Checkpoint, newCP = x.Checkpoint, cp
		}
	}

	// The bundles the new leaves make current come in the same update
	// when they are few, so the store never shows the new articles
	// without them.
	want := currentDigests(u.Leaves)
	var fetchErr error
	if len(want) > 0 && len(want) <= n.cfg.Batch {
		ferr := n.fetch(ctx, c, want, func(raw []byte) bool {
			u.Bundles = append(u.Bundles, raw)
			return true
		})
		if err := ctx.Err(); err != nil {
			return err // not the new leaves without their bundles
		}
		if ferr != nil {
			fetchErr = ferr
		} else {
			all = all || len(u.Bundles) < len(want)
		}
	} else if len(want) > 0 {
		all = true
	}
	// The mirror list the new leaves record (or one the store still
	// lacks) comes in the same update, so the store never holds a list
	// older than its log's.
	u.MirrorList = n.mirrorList(ctx, c, pub, u.Leaves)
	var changed bool
	if u.Statement != nil || u.Checkpoint != nil || len(u.Bundles) > 0 || u.MirrorList != nil {
		res, err := n.st.Apply(root, u)
		if err != nil && u.MirrorList != nil && !isForkOrStale(err) {
			// A list the store refuses must not keep the log back.
			n.log.Warn("replica: mirror list refused; storing the log without it", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
			u.MirrorList = nil
			res, err = n.st.Apply(root, u)
		}
		if err != nil && len(u.Bundles) > 0 && !isForkOrStale(err) {
			// A bundle the store refuses must not keep the log back.
			n.log.Warn("replica: bundles refused; storing the log without them", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
			u.Bundles, all = nil, true
			res, err = n.st.Apply(root, u)
		}
		var fe *store.ForkError
		if errors.As(err, &fe) && len(u.Leaves) > 0 && haveCP != nil {
			// The peer's leaves do not lead from our log to its
			// checkpoint: a fork, or leaves the peer made up.
			if lie := n.checkFork(ctx, c, pub, haveCP, newCP); lie != nil {
				n.refused.Add(1)
				n.log.Warn("replica: refusing leaves that do not match the peer's checkpoint", "peer", c.RemoteAddr(), "publisher", pub, "err", lie)
				return fmt.Errorf("%w: publisher %s: %w", errRefused, pub, lie)
			}
		}
		if err != nil {
			return n.refuse(c, pub, err)
		}
		n.leaves.Add(uint64(res.LeavesAdded))
		n.bundles.Add(uint64(res.BundlesAdded))
		changed = res.Checkpoint || res.Statement || res.BundlesAdded > 0 || res.MirrorList
		if res.Checkpoint {
			// The peer brought a newer checkpoint of a trusted
			// publisher: a session on probation (a push) stays.
			n.host.Promote(c)
		}
		if res.Checkpoint || res.Statement {
			n.log.Info("replica: updated publisher", "peer", c.RemoteAddr(), "publisher", pub, "size", res.Size, "leaves", res.LeavesAdded, "bundles", res.BundlesAdded)
		}
	}
	if changed {
		// The new checkpoint is announced as soon as it is stored, not
		// after the bundles below: the next mirror takes the log now and
		// the bundles this node holds, and the rest on later announces.
		n.notify(pub, c)
		changed = false
	}
	n.mu.Lock()
	if fetchErr != nil {
		n.incomplete[pub] = true // for the next peer to fill
	}
	all = all || n.incomplete[pub]
	n.mu.Unlock()
	if all && fetchErr == nil {
		added, left, err := n.fetchMissing(ctx, c, root)
		changed = changed || added > 0
		n.mu.Lock()
		n.incomplete[pub] = left > 0
		n.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if changed {
		n.notify(pub, c)
	}
	if fetchErr != nil {
		return fetchErr
	}
	n.syncs.Add(1)
	return nil
}

func isForkOrStale(err error) bool {
	var fe *store.ForkError
	return errors.As(err, &fe) || errors.Is(err, store.ErrStale)
}

// refuse logs and counts an update the store refused.
func (n *Node) refuse(c session.Conn, pub string, err error) error {
	var fe *store.ForkError
	switch {
	case errors.As(err, &fe):
		n.forks.Add(1)
		n.alarm(pub, fmt.Sprintf("%s: fork: peer %s holds a checkpoint of this publisher's log that contradicts ours (%s); ours was kept", time.Now().UTC().Format(time.RFC3339), c.RemoteAddr(), fe.Reason))
		n.log.Error("replica: ALARM: fork: the publisher's key signed two histories (or the peer lies); kept our log", "peer", c.RemoteAddr(), "publisher", pub, "err", err,
			"have", string(fe.Have), "got", string(fe.Got))
	case errors.Is(err, store.ErrStale):
		n.stale.Add(1)
		n.log.Debug("replica: stale checkpoint ignored", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		return nil
	default:
		n.refused.Add(1)
		n.log.Warn("replica: refusing update", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
	}
	return fmt.Errorf("%w update of publisher %s: %w", errRefused, pub, err)
}

// checkFork decides whether a checkpoint that the store found to fork
// from its log is a fork, so that a lying peer cannot raise the alarm. It
// takes the peer's whole log: leaves that hash to the peer's (verified)
// checkpoint are the publisher's, and if their prefix has another root than
// our checkpoint, the publisher signed two histories. It returns an error
// when the peer lied, nil when the fork is proven or cannot be decided.
func (n *Node) checkFork(ctx context.Context, c session.Conn, pub string, haveCP []byte, newCP *catalog.Checkpoint) error {
	if newCP.Size > n.cfg.MaxLeaves {
		return nil
	}
	old, err := catalog.ParseUnverified(haveCP)
	if err != nil || old.Size > newCP.Size {
		return nil
	}
	leaves, err := n.getLeaves(ctx, c, pub, 0, newCP.Size)
	if err != nil {
		return nil
	}
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, errors.New("replica: hash index out of range")
			}
			out[j] = hashes[x]
		}
		return out, nil
	})
	for j, l := range leaves {
		hs, err := tlog.StoredHashes(int64(j), l, read)
		if err != nil {
			return nil
		}
		hashes = append(hashes, hs...)
	}
	if root, err := tlog.TreeHash(newCP.Size, read); err != nil || root != newCP.Root {
		return fmt.Errorf("replica: the peer's %d leaves do not hash to its checkpoint", newCP.Size)
	}
	if root, err := tlog.TreeHash(old.Size, read); err == nil && old.Size > 0 && root == old.Root {
		return fmt.Errorf("replica: the peer's log extends ours, but the leaves it first sent do not")
	}
	return nil
}

// getLeaves fetches leaves [from, to) in as many requests as needed.
func (n *Node) getLeaves(ctx context.Context, c session.Conn, pub string, from, to int64) ([][]byte, error) {
	var out [][]byte
	for from < to {
		ls, err := n.host.Leaves(ctx, c, pub, from, to)
		if err != nil {
			return nil, fmt.Errorf("replica: publisher %s: leaves: %w", pub, err)
		}
		out = append(out, ls...)
		from += int64(len(ls))
	}
	return out, nil
}

// currentDigests returns the bundles that leaves leave current: the last
// revision of each article they name, unless retracted. Unparsable leaves
// are skipped; the store refuses them.
func currentDigests(leaves [][]byte) []bundle.Digest {
	cur := map[string]*bundle.Digest{}
	var order []string
	for _, raw := range leaves {
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			continue
		}
		switch l.Kind {
		case catalog.KindBundle:
			if _, ok := cur[l.ID]; !ok {
				order = append(order, l.ID)
			}
			d := l.Digest
			cur[l.ID] = &d
		case catalog.KindRetraction:
			cur[l.ID] = nil
		}
	}
	var out []bundle.Digest
	for _, id := range order {
		if d := cur[id]; d != nil {
			out = append(out, *d)
		}
	}
	return out
}

// progressInterval is the least time between the announces a node sends
// while it stores the bundles of a long sync, so that the next mirror
// fetches what arrived (and asks again for what did not) without asking
// for every bundle at every batch.
const progressInterval = time.Second

// fetchMissing fetches and stores, in batches, the bundles of the
// publisher's current articles that the store lacks. It returns how many
// it stored and how many it still lacks. While it runs, the other
// sessions are told of the bundles stored at most every progressInterval.
func (n *Node) fetchMissing(ctx context.Context, c session.Conn, root *keys.PublicKey) (added, left int, err error) {
	want, err := n.st.MissingBundles(root.ID())
	if err != nil {
		return 0, 0, err
	}
	if len(want) == 0 {
		return 0, 0, nil
	}
	// Batches are stored by one goroutine while the next is fetched, so
	// the network and the disk work at once; at most one batch waits.
	var batch [][]byte
	var size int64
	var applyErr error
	var stopped atomic.Bool
	applies := make(chan [][]byte, 1)
	var applier sync.WaitGroup
	applier.Go(func() {
		last := time.Now()
		for b := range applies {
			if stopped.Load() {
				continue
			}
			res, err := n.st.Apply(root, &store.Update{Bundles: b})
			if err != nil {
				applyErr = n.refuse(c, root.ID(), err)
				stopped.Store(true)
				continue
			}
			n.bundles.Add(uint64(res.BundlesAdded))
			added += res.BundlesAdded
			if res.BundlesAdded > 0 && time.Since(last) >= progressInterval {
				n.notify(root.ID(), c)
				last = time.Now()
			}
		}
	})
	flush := func() bool {
		if len(batch) > 0 {
			applies <- batch
			batch, size = nil, 0
		}
		return !stopped.Load()
	}
	ferr := n.fetch(ctx, c, want, func(raw []byte) bool {
		batch = append(batch, raw)
		size += int64(len(raw))
		if len(batch) >= n.cfg.Batch || size >= n.cfg.BatchBytes {
			return flush()
		}
		return !stopped.Load()
	})
	flush()
	close(applies)
	applier.Wait() // added and applyErr are read only after this
	left = len(want) - added
	if applyErr == nil && ctx.Err() != nil {
		return added, left, ctx.Err()
	}
	return added, left, errors.Join(applyErr, ferr)
}

// fetch gets the bundles named by want from the peer on up to Parallel
// streams and passes each one that hashes to its digest to take, from one
// goroutine at a time, until take returns false. Bundles the peer does not
// have are skipped; one that does not match its digest is logged and
// counted, no more are asked from this peer, and fetch returns an error.
func (n *Node) fetch(ctx context.Context, c session.Conn, want []bundle.Digest, take func([]byte) bool) error {
	var bad atomic.Pointer[bundle.Digest]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan bundle.Digest)
	results := make(chan []byte)
	var wg sync.WaitGroup
	for range min(n.cfg.Parallel, len(want)) {
		wg.Go(func() {
			for d := range jobs {
				// The session layer hashes the answer as it streams
				// and returns only a bundle that matches d.
				p, err := n.host.Bundle(ctx, c, d)
				if errors.Is(err, session.ErrDigestMismatch) {
					n.refused.Add(1)
					n.log.Warn("replica: refusing bundle: it does not match its digest; asking this peer no more", "peer", c.RemoteAddr(), "digest", d)
					bad.Store(&d)
					cancel()
					continue
				}
				if err != nil {
					var re *session.RemoteError
					if !errors.As(err, &re) || re.Code != session.CodeNotFound {
						if ctx.Err() == nil {
							n.log.Debug("replica: bundle fetch failed", "peer", c.RemoteAddr(), "digest", d, "err", err)
						}
					}
					continue
				}
				select {
				case results <- p:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, d := range want {
			select {
			case jobs <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	stopped := false
	for p := range results {
		if !stopped && !take(p) {
			stopped = true
			cancel()
		}
	}
	if d := bad.Load(); d != nil {
		return fmt.Errorf("%w: bundle %s from the peer does not match its digest", errRefused, d)
	}
	return nil
}
