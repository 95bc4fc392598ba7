package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/session"
)

// A claim marks a bundle that one transfer asked a peer for and has not
// stored yet; raw is the bundle once it arrived, hashed to its digest.
// Other transfers leave a claimed bundle to its claimant at first, and
// take raw from it, or ask their own peer, if the store still lacks it
// when they are done with the rest: several peers offering the same
// update at once do not each send all of it, and a slow one delays no
// other.
type claim struct {
	owner *claims
	raw   []byte
}

// claims are the bundles one transfer claimed. Node.cmu guards them and
// Node.claimed.
type claims struct {
	n  *Node
	ds map[bundle.Digest]bool
}

func (n *Node) newClaims() *claims { return &claims{n: n, ds: map[bundle.Digest]bool{}} }

// take claims d for cl and returns true if no transfer had; else it
// returns the bundle if its claimant holds it already.
func (cl *claims) take(d bundle.Digest) (raw []byte, mine bool) {
	n := cl.n
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if c := n.claimed[d]; c != nil {
		return c.raw, c.owner == cl
	}
	n.claimed[d] = &claim{owner: cl}
	cl.ds[d] = true
	return nil, true
}

// arrived records raw, the bundle d that cl claimed.
func (cl *claims) arrived(d bundle.Digest, raw []byte) {
	n := cl.n
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if c := n.claimed[d]; c != nil && c.owner == cl {
		c.raw = raw
	}
}

// release drops cl's claims on ds: stored, or given up.
func (cl *claims) release(ds ...bundle.Digest) {
	n := cl.n
	n.cmu.Lock()
	defer n.cmu.Unlock()
	for _, d := range ds {
		if c := n.claimed[d]; c != nil && c.owner == cl {
			delete(n.claimed, d)
			delete(cl.ds, d)
		}
	}
}

// releaseAll drops every claim cl holds.
func (cl *claims) releaseAll() {
	cl.n.cmu.Lock()
	ds := make([]bundle.Digest, 0, len(cl.ds))
	for d := range cl.ds {
		ds = append(ds, d)
	}
	cl.n.cmu.Unlock()
	cl.release(ds...)
}

// fetched is a bundle fetch passes to its caller.
type fetched struct {
	d   bundle.Digest
	raw []byte
}

// fetch gets the bundles named by want that the store lacks from the
// peer on c, on up to Parallel streams, and passes each one that hashes
// to its digest to take, from one goroutine at a time, until take
// returns false. It asks for no bundle while budget is full: the bytes
// passed to take count against budget until the caller releases them.
// It claims each bundle it asks for with cl, which the caller releases
// once the bundle is stored; bundles another transfer claimed are left
// to it in a first pass, and in a second one taken from it if it holds
// them, else fetched here, if the store still lacks them. Bundles the
// peer does not have are skipped; one that does not match its digest is
// logged and counted, no more are asked from this peer, and fetch
// returns an error.
func (n *Node) fetch(ctx context.Context, c session.Conn, want []bundle.Digest, budget *budget, cl *claims, take func(bundle.Digest, []byte) bool) error {
	var bad atomic.Pointer[bundle.Digest]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan fetched)
	go func() {
		defer close(results)
		left := n.fetchPass(ctx, c, want, budget, cl, true, &bad, cancel, results)
		if len(left) > 0 && ctx.Err() == nil {
			n.fetchPass(ctx, c, left, budget, cl, false, &bad, cancel, results)
		}
	}()
	stopped := false
	for r := range results {
		if stopped {
			budget.release(int64(len(r.raw)))
			continue
		}
		if !take(r.d, r.raw) {
			stopped = true
			cancel()
		}
	}
	if d := bad.Load(); d != nil {
		return fmt.Errorf("%w: bundle %s from the peer does not match its digest", errRefused, d)
	}
	return nil
}

// fetchPass is one pass of fetch over want, on up to Parallel streams,
// sending what it gets to results. In the first pass it leaves the
// bundles other transfers claimed, and returns them.
func (n *Node) fetchPass(ctx context.Context, c session.Conn, want []bundle.Digest, budget *budget, cl *claims, first bool, bad *atomic.Pointer[bundle.Digest], cancel func(), results chan<- fetched) (left []bundle.Digest) {
	jobs := make(chan bundle.Digest)
	var mu sync.Mutex // guards left
	var wg sync.WaitGroup
	for range min(n.cfg.Parallel, len(want)) {
		wg.Go(func() {
			for d := range jobs {
				if _, held := n.st.BundleSize(d); held {
					continue // from another peer meanwhile
				}
				raw, mine := cl.take(d)
				if !mine && (first || raw != nil) {
					if first {
						mu.Lock()
						left = append(left, d)
						mu.Unlock()
						continue
					}
					// The claimant holds it: the store takes it from
					// whichever gives it first.
					if budget.reserve(ctx) != nil {
						continue
					}
					budget.received(int64(len(raw)))
					n.send(ctx, budget, results, fetched{d, raw})
					continue
				}
				if budget.reserve(ctx) != nil {
					continue
				}
				// The session layer hashes the answer as it streams and
				// returns only a bundle that matches d.
				p, err := n.host.Bundle(ctx, c, d)
				if err != nil && !errors.Is(err, session.ErrDigestMismatch) {
					budget.received(0)
					cl.release(d)
					if re, ok := errors.AsType[*session.RemoteError](err); (!ok || re.Code != session.CodeNotFound) && ctx.Err() == nil {
						n.log.Debug("replica: bundle fetch failed", "peer", c.RemoteAddr(), "digest", d, "err", err)
					}
					continue
				}
				if err != nil {
					budget.received(0)
					cl.release(d)
					n.refused.Add(1)
					n.log.Warn("replica: refusing bundle: it does not match its digest; asking this peer no more", "peer", c.RemoteAddr(), "digest", d)
					bad.Store(&d)
					cancel()
					continue
				}
				cl.arrived(d, p)
				budget.received(int64(len(p)))
				n.send(ctx, budget, results, fetched{d, p})
			}
		})
	}
	for _, d := range want {
		select {
		case jobs <- d:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(jobs)
	wg.Wait()
	return left
}

// send passes f on to results, or releases its bytes if ctx ends first.
func (n *Node) send(ctx context.Context, budget *budget, results chan<- fetched, f fetched) {
	select {
	case results <- f:
	case <-ctx.Done():
		budget.release(int64(len(f.raw)))
	}
}
