package replica

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// TestHostilePeer offers a node things it must refuse, and checks that
// nothing of them is stored.
func TestHostilePeer(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 3)
	pn := newNode(t, ps.st, trusted, nil)
	paddr := serve(t, pn)

	// An older copy, at the first checkpoint.
	old := newStore(t)
	if err := newNode(t, old, trusted, nil).SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
		t.Fatal(err)
	}
	ps.publish("b", 2)

	// The same publisher's key signing another history: at the same size
	// and at a larger one.
	forkSame := newPubStore(t, pub)
	forkSame.publish("x", 5)
	forkLarger := newPubStore(t, pub)
	forkLarger.publish("x", 5)
	forkLarger.publish("y", 2)

	// A publisher the victim does not trust.
	evil := newPubStore(t, testkeys.New(t, "evil"))
	evil.publish("e", 2)

	// The honest publisher's store, serving every bundle with a flipped byte.
	hps := honest(t, ps.st)
	tamper := &fake{honest: hps, bundle: func(d bundle.Digest) ([]byte, error) {
		b, err := hps.Bundle(d)
		if err != nil {
			return nil, err
		}
		b = bytes.Clone(b)
		b[len(b)-1] ^= 1
		return b, nil
	}}

	// A checkpoint of a much larger log, signed by a key the publisher
	// never delegated: refused before any leaf is asked for.
	forged, err := (&catalog.Checkpoint{Origin: catalog.Origin(pub.ID()), Size: 1 << 19, Time: time.Unix(1.8e9, 0)}).Sign(evil.pub.Signer)
	if err != nil {
		t.Fatal(err)
	}
	forgedPeer := &fake{
		honest: hps,
		list: func() ([]session.Entry, error) {
			return []session.Entry{{Pub: pub.ID(), Version: 1, Checkpoint: forged}}, nil
		},
		leaves: func(pub string, from, to int64) ([][]byte, error) {
			t.Error("the victim asked for leaves of a forged checkpoint")
			return hps.Leaves(pub, from, to)
		},
	}

	// The honest publisher's checkpoint, with leaves made up: the victim
	// must not take the peer's lie for a fork.
	lying := &fake{honest: hps, leaves: func(pub string, from, to int64) ([][]byte, error) {
		ls, err := hps.Leaves(pub, from, to)
		for i := range ls {
			ls[i] = bytes.Clone(ls[i])
			ls[i][len(ls[i])-1] ^= 1 // a bundle leaf's digest
		}
		return ls, err
	}}

	// The victim's store: the publisher's whole log and bundles (full),
	// the whole log without bundles (log), the older copy (old), or
	// nothing (empty).
	oaddr := serve(t, newNode(t, old, trusted, nil))
	newVictim := func(t *testing.T, kind string) *store.Store {
		st := newStore(t)
		if kind == "empty" {
			return st
		}
		if kind != "log" {
			addr := paddr
			if kind == "old" {
				addr = oaddr
			}
			if err := newNode(t, st, trusted, nil).SyncWith(testContext(t), dial(t, addr, nil)); err != nil {
				t.Fatal(err)
			}
			return st
		}
		logOnly(t, st, ps.st, root)
		return st
	}

	tests := []struct {
		name   string
		peer   session.Model
		victim string
		want   func(Stats) bool
	}{
		{"older checkpoint", &fake{honest: honest(t, old)}, "full", func(s Stats) bool { return s.Stale > 0 }},
		{"fork at the same size", &fake{honest: honest(t, forkSame.st)}, "full", func(s Stats) bool { return s.Forks == 1 }},
		{"fork at a larger size", &fake{honest: honest(t, forkLarger.st)}, "full", func(s Stats) bool { return s.Forks == 1 }},
		{"unknown publisher", &fake{honest: honest(t, evil.st)}, "full", func(s Stats) bool { return s.Refused == 1 }},
		{"made-up leaves", lying, "old", func(s Stats) bool { return s.Refused == 1 && s.Forks == 0 }},
		{"made-up leaves for a new publisher", lying, "empty", func(s Stats) bool { return s.Refused == 1 && s.Forks == 0 }},
		{"forged checkpoint", forgedPeer, "full", func(s Stats) bool { return s.Refused == 1 }},
		{"tampered bundle", tamper, "log", func(s Stats) bool { return s.Refused >= 1 && s.BundlesAdded == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newVictim(t, tc.victim)
			before := snap(t, st)
			rec := &logRecorder{level: slog.LevelError}
			n := newNode(t, st, trusted, &Config{Logger: slog.New(rec)})
			err := n.SyncWith(testContext(t), dial(t, fakePeer(t, tc.peer), nil))
			t.Logf("SyncWith: %v", err)
			if !snap(t, st).equal(before) {
				t.Error("the store changed")
			}
			if s := n.Stats(); !tc.want(s) {
				t.Errorf("stats %+v", s)
			}
			alarms := rec.records()
			fork := strings.HasPrefix(tc.name, "fork")
			if fork != (len(alarms) == 1 && strings.Contains(alarms[0], "ALARM")) {
				t.Errorf("error-level log %q; want one alarm for a fork, nothing otherwise", alarms)
			}
			// The alarm is also kept for the status page, for the right publisher.
			if got := n.Alarms(root.ID()); fork != (len(got) == 1 && strings.Contains(got[0], "fork")) {
				t.Errorf("Alarms = %q; want one fork alarm for a fork, none otherwise", got)
			}
			if _, err := st.Publisher(evil.pub.ID()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("untrusted publisher stored: %v", err)
			}
		})
	}

	// The honest publisher still syncs the victim with missing bundles.
	st := newVictim(t, "log")
	if err := newNode(t, st, trusted, nil).SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
		t.Fatal(err)
	}
	check(t, st, root)
}

