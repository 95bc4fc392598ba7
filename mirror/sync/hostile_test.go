package sync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// fakePeer serves sessions on a loopback listener, answering each request
// with h, until the test ends. It speaks the protocol but may lie.
func fakePeer(t *testing.T, h func(c Conn, typ byte, p []byte) (byte, []byte)) string {
	t.Helper()
	_, key, _ := ed25519GenerateKey()
	l, err := ListenQUIC("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Go(func() {
						typ, p, err := readFrame(s, MaxFrameSize)
						if err != nil {
							s.Reset()
							return
						}
						rt, rp := h(c, typ, p)
						writeFrame(s, rt, rp)
						s.CloseWrite()
					})
				}
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// honest answers as a node over st would.
func honest(st *store.Store) func(c Conn, typ byte, p []byte) (byte, []byte) {
	n := New(st, nil, nil)
	return func(c Conn, typ byte, p []byte) (byte, []byte) {
		return n.answer(context.Background(), c, typ, p)
	}
}

// TestHostilePeer offers a node things it must refuse, and checks that
// nothing of them is stored.
func TestHostilePeer(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 3)
	pn := New(ps.st, trusted, nil)
	paddr := serve(t, pn)

	// An older copy, at the first checkpoint.
	old := newStore(t)
	if err := New(old, trusted, nil).SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
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
	tamper := func(c Conn, typ byte, p []byte) (byte, []byte) {
		rt, rp := honest(ps.st)(c, typ, p)
		if rt == respBundle {
			rp = bytes.Clone(rp)
			rp[len(rp)-1] ^= 1
		}
		return rt, rp
	}

	// A checkpoint of a much larger log, signed by a key the publisher
	// never delegated: refused before any leaf is asked for.
	forged, err := (&catalog.Checkpoint{Origin: catalog.Origin(pub.ID()), Size: 1 << 19, Time: time.Unix(1.8e9, 0)}).Sign(evil.pub.Signer)
	if err != nil {
		t.Fatal(err)
	}
	forgedPeer := func(c Conn, typ byte, p []byte) (byte, []byte) {
		switch typ {
		case typeList:
			return respPublishers, encodeEntries([]entry{{ID: pub.ID(), Version: 1, Checkpoint: forged}})
		case typeLeaves:
			t.Error("the victim asked for leaves of a forged checkpoint")
		}
		return honest(ps.st)(c, typ, p)
	}

	// The honest publisher's checkpoint, with leaves made up: the victim
	// must not take the peer's lie for a fork.
	lying := func(c Conn, typ byte, p []byte) (byte, []byte) {
		rt, rp := honest(ps.st)(c, typ, p)
		if rt == respLeaves {
			ls, err := decodeLeaves(rp)
			if err != nil {
				t.Error(err)
			}
			for i := range ls {
				ls[i] = bytes.Clone(ls[i])
				ls[i][len(ls[i])-1] ^= 1 // a bundle leaf's digest
			}
			rp = encodeLeaves(ls)
		}
		return rt, rp
	}

	// The victim's store: the publisher's whole log and bundles (full),
	// the whole log without bundles (log), or the older copy (old).
	oaddr := serve(t, New(old, trusted, nil))
	newVictim := func(t *testing.T, kind string) *store.Store {
		st := newStore(t)
		if kind != "log" {
			addr := paddr
			if kind == "old" {
				addr = oaddr
			}
			if err := New(st, trusted, nil).SyncWith(testContext(t), dial(t, addr, nil)); err != nil {
				t.Fatal(err)
			}
			return st
		}
		logOnly(t, st, ps.st, root)
		return st
	}

	tests := []struct {
		name   string
		peer   func(c Conn, typ byte, p []byte) (byte, []byte)
		victim string
		want   func(Stats) bool
	}{
		{"older checkpoint", honest(old), "full", func(s Stats) bool { return s.Stale > 0 }},
		{"fork at the same size", honest(forkSame.st), "full", func(s Stats) bool { return s.Forks == 1 }},
		{"fork at a larger size", honest(forkLarger.st), "full", func(s Stats) bool { return s.Forks == 1 }},
		{"unknown publisher", honest(evil.st), "full", func(s Stats) bool { return s.Refused == 1 }},
		{"made-up leaves", lying, "old", func(s Stats) bool { return s.Refused == 1 && s.Forks == 0 }},
		{"forged checkpoint", forgedPeer, "full", func(s Stats) bool { return s.Refused == 1 }},
		{"tampered bundle", tamper, "log", func(s Stats) bool { return s.Refused >= 1 && s.BundlesAdded == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newVictim(t, tc.victim)
			before := snap(t, st)
			rec := &logRecorder{level: slog.LevelError}
			n := New(st, trusted, &Config{Logger: slog.New(rec)})
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
	if err := New(st, trusted, nil).SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
		t.Fatal(err)
	}
	check(t, st, root)
}

// TestBadFrames sends a node malformed requests on raw streams.
func TestBadFrames(t *testing.T) {
	pub := testkeys.New(t, "pub")
	n := New(newStore(t), []*keys.PublicKey{pub.Root.Public()}, nil)
	c := dial(t, serve(t, n), nil)
	evil := newPubStore(t, testkeys.New(t, "evil"))
	evil.publish("e", 1)
	evilAnnounce, err := New(evil.st, nil, nil).entry(evil.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	frame := func(typ byte, n uint32, payload []byte) []byte {
		b := []byte{typ}
		b = binary.BigEndian.AppendUint32(b, n)
		return append(b, payload...)
	}
	tests := []struct {
		name string
		raw  []byte
		code byte
		msg  string
	}{
		{"unknown type", frame(0x42, 0, nil), CodeBadRequest, "unknown type"},
		{"oversize", frame(typeList, MaxFrameSize+1, nil), CodeBadRequest, "exceeds the limit"},
		{"oversize bundle request", frame(respBundle, 1<<30, nil), CodeBadRequest, "exceeds the limit"},
		{"truncated", frame(typeStatement, 10, []byte("abc")), CodeBadRequest, "truncated"},
		{"trailing bytes", append(frame(typeList, 0, nil), 0), CodeBadRequest, "after the frame"},
		{"answer as request", frame(respOK, 0, nil), CodeBadRequest, "not a request"},
		{"bad id", frame(typeStatement, 3, []byte{2, 'a', 'b'}), CodeBadRequest, "publisher id"},
		{"unknown publisher", frame(typeStatement, 33, append([]byte{32}, strings.Repeat("ab", 16)...)), CodeNotFound, "not found"},
		{"untrusted announce", frame(typeAnnounce, uint32(len(encodeAnnounce(evilAnnounce))), encodeAnnounce(evilAnnounce)), CodeRefused, "not carried"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			s, err := c.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s.SetDeadline(time.Now().Add(5 * time.Second))
			s.Write(tc.raw)
			s.CloseWrite()
			typ, p, err := readFrame(s, MaxFrameSize)
			if err != nil {
				t.Fatal(err)
			}
			if typ != respError {
				t.Fatalf("answer type 0x%02x, want an error", typ)
			}
			var re *RemoteError
			if err := decodeError(p); !errors.As(err, &re) || re.Code != tc.code || !strings.Contains(re.Message, tc.msg) {
				t.Fatalf("answer %v, want code %d and %q", err, tc.code, tc.msg)
			}
			t.Log(re)
		})
	}
	if _, err := n.st.Publisher(evil.pub.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("untrusted publisher stored: %v", err)
	}
}

// TestBadAnswers has a peer answer with oversize and unknown frames.
func TestBadAnswers(t *testing.T) {
	pub := testkeys.New(t, "pub")
	tests := []struct {
		name string
		typ  byte
		p    []byte
		want string
	}{
		{"unknown type", 0x42, nil, "unknown type"},
		{"wrong type", respOK, nil, "answer of type"},
		{"oversize", respPublishers, make([]byte, MaxFrameSize+1), "exceeds the limit"},
		{"too many publishers", respPublishers, []byte{0xff, 0xff}, "exceed the limit"},
		{"truncated list", respPublishers, []byte{0, 1, 32}, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			n := New(st, []*keys.PublicKey{pub.Root.Public()}, nil)
			addr := fakePeer(t, func(Conn, byte, []byte) (byte, []byte) { return tc.typ, tc.p })
			err := n.SyncWith(testContext(t), dial(t, addr, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sync: ") {
				t.Fatalf("SyncWith: %v, want an error with %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
