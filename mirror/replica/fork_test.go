package replica

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// forkScene is a publisher's log, a victim store holding it, and peers
// offering the victim histories that contradict it.
type forkScene struct {
	pub        *testkeys.Publisher
	root       *keys.PublicKey
	ps         *pubStore
	forkSame   *pubStore // the publisher's key signing another history of the same size
	forkLarger *pubStore // and of a larger size
}

func newForkScene(t *testing.T) *forkScene {
	pub := testkeys.New(t, "pub")
	s := &forkScene{pub: pub, root: pub.Root.Public(), ps: newPubStore(t, pub)}
	s.ps.publish("a", 3)
	s.ps.publish("b", 2)
	s.forkSame = newPubStore(t, pub)
	s.forkSame.publish("x", 5)
	s.forkLarger = newPubStore(t, pub)
	s.forkLarger.publish("x", 5)
	s.forkLarger.publish("y", 2)
	return s
}

// victim returns a new store with the publisher's whole log and bundles.
func (s *forkScene) victim(t *testing.T) *store.Store {
	st := newStore(t)
	if err := newNode(t, st, []*keys.PublicKey{s.root}, nil).SyncWith(testContext(t), dial(t, serve(t, newNode(t, s.ps.st, nil, nil)), nil)); err != nil {
		t.Fatal(err)
	}
	return st
}

// errorLogs returns a node's logger that keeps error-level records.
func errorLogs() (*logRecorder, *Config) {
	rec := &logRecorder{level: slog.LevelError}
	return rec, &Config{Logger: slog.New(rec)}
}

// TestForkAlarmKept shows a node forks of the log it holds: each raises
// one alarm, however often it is shown, and the alarms are kept in the
// store, so that a node started again on it shows them and does not raise
// them again.
func TestForkAlarmKept(t *testing.T) {
	s := newForkScene(t)
	st := s.victim(t)
	trusted := []*keys.PublicKey{s.root}
	same := fakePeer(t, honest(t, s.forkSame.st))
	larger := fakePeer(t, honest(t, s.forkLarger.st))

	rec, cfg := errorLogs()
	n := newNode(t, st, trusted, cfg)
	for range 2 {
		for _, addr := range []string{same, larger} {
			if err := n.SyncWith(testContext(t), dial(t, addr, nil)); err == nil {
				t.Error("a fork was not refused")
			}
		}
	}
	alarms := n.Alarms(s.pub.ID())
	if len(alarms) != 2 || !strings.Contains(alarms[0], "fork") || !strings.Contains(alarms[1], "fork") {
		t.Fatalf("Alarms = %q, want one for each fork", alarms)
	}
	if logs := rec.records(); len(logs) != 2 {
		t.Errorf("error-level log %q, want one record for each fork", logs)
	}
	if s := n.Stats(); s.Forks != 4 {
		t.Errorf("%d forks counted, want 4", s.Forks)
	}
	kept, err := st.Alarms(s.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 {
		t.Fatalf("the store keeps %d alarms, want 2", len(kept))
	}
	for _, a := range kept {
		if a.Publisher != s.pub.ID() || len(a.Have) == 0 || len(a.Got) == 0 || bytes.Equal(a.Have, a.Got) {
			t.Errorf("alarm kept without its evidence: %+v", a)
		}
	}

	// A node started again on the store shows the alarms, and a fork
	// shown again raises none.
	rec2, cfg2 := errorLogs()
	n2 := newNode(t, st, trusted, cfg2)
	if got := n2.Alarms(s.pub.ID()); !slices.Equal(got, alarms) {
		t.Errorf("after a restart, Alarms = %q, want %q", got, alarms)
	}
	if err := n2.SyncWith(testContext(t), dial(t, same, nil)); err == nil {
		t.Error("a fork was not refused")
	}
	if got := n2.Alarms(s.pub.ID()); len(got) != 2 {
		t.Errorf("Alarms = %q after the fork came again", got)
	}
	if logs := rec2.records(); len(logs) != 0 {
		t.Errorf("error-level log %q for a fork already kept", logs)
	}
	if s := n2.Stats(); s.Forks != 1 {
		t.Errorf("%d forks counted, want 1", s.Forks)
	}
}

// TestAlarmsBounded raises more forks than store.MaxAlarms: the first
// ones are kept and shown, before and after a restart.
func TestAlarmsBounded(t *testing.T) {
	pub := testkeys.New(t, "pub")
	trusted := []*keys.PublicKey{pub.Root.Public()}
	st := newStore(t)
	n := newNode(t, st, trusted, nil)
	var c session.Conn = addrConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}}
	for i := range store.MaxAlarms + 10 {
		n.raise(c, pub.ID(), &catalog.ForkError{Size: 1, Have: []byte("have\n"), Got: fmt.Appendf(nil, "got %d\n", i), Reason: fmt.Sprintf("fork %d", i)})
	}
	got := n.Alarms(pub.ID())
	if len(got) != store.MaxAlarms || !strings.Contains(got[0], "(fork 0)") || !strings.Contains(got[len(got)-1], fmt.Sprintf("(fork %d)", store.MaxAlarms-1)) {
		t.Errorf("%d alarms shown, from %q to %q; want the first %d", len(got), got[0], got[len(got)-1], store.MaxAlarms)
	}
	if again := newNode(t, st, trusted, nil).Alarms(pub.ID()); !slices.Equal(again, got) {
		t.Errorf("after a restart, %d alarms shown, want the same %d", len(again), len(got))
	}
	if s := n.Stats(); s.Forks != store.MaxAlarms+10 {
		t.Errorf("%d forks counted", s.Forks)
	}
}

