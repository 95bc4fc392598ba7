package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// errRefused is wrapped when a node refuses what a peer offers.
var errRefused = errors.New("sync: refused")

// request sends one request on a new stream and reads the answer, which
// must be of type want.
func (n *Node) request(ctx context.Context, c Conn, t byte, payload []byte, want byte) ([]byte, error) {
	timeout := n.cfg.RequestTimeout
	if t == typeAnnounce {
		timeout = n.cfg.AnnounceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := c.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, s.Reset)
	defer stop()
	s.SetDeadline(time.Now().Add(timeout))
	ok := false
	defer func() {
		if !ok {
			s.Reset()
		}
	}()
	if err := writeFrame(s, t, payload); err != nil {
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	rt, p, err := readFrame(s, n.cfg.MaxBundleSize)
	if err != nil {
		return nil, err
	}
	ok = true
	switch rt {
	case want:
		return p, nil
	case respError:
		return nil, decodeError(p)
	}
	return nil, fmt.Errorf("%w: answer of type 0x%02x to request 0x%02x", ErrFrame, rt, t)
}

// SyncWith pulls from the peer on c everything it has that the store lacks
// of the publishers the node trusts: newer key statements, missing leaves
// with the peer's checkpoint, and missing bundles of current articles.
// Publishers the node does not trust are refused and logged. The peer must
// answer streams on c. It returns the errors met, joined; what verified
// is stored even then.
func (n *Node) SyncWith(ctx context.Context, c Conn) error {
	p, err := n.request(ctx, c, typeList, nil, respPublishers)
	if err != nil {
		return err
	}
	es, err := decodeEntries(p)
	if err != nil {
		return err
	}
	for i := range es {
		// The size the peer's checkpoint claims; it is verified when
		// pulled, and a peer that overstates it only gets fewer leaves.
		if size, ok := checkpointSize(es[i].Checkpoint); ok {
			n.notePeerSize(c, es[i].ID, size)
		}
	}
	var errs []error
	for i := range es {
		x := &es[i]
		root := n.trusted[x.ID]
		if root == nil {
			n.refused.Add(1)
			n.log.Info("sync: refusing publisher: its root key is not trusted", "peer", c.RemoteAddr(), "publisher", x.ID)
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
func (n *Node) Push(ctx context.Context, c Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		// After the streams are done: a hello answered late would
		// note the peer again.
		n.forgetPeer(c)
	}()
	// The publisher's own push is not rate limited.
	wg.Go(func() { n.serveStreams(ctx, c, nil) })
	ids, err := n.st.Publishers()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := n.announce(ctx, c, id); err != nil {
			errs = append(errs, fmt.Errorf("sync: pushing publisher %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// announced acts on a peer's announce.
func (n *Node) announced(ctx context.Context, c Conn, x *entry) error {
	root := n.trusted[x.ID]
	if root == nil {
		n.refused.Add(1)
		n.log.Info("sync: refusing announce: publisher's root key is not trusted", "peer", c.RemoteAddr(), "publisher", x.ID)
		return fmt.Errorf("%w: publisher %s is not carried here", errRefused, x.ID)
	}
	// One announce per peer and publisher is acted on at a time: an
	// honest node sends them one by one, and a hostile one must not
	// queue many pulls, each holding the publisher's lock.
	n.mu.Lock()
	if n.announcing[c] == nil {
		n.announcing[c] = map[string]bool{}
	}
	busy := n.announcing[c][x.ID]
	n.announcing[c][x.ID] = true
	n.mu.Unlock()
	if busy {
		n.refused.Add(1)
		return fmt.Errorf("%w: an announce of publisher %s from this peer is being acted on", errRefused, x.ID)
	}
	defer func() {
		n.mu.Lock()
		delete(n.announcing[c], x.ID)
		if len(n.announcing[c]) == 0 {
			delete(n.announcing, c)
		}
		n.mu.Unlock()
	}()
	return n.pull(ctx, c, root, x, false)
}

// announce tells the peer on c of the publisher's current checkpoint.
func (n *Node) announce(ctx context.Context, c Conn, id string) error {
	x, err := n.entry(id)
	if err != nil || x.Checkpoint == nil {
		return err
	}
	size := x.First
	x.First = max(0, size-MaxAnnounceLeaves)
	// Leaves the peer is known to hold are not sent again.
	if known, ok := n.peerSize(c, id); ok && known >= x.First && known <= size {
		x.First = known
	}
	if x.Leaves, err = n.st.Leaves(id, x.First, size); err != nil {
		return err
	}
	n.announces.Add(1)
	if _, err = n.request(ctx, c, typeAnnounce, encodeAnnounce(x), respOK); err != nil {
		return err
	}
	n.notePeerSize(c, id, size) // the peer acted on it: it holds them now
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
func (n *Node) notePeerSize(c Conn, id string, size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.peerSizes[c]
	if m == nil {
		m = map[string]int64{}
		n.peerSizes[c] = m
	}
	if size > m[id] {
		m[id] = size
	}
}

func (n *Node) peerSize(c Conn, id string) (int64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	size, ok := n.peerSizes[c][id]
	return size, ok
}

func (n *Node) forgetPeer(c Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.peerSizes, c)
	delete(n.peerURLs, c)
	delete(n.peerSince, c)
}

// pull brings the store's copy of one publisher up to the peer's entry x.
// With all, every missing bundle is fetched, not only the new leaves'.
func (n *Node) pull(ctx context.Context, c Conn, root *keys.PublicKey, x *entry, all bool) error {
	id := x.ID
	unlock, err := n.lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()

	var trust *keys.Trust
	var haveVer uint64
	var haveSize int64
	var haveCP []byte
	switch pub, err := n.st.Publisher(id); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if trust, err = n.st.Trust(root); err != nil {
			return err
		}
		haveVer, haveSize, haveCP = trust.Statement().Version, pub.Size, pub.Checkpoint
	}

	u := &store.Update{}
	var newCP *catalog.Checkpoint
	if trust == nil || x.Version > haveVer {
		p, err := n.request(ctx, c, typeStatement, encodeID(id), respStatement)
		if err != nil {
			return fmt.Errorf("sync: publisher %s: key statement: %w", id, err)
		}
		if u.Statement, err = decodeStatement(p); err != nil {
			return err
		}
		if trust == nil {
			trust, err = keys.NewTrust(root, u.Statement)
		} else {
			trust, err = trust.Update(u.Statement)
		}
		if err != nil {
			return n.refuse(c, id, err)
		}
	}
	if x.Checkpoint != nil && !bytes.Equal(x.Checkpoint, haveCP) {
		// The checkpoint is verified before its size decides how many
		// leaves to ask for; the store verifies it again.
		cp, err := catalog.OpenCheckpoint(x.Checkpoint, trust)
		if err == nil && cp.Origin != catalog.Origin(id) {
			err = fmt.Errorf("checkpoint of log %q", cp.Origin)
		}
		if err != nil {
			return n.refuse(c, id, err)
		}
		switch {
		case cp.Size < haveSize:
			n.stale.Add(1)
			n.log.Debug("sync: peer is behind", "peer", c.RemoteAddr(), "publisher", id, "size", cp.Size, "have", haveSize)
		case cp.Size-haveSize > n.cfg.MaxLeaves:
			n.refused.Add(1)
			return fmt.Errorf("%w: publisher %s: %d new leaves exceed the limit of %d", errRefused, id, cp.Size-haveSize, n.cfg.MaxLeaves)
		default:
			if x.Leaves != nil && x.First <= haveSize && x.First+int64(len(x.Leaves)) == cp.Size {
				u.Leaves = x.Leaves[haveSize-x.First:]
			} else if u.Leaves, err = n.getLeaves(ctx, c, id, haveSize, cp.Size); err != nil {
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
	u.MirrorList = n.mirrorList(ctx, c, id, u.Leaves)
	var changed bool
	if u.Statement != nil || u.Checkpoint != nil || len(u.Bundles) > 0 || u.MirrorList != nil {
		res, err := n.st.Apply(root, u)
		if err != nil && u.MirrorList != nil && !isForkOrStale(err) {
			// A list the store refuses must not keep the log back.
			n.log.Warn("sync: mirror list refused; storing the log without it", "peer", c.RemoteAddr(), "publisher", id, "err", err)
			u.MirrorList = nil
			res, err = n.st.Apply(root, u)
		}
		if err != nil && len(u.Bundles) > 0 && !isForkOrStale(err) {
			// A bundle the store refuses must not keep the log back.
			n.log.Warn("sync: bundles refused; storing the log without them", "peer", c.RemoteAddr(), "publisher", id, "err", err)
			u.Bundles, all = nil, true
			res, err = n.st.Apply(root, u)
		}
		var fe *store.ForkError
		if errors.As(err, &fe) && len(u.Leaves) > 0 && haveCP != nil {
			// The peer's leaves do not lead from our log to its
			// checkpoint: a fork, or leaves the peer made up.
			if lie := n.checkFork(ctx, c, id, haveCP, newCP); lie != nil {
				n.refused.Add(1)
				n.log.Warn("sync: refusing leaves that do not match the peer's checkpoint", "peer", c.RemoteAddr(), "publisher", id, "err", lie)
				return fmt.Errorf("%w: publisher %s: %w", errRefused, id, lie)
			}
		}
		if err != nil {
			return n.refuse(c, id, err)
		}
		n.leaves.Add(uint64(res.LeavesAdded))
		n.bundles.Add(uint64(res.BundlesAdded))
		changed = res.Checkpoint || res.Statement || res.BundlesAdded > 0 || res.MirrorList
		if res.Checkpoint || res.Statement {
			n.log.Info("sync: updated publisher", "peer", c.RemoteAddr(), "publisher", id, "size", res.Size, "leaves", res.LeavesAdded, "bundles", res.BundlesAdded)
		}
	}
	if changed {
		// The new checkpoint is announced as soon as it is stored, not
		// after the bundles below: the next mirror takes the log now and
		// the bundles this node holds, and the rest on later announces.
		n.notify(id, c)
		changed = false
	}
	n.mu.Lock()
	if fetchErr != nil {
		n.incomplete[id] = true // for the next peer to fill
	}
	all = all || n.incomplete[id]
	n.mu.Unlock()
	if all && fetchErr == nil {
		added, left, err := n.fetchMissing(ctx, c, root)
		changed = changed || added > 0
		n.mu.Lock()
		n.incomplete[id] = left > 0
		n.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if changed {
		n.notify(id, c)
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
func (n *Node) refuse(c Conn, id string, err error) error {
	var fe *store.ForkError
	switch {
	case errors.As(err, &fe):
		n.forks.Add(1)
		n.alarm(id, fmt.Sprintf("%s: fork: peer %s holds a checkpoint of this publisher's log that contradicts ours (%s); ours was kept", time.Now().UTC().Format(time.RFC3339), c.RemoteAddr(), fe.Reason))
		n.log.Error("sync: ALARM: fork: the publisher's key signed two histories (or the peer lies); kept our log", "peer", c.RemoteAddr(), "publisher", id, "err", err,
			"have", string(fe.Have), "got", string(fe.Got))
	case errors.Is(err, store.ErrStale):
		n.stale.Add(1)
		n.log.Debug("sync: stale checkpoint ignored", "peer", c.RemoteAddr(), "publisher", id, "err", err)
		return nil
	default:
		n.refused.Add(1)
		n.log.Warn("sync: refusing update", "peer", c.RemoteAddr(), "publisher", id, "err", err)
	}
	return fmt.Errorf("%w update of publisher %s: %w", errRefused, id, err)
}

// checkFork decides whether a checkpoint that the store found to fork
// from its log is a fork, so that a lying peer cannot raise the alarm. It
// takes the peer's whole log: leaves that hash to the peer's (verified)
// checkpoint are the publisher's, and if their prefix has another root than
// our checkpoint, the publisher signed two histories. It returns an error
// when the peer lied, nil when the fork is proven or cannot be decided.
func (n *Node) checkFork(ctx context.Context, c Conn, id string, haveCP []byte, newCP *catalog.Checkpoint) error {
	if newCP.Size > n.cfg.MaxLeaves {
		return nil
	}
	old, err := catalog.ParseUnverified(haveCP)
	if err != nil || old.Size > newCP.Size {
		return nil
	}
	leaves, err := n.getLeaves(ctx, c, id, 0, newCP.Size)
	if err != nil {
		return nil
	}
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, errors.New("sync: hash index out of range")
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
		return fmt.Errorf("sync: the peer's %d leaves do not hash to its checkpoint", newCP.Size)
	}
	if root, err := tlog.TreeHash(old.Size, read); err == nil && old.Size > 0 && root == old.Root {
		return fmt.Errorf("sync: the peer's log extends ours, but the leaves it first sent do not")
	}
	return nil
}

// getLeaves fetches leaves [from, to) in as many requests as needed.
func (n *Node) getLeaves(ctx context.Context, c Conn, id string, from, to int64) ([][]byte, error) {
	var out [][]byte
	for from < to {
		p, err := n.request(ctx, c, typeLeaves, encodeLeavesReq(id, from, to), respLeaves)
		if err != nil {
			return nil, fmt.Errorf("sync: publisher %s: leaves: %w", id, err)
		}
		ls, err := decodeLeaves(p)
		if err != nil {
			return nil, err
		}
		if len(ls) == 0 || int64(len(ls)) > to-from {
			return nil, fmt.Errorf("%w: publisher %s: %d leaves in answer to [%d, %d)", ErrFrame, id, len(ls), from, to)
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
func (n *Node) fetchMissing(ctx context.Context, c Conn, root *keys.PublicKey) (added, left int, err error) {
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
	var applier gosync.WaitGroup
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
func (n *Node) fetch(ctx context.Context, c Conn, want []bundle.Digest, take func([]byte) bool) error {
	var bad atomic.Pointer[bundle.Digest]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan bundle.Digest)
	results := make(chan []byte)
	var wg gosync.WaitGroup
	for range min(n.cfg.Parallel, len(want)) {
		wg.Go(func() {
			for d := range jobs {
				p, err := n.request(ctx, c, typeBundle, d[:], respBundle)
				if err != nil {
					var re *RemoteError
					if !errors.As(err, &re) || re.Code != CodeNotFound {
						if ctx.Err() == nil {
							n.log.Debug("sync: bundle fetch failed", "peer", c.RemoteAddr(), "digest", d, "err", err)
						}
					}
					continue
				}
				if sha256.Sum256(p) != d {
					n.refused.Add(1)
					n.log.Warn("sync: refusing bundle: it does not match its digest; asking this peer no more", "peer", c.RemoteAddr(), "digest", d)
					bad.Store(&d)
					cancel()
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
