package replica

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// This file decides what a checkpoint that contradicts the store's log
// is (a fork the publisher's keys signed, or a peer's lie), and keeps the
// alarms that forks raise.

// unprovenFork reports leaves from a peer that, appended to the store's
// log, do not hash to the peer's (verified) checkpoint: the publisher
// signed two histories, or the peer made the leaves up. checkFork tells
// which.
type unprovenFork struct {
	have   *catalog.Checkpoint // the store's checkpoint; nil for none
	haveCP []byte              // signed
	got    *catalog.Checkpoint // the peer's, verified, larger
	gotCP  []byte              // signed
}

func (e *unprovenFork) Error() string {
	var size int64
	if e.have != nil {
		size = e.have.Size
	}
	return fmt.Sprintf("replica: the peer's leaves do not lead from our log of %d leaves to its checkpoint of %d", size, e.got.Size)
}

// forkVerdict is what checkFork found.
type forkVerdict int

const (
	// forkUndecided: not checked, because the peer's log is too large or
	// a check of this publisher ran for the peer's address lately.
	forkUndecided forkVerdict = iota
	// forkProven: the peer's log hashes to its checkpoint, and its
	// prefix does not hash to ours.
	forkProven
	// forkLie: the peer's log does not hash to its checkpoint, or
	// extends ours after all.
	forkLie
)

// forkCheckInterval is the least time between two runs of checkFork for
// one publisher and peers at one address (an IPv6 /64 counts as one):
// each may take up to Config.MaxLeaves leaves from the peer, so a lying
// peer cannot make the node download its log again and again.
const forkCheckInterval = 10 * time.Minute

// maxForkCheckTime bounds the time one fork check may take, so that a
// peer that answers slowly cannot keep the node from checking others.
const maxForkCheckTime = 2 * time.Minute

// maxForkChecks bounds the addresses and publishers whose last fork check
// the node remembers; when all are recent, further checks wait.
const maxForkChecks = 1024

// checkFork decides whether got, a verified checkpoint of a larger log
// than have's whose leaves from the peer on c did not lead from the store's
// log to it, proves a fork. It streams the peer's whole log and hashes
// it, holding O(log n) hashes: leaves that hash to got are the publisher's,
// and if their prefix of have.Size leaves has another root than have, the
// publisher signed two histories. A checkpoint kept in an alarm before is
// a fork without asking. At most one check runs at a time on the node,
// of at most Config.MaxLeaves leaves in at most maxForkCheckTime, and at
// most one per publisher and peer address in forkCheckInterval; a check
// not run or not finished is forkUndecided.
// The publisher's lock must not be held.
func (n *Node) checkFork(ctx context.Context, c session.Conn, pub string, have, got *catalog.Checkpoint, gotCP []byte) (forkVerdict, error) {
	if n.alarmKept(pub, gotCP) {
		return forkProven, nil
	}
	if got.Size > n.cfg.MaxLeaves || have.Size >= got.Size {
		return forkUndecided, fmt.Errorf("replica: a log of %d leaves is not checked", got.Size)
	}
	select {
	case n.forkCheck <- struct{}{}:
		defer func() { <-n.forkCheck }()
	default:
		return forkUndecided, errors.New("replica: another fork check is running")
	}
	if !n.mayCheckFork(session.RemoteIP(c) + " " + pub) {
		return forkUndecided, errors.New("replica: a fork check of this publisher ran lately for this peer's address")
	}
	ctx, cancel := context.WithTimeout(ctx, maxForkCheckTime)
	defer cancel()
	var b treeBuilder
	var prefix tlog.Hash
	for b.n < got.Size {
		ls, err := n.host.Leaves(ctx, c, pub, b.n, got.Size)
		if err != nil {
			return forkUndecided, fmt.Errorf("replica: leaves: %w", err)
		}
		for _, l := range ls {
			b.add(tlog.RecordHash(l))
			if b.n == have.Size {
				prefix = b.root()
			}
		}
	}
	switch {
	case b.root() != got.Root:
		return forkLie, fmt.Errorf("replica: the peer's %d leaves do not hash to its checkpoint", got.Size)
	case have.Size == 0 || prefix == have.Root:
		return forkLie, fmt.Errorf("replica: the peer's log extends ours, but the leaves it first sent do not")
	}
	return forkProven, nil
}

