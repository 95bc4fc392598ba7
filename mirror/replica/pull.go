package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
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
	// queue many pulls from itself.
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

// pull brings the store's copy of one publisher up to the peer's entry x,
// after the pulls of that publisher from that peer before it (takeTurn),
// in steps that each hold what they need and no more:
//
//  1. plan fetches the new key statement, checkpoint, leaves and mirror
//     list from the peer and checks them, without the publisher's lock;
//  2. transfer fetches the bundles the new leaves make current and stores
//     them with the plan's update, in batches, taking the publisher's lock
//     only for each store.Apply, and announces the new checkpoint to the
//     other peers as soon as it is stored;
//  3. with all, or when the store still lacks bundles of the publisher
//     (this peer or an earlier one did not have them), transfer fetches
//     and stores every bundle of a current article that the store lacks.
//
// A large update (more than Config.Batch new bundles) stores the log
// before its bundles, so the next mirror can take the log at once. It
// returns nil when the store holds what the peer offered (or a stale
// checkpoint was ignored); else an error wrapping errRefused for what the
// peer sent that failed verification (a proven fork raises an alarm), or
// the error of a request.
func (n *Node) pull(ctx context.Context, c session.Conn, root *keys.PublicKey, x *session.Entry, all bool) error {
	pub := x.Pub
	done, err := n.takeTurn(ctx, c, pub)
	if err != nil {
		return err
	}
	defer done()
	p, err := n.plan(ctx, c, root, x)
	if err != nil {
		return err
	}
	size := p.haveSize
	if p.cp != nil {
		size = p.cp.Size
	}
	want := p.want
	if len(want) > n.cfg.Batch {
		want, all = nil, true
	}
	got, applyErr, fetchErr := n.transfer(ctx, c, root, p, want, size)
	if err := ctx.Err(); err != nil {
		return err
	}
	if applyErr != nil {
		return n.refuse(ctx, c, pub, applyErr)
	}
	all = all || got.added < len(want)
	n.mu.Lock()
	if fetchErr != nil || got.dropped != nil {
		n.incomplete[pub] = true // for the next peer to fill
	}
	all = all || n.incomplete[pub]
	n.mu.Unlock()
	if got.dropped != nil {
		return n.refuse(ctx, c, pub, got.dropped)
	}
	if fetchErr != nil {
		return fetchErr
	}
	if all {
		if err := n.fetchMissing(ctx, c, root); err != nil {
			return err
		}
	}
	n.syncs.Add(1)
	return nil
}

// turn is the right to pull one publisher from one peer.
type turn struct {
	ch   chan struct{} // holds a value while a pull has the turn
	refs int           // pulls that have it or wait for it
}

// takeTurn waits until no other pull of the publisher from the peer on c
// runs, and returns the function that ends this one's turn; or ctx's
// error. A peer whose session pulls and announces at once (as a push
// does: the announce and the pull that starts every session) thus sends
// each update once; since only that peer's pulls wait for its turn, a
// slow peer delays no other.
func (n *Node) takeTurn(ctx context.Context, c session.Conn, pub string) (func(), error) {
	n.mu.Lock()
	m := n.pulling[c]
	if m == nil {
		m = map[string]*turn{}
		n.pulling[c] = m
	}
	t := m[pub]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		m[pub] = t
	}
	t.refs++
	n.mu.Unlock()
	leave := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if t.refs--; t.refs == 0 {
			delete(m, pub)
			if len(m) == 0 {
				delete(n.pulling, c)
			}
		}
	}
	select {
	case t.ch <- struct{}{}:
		return func() { <-t.ch; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// fetchMissing fetches from the peer on c and stores, in batches, the
// bundles of the publisher's current articles that the store lacks, and
// notes whether the store still lacks some. It returns nil, or the error
// that stopped it.
func (n *Node) fetchMissing(ctx context.Context, c session.Conn, root *keys.PublicKey) error {
	pub := root.ID()
	p, err := n.st.Publisher(pub)
	if err != nil {
		return err
	}
	want, err := n.st.MissingBundles(pub)
	if err != nil || len(want) == 0 {
		n.mu.Lock()
		n.incomplete[pub] = false
		n.mu.Unlock()
		return err
	}
	got, applyErr, fetchErr := n.transfer(ctx, c, root, nil, want, p.Size)
	n.mu.Lock()
	n.incomplete[pub] = got.added < len(want)
	n.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if applyErr != nil {
		return n.refuse(ctx, c, pub, applyErr)
	}
	return fetchErr
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
