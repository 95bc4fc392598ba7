package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// plan is what a pull fetched from a peer and checked before it takes
// the publisher's lock: what the store held then, and the newer key
// statement, checkpoint, leaves and mirror list that the peer adds to it.
type plan struct {
	pub  string
	root *keys.PublicKey

	// What the store held when the plan was made.
	haveVer  uint64 // key statement version; 0 for none
	haveSize int64
	haveCP   []byte // signed; nil for none

	// What the peer adds.
	statement  []byte              // a newer key statement, verified; nil for none
	version    uint64              // its version
	checkpoint []byte              // the peer's checkpoint, verified, newer than haveCP; nil for none
	cp         *catalog.Checkpoint // checkpoint, parsed
	leaves     [][]byte            // leaves [haveSize, cp.Size), which lead from the store's log to cp
	mirrorList []byte              // the list the newest mirror-list leaf records, its digest checked; nil for none
	want       []bundle.Digest     // the bundles the new leaves make current that the store lacks
}

// empty reports whether the plan adds nothing to the store.
func (p *plan) empty() bool {
	return p.statement == nil && p.checkpoint == nil && p.mirrorList == nil
}

// plan fetches from the peer on c what its entry x has of the publisher
// that the store lacks, and checks it against the store without its
// lock: the key statement against the pinned root key, the checkpoint's
// signature, catalog.Judge's verdict on it against the store's, and that
// the leaves lead from the store's log to it (store.NextRoot). It
// returns the plan, which may be empty; an error wrapping errRefused for
// what the peer sent that fails (a fork raises its alarm, a stale
// checkpoint is counted and leaves the plan without it); or the error of
// a request to the peer.
func (n *Node) plan(ctx context.Context, c session.Conn, root *keys.PublicKey, x *session.Entry) (*plan, error) {
	p := &plan{pub: x.Pub, root: root}
	pub := x.Pub

	// 1. What the store holds.
	var trust *keys.Trust
	switch have, err := n.st.Publisher(pub); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if trust, err = n.st.Trust(root); err != nil {
			return nil, err
		}
		p.haveVer, p.haveSize, p.haveCP = trust.Statement().Version, have.Size, have.Checkpoint
	}

	// 2. A newer key statement, verified against the pinned root key.
	if held := trust != nil; !held || x.Version > p.haveVer {
		signed, err := n.host.Statement(ctx, c, pub)
		if err != nil {
			return nil, fmt.Errorf("replica: publisher %s: key statement: %w", pub, err)
		}
		if !held {
			trust, err = keys.NewTrust(root, signed)
		} else {
			trust, err = trust.Update(signed)
		}
		if err != nil {
			return nil, n.refuse(ctx, c, pub, err)
		}
		if !held || trust.Statement().Version > p.haveVer {
			p.statement, p.version = signed, trust.Statement().Version
		}
	}

	// 3. The peer's checkpoint, verified before its size decides how
	// many leaves to ask for, and judged against the store's.
	if x.Checkpoint != nil && !bytes.Equal(x.Checkpoint, p.haveCP) {
		cp, err := catalog.OpenCheckpoint(x.Checkpoint, trust)
		if err == nil && cp.Origin != catalog.Origin(pub) {
			err = fmt.Errorf("replica: checkpoint of log %q", cp.Origin)
		}
		if err != nil {
			return nil, n.refuse(ctx, c, pub, err)
		}
		var have *catalog.Checkpoint
		if p.haveCP != nil {
			if have, err = catalog.ParseUnverified(p.haveCP); err != nil {
				return nil, fmt.Errorf("replica: publisher %s: stored checkpoint: %w", pub, err)
			}
		}
		switch err := catalog.Judge(have, cp); {
		case errors.Is(err, catalog.ErrRollback):
			n.stale.Add(1)
			n.log.Debug("replica: peer is behind", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		case err != nil:
			if fe := asFork(err); fe != nil {
				fe.Have, fe.Got = p.haveCP, x.Checkpoint
			}
			return nil, n.refuse(ctx, c, pub, err)
		case cp.Size-p.haveSize > n.cfg.MaxLeaves:
			n.refused.Add(1)
			return nil, fmt.Errorf("%w: publisher %s: %d new leaves exceed the limit of %d", errRefused, pub, cp.Size-p.haveSize, n.cfg.MaxLeaves)
		default:
			if p.leaves, err = n.newLeaves(ctx, c, x, p.haveSize, cp.Size); err != nil {
				return nil, err
			}
			if err := n.checkLeaves(p.pub, p.leaves, cp); err != nil {
				uf, ok := errors.AsType[*unprovenFork](err)
				if !ok {
					return nil, err // the store's
				}
				uf.have, uf.haveCP, uf.gotCP = have, p.haveCP, x.Checkpoint
				return nil, n.refuse(ctx, c, pub, err)
			}
			p.checkpoint, p.cp = x.Checkpoint, cp
		}
	}

	// 4. The mirror list the new leaves record, or one the store lacks.
	p.mirrorList = n.mirrorList(ctx, c, pub, p.leaves)

	// 5. The bundles the new leaves make current.
	for _, d := range currentDigests(p.leaves) {
		if _, held := n.st.BundleSize(d); !held {
			p.want = append(p.want, d)
		}
	}
	return p, nil
}

