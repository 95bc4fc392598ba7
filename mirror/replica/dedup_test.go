package replica

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
)

// countStore is a Store that counts the bundles and leaves read from it.
type countStore struct {
	Store
	bundles, leaves atomic.Int64
}

func (s *countStore) Bundle(d bundle.Digest) ([]byte, error) {
	s.bundles.Add(1)
	return s.Store.Bundle(d)
}

func (s *countStore) Leaves(pub string, from, to int64) ([][]byte, error) {
	ls, err := s.Store.Leaves(pub, from, to)
	s.leaves.Add(int64(len(ls)))
	return ls, err
}

// TestPeersShareAnUpdate has a new mirror take a publisher's log of 600
// articles from three peers at once, as a mirror does when it starts with
// several peers configured: though it fetches without holding the
// publisher's lock, it asks for each bundle about once, not once a peer.
func TestPeersShareAnUpdate(t *testing.T) {
	const articles = 600
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publish("a", articles/2)
	ps.publish("b", articles/2)
	var asked atomic.Int64
	var peers []Peer
	for range 3 {
		hm := honest(t, ps.st)
		peers = append(peers, Peer{Addr: fakePeer(t, &fake{honest: hm, bundle: func(d bundle.Digest) ([]byte, error) {
			asked.Add(1)
			return hm.Bundle(d)
		}})})
	}
	st, changed := watched(t)
	n := newNode(t, st, []*keys.PublicKey{root}, &Config{Peers: peers})
	run(t, n)
	if !waitChange(30*time.Second, changed, func() bool { return sameLog(ps.st, st, pub.ID()) }) {
		t.Fatal("the mirror did not take the log")
	}
	check(t, st, root)
	t.Logf("%d bundles asked for from 3 peers", asked.Load())
	if got := asked.Load(); got > articles*5/4 {
		t.Errorf("%d bundles asked for, want about %d", got, articles)
	}
}

// TestPushSendsOnce pushes a publisher's store to a mirror. The mirror
// pulls from a new session at once, and acts on the push's announce on
// the same session: the two pulls take turns, so each leaf and each
// bundle crosses once (but the last leaves, which the announce carries).
func TestPushSendsOnce(t *testing.T) {
	const articles = 200
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publish("a", articles)
	cs := &countStore{Store: ps.st}
	p := newNode(t, cs, nil, nil)
	mst := newStore(t)
	m := newNode(t, mst, []*keys.PublicKey{root}, nil)
	c, err := session.DialQUIC(testContext(t), serve(t, m), p.Key(), m.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Push(testContext(t), c); err != nil {
		t.Fatal(err)
	}
	if !sameLog(ps.st, mst, pub.ID()) {
		t.Fatal("the mirror lacks what was pushed")
	}
	if got := cs.bundles.Load(); got != articles {
		t.Errorf("%d bundles sent for %d articles", got, articles)
	}
	if got, want := cs.leaves.Load(), int64(articles+1+session.MaxAnnounceLeaves); got > want {
		t.Errorf("%d leaves sent, want at most %d", got, want)
	}
}