// mayCheckFork reports whether a fork check for key (a peer address and a
// publisher) may run now, and if so notes that it runs.
func (n *Node) mayCheckFork(key string) bool {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.forkChecks[key]; ok && now.Sub(last) < forkCheckInterval {
		return false
	}
	if len(n.forkChecks) >= maxForkChecks {
		for k, t := range n.forkChecks {
			if now.Sub(t) >= forkCheckInterval {
				delete(n.forkChecks, k)
			}
		}
		if len(n.forkChecks) >= maxForkChecks {
			return false
		}
	}
	n.forkChecks[key] = now
	return true
}

// treeBuilder computes the root hash of a log from its leaf hashes, given
// in order, holding one hash per complete subtree: O(log n) of them. Its
// roots are tlog.TreeHash's.
type treeBuilder struct {
	n     int64
	stack []tlog.Hash // roots of the complete subtrees, largest first
}

// add appends the leaf hash h.
func (b *treeBuilder) add(h tlog.Hash) {
	for k := b.n; k&1 == 1; k >>= 1 {
		h = tlog.NodeHash(b.stack[len(b.stack)-1], h)
		b.stack = b.stack[:len(b.stack)-1]
	}
	b.stack = append(b.stack, h)
	b.n++
}

// root returns the root hash of the log of the leaves added so far; the
// zero hash for none.
func (b *treeBuilder) root() tlog.Hash {
	if len(b.stack) == 0 {
		return tlog.Hash{}
	}
	h := b.stack[len(b.stack)-1]
	for i := len(b.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.stack[i], h)
	}
	return h
}

