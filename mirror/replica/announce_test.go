package replica

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
)

// TestAnnounceSkipsKnownLeaves checks that an announce carries only the
// leaves the peer lacks once its log size is known, and the last
// session.MaxAnnounceLeaves before that.
func TestAnnounceSkipsKnownLeaves(t *testing.T) {
	ps := newPubStore(t, testkeys.New(t, "pub"))
	ps.publish("a", 20)
	id := ps.pub.ID()
	n := newNode(t, ps.st, nil, nil)

	var mu sync.Mutex
	var got []*session.Entry
	addr := fakePeer(t, &fake{announce: func(x *session.Entry) error {
		mu.Lock()
		got = append(got, x)
		mu.Unlock()
		return nil
	}})
	c := dial(t, addr, nil)
	size := int64(21) // the key statement leaf and 20 articles

	// Unknown peer: the last session.MaxAnnounceLeaves leaves.
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
		{size - session.MaxAnnounceLeaves, session.MaxAnnounceLeaves},
		{size, 0},
		{size, 1},
		{size + 1 - session.MaxAnnounceLeaves, session.MaxAnnounceLeaves},
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

// TestChainProgress has a mirror B take 2,000 articles from the publisher
// A while a mirror C holds a session to B, and checks that B announces the
// new checkpoint to C as soon as it is stored, before B has all the
// bundles; that C, asking B for bundles B does not hold yet, takes the
// not-found answers and asks again on B's later announces; and that C ends
// up with everything over that one session.
func TestChainProgress(t *testing.T) {
	const articles = 2000
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	for range articles / 500 {
		ps.publish("a", 500)
	}
	aAddr := serve(t, newNode(t, ps.st, trusted, nil))
	want, err := ps.st.Publisher(pub.ID())
	if err != nil {
		t.Fatal(err)
	}

	// B takes bundles two at a time, so that its sync lasts.
	b := newNode(t, newStore(t), trusted, &Config{Parallel: 2})
	bAddr := serve(t, b)
	cst, changed := watched(t)
	cn := newNode(t, cst, trusted, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sessionDone := make(chan struct{})
	go func() {
		defer close(sessionDone)
		cn.host.ServeConn(ctx, dial(t, bAddr, b.PublicKey()))
	}()
	defer func() {
		cancel()
		waitDone(t, "C's session", sessionDone)
	}()
	if !waitFor(5*time.Second, func() bool { return b.Stats().Sessions == 1 && cn.Stats().Sessions == 1 }) {
		t.Fatal("C's session to B did not come up")
	}

	var syncErr error
	synced := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(synced)
		syncErr = b.SyncWith(ctx, dial(t, aAddr, nil))
	}()
	var cpAt time.Duration
	var missingAtCP int
	hasCP := func() bool {
		p, err := cst.Publisher(pub.ID())
		return err == nil && bytes.Equal(p.Checkpoint, want.Checkpoint)
	}
	for cpAt == 0 {
		select {
		case <-synced:
			t.Fatalf("B's sync ended (%v) in %v before C had the checkpoint", syncErr, time.Since(start))
		case <-ctx.Done():
			t.Fatal("C never got the checkpoint")
		case <-changed:
		}
		if hasCP() {
			cpAt = time.Since(start)
			miss, err := cst.MissingBundles(pub.ID())
			if err != nil {
				t.Fatal(err)
			}
			missingAtCP = len(miss)
		}
	}
	select {
	case <-synced:
	case <-ctx.Done():
		t.Fatal("B's sync did not end")
	}
	if syncErr != nil {
		t.Fatalf("B's sync: %v", syncErr)
	}
	bDone := time.Since(start)
	missAtDone, _ := cst.MissingBundles(pub.ID())
	t.Logf("C had the checkpoint after %v, missing %d of %d bundles; B's sync took %v, when C held %d bundles", cpAt, missingAtCP, articles, bDone, articles-len(missAtDone))
	if missingAtCP == 0 {
		t.Error("C had every bundle when the checkpoint came: the test shows nothing")
	}
	if !waitChange(30*time.Second, changed, func() bool { return sameLog(ps.st, cst, pub.ID()) }) {
		miss, _ := cst.MissingBundles(pub.ID())
		t.Fatalf("C did not converge: %d bundles missing", len(miss))
	}
	t.Logf("C complete after %v", time.Since(start))
	check(t, cst, root)
	if s := cn.Stats(); s.BundlesAdded != articles || s.Forks != 0 || s.Refused != 0 {
		t.Errorf("C's stats %+v", s)
	}
	if s := b.Stats(); s.Announces < 2 {
		t.Errorf("B announced %d times, want the checkpoint and then the bundles", s.Announces)
	}
}