// TestAnswerCodes asks a node for what it lacks and offers it what it
// does not carry: the answers carry the codes not found and refused.
func TestAnswerCodes(t *testing.T) {
	pub := testkeys.New(t, "pub")
	n := newNode(t, newStore(t), []*keys.PublicKey{pub.Root.Public()}, nil)
	c := dial(t, serve(t, n), nil)
	evil := newPubStore(t, testkeys.New(t, "evil"))
	evil.publish("e", 1)
	en := newNode(t, evil.st, nil, nil)
	x, err := en.entry(evil.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	var re *session.RemoteError
	if _, err := en.host.Statement(ctx, c, pub.ID()); !errors.As(err, &re) || re.Code != session.CodeNotFound {
		t.Errorf("statement of a publisher the node lacks: %v, want not found", err)
	}
	if err := en.host.Announce(ctx, c, x); !errors.As(err, &re) || re.Code != session.CodeRefused || !strings.Contains(re.Message, "not carried") {
		t.Errorf("announce of an untrusted publisher: %v, want refused", err)
	}
	if _, err := n.st.Publisher(evil.pub.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("untrusted publisher stored: %v", err)
	}
}

// TestSlowPeerDoesNotStallPush has a hostile peer hold back every bundle
// answer while a node pulls a publisher from it, either because the node
// pulls from the peer or because the peer announced; an honest push of
// the same publisher meanwhile must complete within a second. A pull
// holds the publisher's lock only to apply what it fetched: with the lock
// held through the fetch, the push waited for the peer's answers, up to
// the request timeout each.
func TestSlowPeerDoesNotStallPush(t *testing.T) {
	for _, how := range []string{"pulled", "announcing"} {
		t.Run(how, func(t *testing.T) {
			pub := testkeys.New(t, "pub")
			root := pub.Root.Public()
			ps := newPubStore(t, pub)
			ps.publish("a", 3)
			p := newNode(t, ps.st, nil, nil)
			x, err := p.entry(pub.ID())
			if err != nil {
				t.Fatal(err)
			}

			hps := honest(t, ps.st)
			asked, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			slow := &fake{honest: hps, bundle: func(d bundle.Digest) ([]byte, error) {
				once.Do(func() { close(asked) })
				<-release // a peer dripping its answer, up to the timeout
				return hps.Bundle(d)
			}}

			mst := newStore(t)
			m := newNode(t, mst, []*keys.PublicKey{root}, &Config{Session: session.Config{RequestTimeout: 10 * time.Second}})
			maddr := serve(t, m)

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			switch how {
			case "pulled":
				haddr := fakePeer(t, slow)
				go func() {
					defer close(done)
					m.SyncWith(ctx, dial(t, haddr, nil))
				}()
			case "announcing":
				h := session.New(slow, nil)
				c := dial(t, maddr, nil)
				answering := make(chan struct{})
				go func() {
					defer close(answering)
					h.ServeConn(ctx, c)
				}()
				go func() {
					defer close(done)
					defer func() { <-answering }()
					h.Announce(ctx, c, x)
				}()
			}
			defer func() {
				close(release)
				cancel()
				waitDone(t, "the slow pull", done)
			}()
			select {
			case <-asked:
			case <-time.After(10 * time.Second):
				t.Fatal("the node never asked the slow peer for a bundle")
			}

			ps.publish("b", 1)
			pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer pcancel()
			c, err := session.DialQUIC(pctx, maddr, p.Key(), m.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			err = p.Push(pctx, c)
			took := time.Since(start)
			t.Logf("push while a peer holds back its answers: %v (%v)", took, err)
			if err != nil || took > time.Second {
				t.Fatalf("push took %v (%v), want < 1 s", took, err)
			}
			if !sameLog(ps.st, mst, pub.ID()) {
				t.Fatal("the mirror lacks what was pushed")
			}
			check(t, mst, root)
		})
	}
}

// TestRebase has a node pull a publisher from a peer that holds back its
// bundle answers, and meanwhile takes a push of the same publisher: of a
// newer log (the pull's checkpoint is then stale) or of an older one (the
// pull then adds only the leaves the push did not). What the pull stores
// is brought up to the store's state first: it is neither refused nor
// stored twice.
func TestRebase(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publish("a", 3)
	old := newStore(t)
	logOnly(t, old, ps.st, root)
	if err := newNode(t, old, []*keys.PublicKey{root}, nil).SyncWith(testContext(t), dial(t, serve(t, newNode(t, ps.st, nil, nil)), nil)); err != nil {
		t.Fatal(err)
	}
	ps.publish("b", 2)
	ps.revise("a-1")

	for _, tc := range []struct {
		name         string
		pulled, push *store.Store
		bundles      uint64 // bundles the node stores in all
	}{
		// The pulled bundle of a-1 is then superseded.
		{"push of a newer log", old, ps.st, 5},
		// a-1's first revision comes with the push, its second with the pull.
		{"push of an older log", ps.st, old, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hm := honest(t, tc.pulled)
			asked, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			slow := &fake{honest: hm, bundle: func(d bundle.Digest) ([]byte, error) {
				once.Do(func() { close(asked) })
				<-release
				return hm.Bundle(d)
			}}
			haddr := fakePeer(t, slow)
			mst := newStore(t)
			m := newNode(t, mst, []*keys.PublicKey{root}, nil)
			maddr := serve(t, m)

			synced := make(chan error, 1)
			go func() { synced <- m.SyncWith(testContext(t), dial(t, haddr, nil)) }()
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			select {
			case <-asked:
			case <-time.After(10 * time.Second):
				t.Fatal("the node never asked the slow peer for a bundle")
			}
			pusher := newNode(t, tc.push, nil, nil)
			c, err := session.DialQUIC(testContext(t), maddr, pusher.Key(), m.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := pusher.Push(testContext(t), c); err != nil {
				t.Fatalf("Push: %v", err)
			}
			close(release)
			released = true
			if err := <-synced; err != nil {
				t.Errorf("SyncWith: %v", err)
			}
			if !sameLog(ps.st, mst, pub.ID()) {
				t.Error("the node lacks the newer log")
			}
			check(t, mst, root)
			if s := m.Stats(); s.Refused != 0 || s.Forks != 0 || s.BundlesAdded != tc.bundles || s.LeavesAdded != 7 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}