// TestForkCheckBounded offers a node leaves that do not lead from its log
// to the peer's checkpoint. The node downloads the peer's whole log to
// tell a lie from a fork at most once per peer address and publisher
// (forkCheckInterval), not for a log larger than MaxLeaves, and not again
// for a fork it holds an alarm of.
func TestForkCheckBounded(t *testing.T) {
	s := newForkScene(t)
	trusted := []*keys.PublicKey{s.root}

	// The honest publisher's checkpoint, with made-up leaves; full counts
	// the requests for the whole log.
	var full atomic.Int64
	hps := honest(t, s.ps.st)
	lying := &fake{honest: hps, leaves: func(pub string, from, to int64) ([][]byte, error) {
		if from == 0 {
			full.Add(1)
		}
		ls, err := hps.Leaves(pub, from, to)
		for i := range ls {
			ls[i] = bytes.Clone(ls[i])
			ls[i][len(ls[i])-1] ^= 1 // a bundle leaf's digest
		}
		return ls, err
	}}
	old := newPubStore(t, s.pub)
	old.publish("a", 3)
	oldVictim := func(t *testing.T) *store.Store {
		st := newStore(t)
		logOnly(t, st, old.st, s.root)
		return st
	}

	t.Run("lie", func(t *testing.T) {
		full.Store(0)
		n := newNode(t, oldVictim(t), trusted, nil)
		addr := fakePeer(t, lying)
		for range 3 {
			n.SyncWith(testContext(t), dial(t, addr, nil))
		}
		if got := full.Load(); got != 1 {
			t.Errorf("the whole log was asked for %d times, want once", got)
		}
		if s := n.Stats(); s.Refused != 3 || s.Forks != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("larger than MaxLeaves", func(t *testing.T) {
		full.Store(0)
		n := newNode(t, oldVictim(t), trusted, &Config{MaxLeaves: 5})
		n.SyncWith(testContext(t), dial(t, fakePeer(t, lying), nil))
		if got := full.Load(); got != 0 {
			t.Errorf("the whole log of %d leaves was asked for, more than MaxLeaves", got)
		}
		if s := n.Stats(); s.Refused != 1 || s.Forks != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("fork", func(t *testing.T) {
		var full atomic.Int64
		fps := honest(t, s.forkLarger.st)
		fork := &fake{honest: fps, leaves: func(pub string, from, to int64) ([][]byte, error) {
			if from == 0 {
				full.Add(1)
			}
			return fps.Leaves(pub, from, to)
		}}
		n := newNode(t, s.victim(t), trusted, nil)
		addr := fakePeer(t, fork)
		for range 3 {
			n.SyncWith(testContext(t), dial(t, addr, nil))
		}
		if got := full.Load(); got != 1 {
			t.Errorf("the whole log was asked for %d times, want once", got)
		}
		if st, alarms := n.Stats(), n.Alarms(s.pub.ID()); st.Forks != 3 || len(alarms) != 1 {
			t.Errorf("stats %+v, alarms %q; want 3 forks and one alarm", st, alarms)
		}
	})
}

// TestTreeBuilder checks the roots a treeBuilder computes against
// tlog.TreeHash, for every log size up to 300.
func TestTreeBuilder(t *testing.T) {
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	var b treeBuilder
	if b.root() != (tlog.Hash{}) {
		t.Error("root of the empty log is not the zero hash")
	}
	for i := range int64(300) {
		leaf := fmt.Appendf(nil, "leaf %d", i)
		hs, err := tlog.StoredHashes(i, leaf, read)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
		b.add(tlog.RecordHash(leaf))
		want, err := tlog.TreeHash(i+1, read)
		if err != nil {
			t.Fatal(err)
		}
		if b.root() != want {
			t.Fatalf("size %d: root %v, want %v", i+1, b.root(), want)
		}
		if len(b.stack) > 9 {
			t.Fatalf("size %d: %d hashes held", i+1, len(b.stack))
		}
	}
}

// TestFalseIndexAlarm: the publisher's key (stolen, say) signs checkpoints
// whose log is right but whose article index root is not the log's, to lie
// to light readers. A peer offering one, on a log the node already holds
// (a refresh) or with new leaves, is refused, and each raises a fork alarm
// kept with both checkpoints.
func TestFalseIndexAlarm(t *testing.T) {
	s := newForkScene(t)
	st := s.victim(t)
	have, err := st.Publisher(s.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	held, err := catalog.ParseUnverified(have.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if held.Index == (tlog.Hash{}) {
		t.Fatal("the publisher signed a checkpoint without an article index")
	}
	lie := func(c catalog.Checkpoint) []byte {
		c.Time = c.Time.Add(time.Hour)
		c.Index = tlog.Hash{0xba, 0xd}
		signed, err := c.Sign(s.pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	// With the same log: a refresh carrying another index.
	refresh := lie(*held)
	// With a new article: its leaves, under a checkpoint of the right root.
	s.ps.publish("c", 1)
	grown, err := s.ps.st.Publisher(s.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	gcp, err := catalog.ParseUnverified(grown.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	larger := lie(*gcp)

	rec, cfg := errorLogs()
	n := newNode(t, st, []*keys.PublicKey{s.root}, cfg)
	for _, cp := range [][]byte{refresh, larger} {
		peer := &fake{honest: honest(t, s.ps.st)}
		peer.list = func() ([]session.Entry, error) {
			es, err := peer.honest.List()
			for i := range es {
				es[i].Checkpoint = cp
			}
			return es, err
		}
		err := n.SyncWith(testContext(t), dial(t, fakePeer(t, peer), nil))
		t.Logf("sync: %v", err)
		if err == nil {
			t.Error("a checkpoint with a false index was not refused")
		}
	}
	kept, err := st.Alarms(s.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || len(rec.records()) != 2 {
		t.Fatalf("%d alarms kept, %d logged; want 2 each", len(kept), len(rec.records()))
	}
	for _, a := range kept {
		if !strings.Contains(a.Reason, "index") || len(a.Have) == 0 || (!bytes.Equal(a.Got, refresh) && !bytes.Equal(a.Got, larger)) {
			t.Errorf("alarm %q without its evidence", a.Reason)
		}
	}
	if p, err := st.Publisher(s.pub.ID()); err != nil || !bytes.Equal(p.Checkpoint, have.Checkpoint) {
		t.Errorf("the node's checkpoint changed: %v", err)
	}
}
