package sync

import (
	gosync "sync"
	"testing"

	"github.com/samizdat-news/samizdat/mirror/internal/testkeys"
)

// TestAnnounceSkipsKnownLeaves checks that an announce carries only the
// leaves the peer lacks once its log size is known, and the last
// MaxAnnounceLeaves before that.
func TestAnnounceSkipsKnownLeaves(t *testing.T) {
	ps := newPubStore(t, testkeys.New(t, "pub"))
	ps.publish("a", 20)
	id := ps.pub.ID()
	n := New(ps.st, nil, nil)

	var mu gosync.Mutex
	var got []*entry
	addr := fakePeer(t, func(c Conn, typ byte, p []byte) (byte, []byte) {
		if typ != typeAnnounce {
			return respError, nil
		}
		x, err := decodeAnnounce(p)
		if err != nil {
			t.Errorf("announce: %v", err)
		}
		mu.Lock()
		got = append(got, x)
		mu.Unlock()
		return respOK, nil
	})
	c := dial(t, addr, nil)
	size := int64(21) // the key statement leaf and 20 articles

	// Unknown peer: the last MaxAnnounceLeaves leaves.
	if err := n.announce(testContext(t), c, id); err != nil {
		t.Fatal(err)
	}
	// The peer acted on it, so it holds them all now: nothing to resend.
	if err := n.announce(testContext(t), c, id); err != nil {
		t.Fatal(err)
	}
	// One more article: only its leaf travels.
	ps.publish("b", 1)
	if err := n.announce(testContext(t), c, id); err != nil {
		t.Fatal(err)
	}
	// A new session knows nothing of the peer again.
	n.forgetPeer(c)
	if err := n.announce(testContext(t), c, id); err != nil {
		t.Fatal(err)
	}
	want := []struct{ first, leaves int64 }{
		{size - MaxAnnounceLeaves, MaxAnnounceLeaves},
		{size, 0},
		{size, 1},
		{size + 1 - MaxAnnounceLeaves, MaxAnnounceLeaves},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("%d announces, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].First != w.first || int64(len(got[i].Leaves)) != w.leaves {
			t.Errorf("announce %d: first %d with %d leaves, want first %d with %d", i, got[i].First, len(got[i].Leaves), w.first, w.leaves)
		}
	}
}