// asFork returns the fork that err reports (the catalog's judge's, which
// the store returns too), or nil.
func asFork(err error) *catalog.ForkError {
	var fe *catalog.ForkError
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// isStale reports whether err says that a checkpoint is older than the
// one held.
func isStale(err error) bool {
	return errors.Is(err, catalog.ErrRollback) || errors.Is(err, store.ErrStale)
}

// refuse counts and logs an update of a publisher from the peer on c
// that failed verification with err, and returns the error to report:
// nil for a stale checkpoint (the peer is behind). Leaves that do not
// lead to the peer's checkpoint are first checked by checkFork, so the
// caller must not hold the publisher's lock. A proven fork raises an
// alarm.
func (n *Node) refuse(ctx context.Context, c session.Conn, pub string, err error) error {
	if uf, ok := errors.AsType[*unprovenFork](err); ok {
		v, cerr := forkLie, errors.New("replica: the peer's leaves do not hash to its checkpoint")
		if uf.have != nil {
			// Else the store holds no log: nothing to fork from.
			v, cerr = n.checkFork(ctx, c, pub, uf.have, uf.got, uf.gotCP)
		}
		switch v {
		case forkProven:
			err = &catalog.ForkError{Size: uf.have.Size, Have: uf.haveCP, Got: uf.gotCP,
				Reason: fmt.Sprintf("the peer's log of %d leaves hashes to its checkpoint, but its first %d do not hash to ours", uf.got.Size, uf.have.Size)}
		case forkLie:
			n.refused.Add(1)
			n.log.Warn("replica: refusing leaves that do not match the peer's checkpoint", "peer", c.RemoteAddr(), "publisher", pub, "err", cerr)
			return fmt.Errorf("%w: publisher %s: %w", errRefused, pub, cerr)
		default:
			n.refused.Add(1)
			n.log.Warn("replica: refusing leaves that do not match the peer's checkpoint; not checked for a fork", "peer", c.RemoteAddr(), "publisher", pub, "err", err, "why", cerr)
			return fmt.Errorf("%w: publisher %s: %w", errRefused, pub, err)
		}
	}
	switch fe := asFork(err); {
	case fe != nil:
		n.raise(c, pub, fe)
	case isStale(err):
		n.stale.Add(1)
		n.log.Debug("replica: stale checkpoint ignored", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		return nil
	default:
		n.refused.Add(1)
		n.log.Warn("replica: refusing update", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
	}
	return fmt.Errorf("%w update of publisher %s: %w", errRefused, pub, err)
}

// alarms are the fork alarms of one publisher that the node shows: those
// the store keeps, read at New, and those raised since.
type alarms struct {
	texts []string                     // as Alarms returns them, oldest first
	seen  map[[sha256.Size]byte]string // the contradicting checkpoints (store.Alarm.Got), by their hash
}

// alarmsOf returns the publisher's alarms, made if need be. n.mu is held.
func (n *Node) alarmsOf(pub string) *alarms {
	a := n.alarms[pub]
	if a == nil {
		a = &alarms{seen: map[[sha256.Size]byte]string{}}
		n.alarms[pub] = a
	}
	return a
}

// loadAlarms reads the alarms the store keeps for the trusted publishers.
func (n *Node) loadAlarms() error {
	for pub := range n.trusted {
		as, err := n.st.Alarms(pub)
		if err != nil {
			return fmt.Errorf("replica: reading the alarms of publisher %s: %w", pub, err)
		}
		for i := range as {
			if len(as[i].Got) == 0 {
				continue
			}
			t := alarmText(&as[i])
			a := n.alarmsOf(pub)
			a.seen[sha256.Sum256(as[i].Got)] = t
			a.texts = append(a.texts, t)
		}
	}
	return nil
}

// alarmText is the text Alarms returns for a.
func alarmText(a *store.Alarm) string {
	return fmt.Sprintf("%s: fork: peer %s holds a checkpoint of this publisher's log that contradicts ours (%s); ours was kept",
		a.Time.UTC().Format(time.RFC3339), a.Peer, a.Reason)
}

// Alarms returns the fork alarms raised for a publisher, oldest first:
// proof that its keys signed two histories of its log (or that they were
// stolen). They are kept in the store, with the evidence (both signed
// checkpoints, see store.Alarm), across restarts: one per contradicting
// checkpoint, at most store.MaxAlarms per publisher, until the operator
// clears them. Alarms reads a copy held in memory, so it is cheap enough
// for every page a mirror serves. It is safe for concurrent use.
func (n *Node) Alarms(pub string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.alarms[pub]; a != nil {
		return append([]string(nil), a.texts...)
	}
	return nil
}

// alarmKept reports whether the signed checkpoint got raised an alarm
// that is kept.
func (n *Node) alarmKept(pub string, got []byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.alarms[pub]
	return a != nil && a.seen[sha256.Sum256(got)] != ""
}

// raise raises the alarm for a fork that the peer on c showed: it counts
// it, and the first time the contradicting checkpoint is seen, and while
// fewer than store.MaxAlarms are kept, it logs it at error level and keeps
// it in the store and in memory. A fork seen again is only counted.
func (n *Node) raise(c session.Conn, pub string, fe *catalog.ForkError) {
	n.forks.Add(1)
	if len(fe.Got) == 0 {
		n.log.Error("replica: ALARM: fork without evidence", "peer", c.RemoteAddr(), "publisher", pub, "err", fe)
		return
	}
	reason := fe.Reason
	if reason == "" {
		reason = fmt.Sprintf("two checkpoints of size %d with different roots", fe.Size)
	}
	a := store.Alarm{Publisher: pub, Time: time.Now().UTC().Truncate(time.Second), Peer: c.RemoteAddr().String(), Reason: reason, Have: fe.Have, Got: fe.Got}
	key := sha256.Sum256(fe.Got)
	n.mu.Lock()
	as := n.alarmsOf(pub)
	_, seen := as.seen[key]
	full := len(as.seen) >= store.MaxAlarms
	if !seen && !full {
		as.seen[key] = alarmText(&a)
	}
	n.mu.Unlock()
	switch {
	case seen:
		n.log.Warn("replica: fork seen again; its alarm was raised before", "peer", c.RemoteAddr(), "publisher", pub)
		return
	case full:
		n.log.Warn("replica: fork not kept: the publisher has the most alarms kept already", "peer", c.RemoteAddr(), "publisher", pub, "max", store.MaxAlarms, "reason", reason)
		return
	}
	n.log.Error("replica: ALARM: fork: the publisher's key signed two histories (or the peer lies); kept our log", "peer", c.RemoteAddr(), "publisher", pub, "reason", reason,
		"have", string(fe.Have), "got", string(fe.Got))
	if _, err := n.st.RaiseAlarm(a); err != nil {
		n.log.Warn("replica: cannot keep the alarm in the store; it is shown until the node stops", "publisher", pub, "err", err)
	}
	n.mu.Lock()
	as.texts = append(as.texts, as.seen[key])
	n.mu.Unlock()
}