// newLeaves returns the peer's leaves [from, to): those its announce x
// carries if they cover the range, else fetched.
func (n *Node) newLeaves(ctx context.Context, c session.Conn, x *session.Entry, from, to int64) ([][]byte, error) {
	if from == to {
		return nil, nil
	}
	if x.Leaves != nil && x.First <= from && x.First+int64(len(x.Leaves)) == to {
		return x.Leaves[from-x.First:], nil
	}
	var out [][]byte
	for from < to {
		ls, err := n.host.Leaves(ctx, c, x.Pub, from, to)
		if err != nil {
			return nil, fmt.Errorf("replica: publisher %s: leaves: %w", x.Pub, err)
		}
		out = append(out, ls...)
		from += int64(len(ls))
	}
	return out, nil
}

// checkLeaves checks that leaves, appended to the store's log of the
// publisher, hash to the root of cp, without storing them. It returns
// nil if they do, or if the store's log changed meanwhile (Apply checks
// again); an *unprovenFork, without the checkpoints, if they do not.
func (n *Node) checkLeaves(pub string, leaves [][]byte, cp *catalog.Checkpoint) error {
	if len(leaves) == 0 {
		return nil
	}
	size, root, err := n.st.NextRoot(pub, leaves)
	switch {
	case err != nil:
		return err
	case size == cp.Size && root != cp.Root:
		return &unprovenFork{got: cp}
	}
	return nil
}

// rebase brings the update u, made of the plan p against the store's
// state then, up to now, the store's state now (nil if it holds nothing of
// the publisher), which other pulls may have changed since; the
// publisher's lock is held. A key statement no newer than the store's is
// dropped. A checkpoint older than the store's (catalog.Judge) is dropped
// with its leaves; a newer one keeps only the leaves the store still
// lacks; one of the store's size with another root is a fork, returned as
// a *catalog.ForkError. The caller drops the bundles that a change of the
// log left without an article.
func (n *Node) rebase(p *plan, u *store.Update, now *store.Publisher) error {
	if now == nil {
		return nil // as empty as when planned
	}
	if u.Statement != nil {
		tr, err := n.st.Trust(p.root)
		if err != nil {
			return err
		}
		if tr.Statement().Version >= p.version {
			u.Statement = nil
		}
	}
	if u.Checkpoint == nil || now.Size == p.haveSize && bytes.Equal(now.Checkpoint, p.haveCP) {
		return nil
	}
	var cur *catalog.Checkpoint
	if now.Checkpoint != nil {
		var err error
		if cur, err = catalog.ParseUnverified(now.Checkpoint); err != nil {
			return fmt.Errorf("replica: publisher %s: stored checkpoint: %w", p.pub, err)
		}
	}
	switch err := catalog.Judge(cur, p.cp); {
	case errors.Is(err, catalog.ErrRollback):
		u.Checkpoint, u.Leaves = nil, nil
	case err != nil:
		if fe := asFork(err); fe != nil {
			fe.Have, fe.Got = now.Checkpoint, p.checkpoint
		}
		return err
	case now.Size < p.haveSize || now.Size > p.cp.Size:
		return fmt.Errorf("replica: publisher %s: the store's log went from %d to %d leaves", p.pub, p.haveSize, now.Size)
	default:
		u.Leaves = p.leaves[now.Size-p.haveSize:]
	}
	return nil
}

// updateEmpty reports whether u changes nothing.
func updateEmpty(u *store.Update) bool {
	return u.Statement == nil && u.Checkpoint == nil && len(u.Bundles) == 0 && u.MirrorList == nil
}
