package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

func TestFullSync(t *testing.T) {
	pub := testkeys.New(t, "pub")
	ps := newPubStore(t, pub)
	ps.publish("a", 40)
	ps.publish("b", 30)
	root := pub.Root.Public()

	p := newNode(t, ps.st, []*keys.PublicKey{root}, nil)
	addr := serve(t, p)
	var err error

	st := newStore(t)
	a := newNode(t, st, []*keys.PublicKey{root}, &Config{Batch: 16})
	c := dial(t, addr, p.PublicKey())
	start := time.Now()
	if err := a.SyncWith(testContext(t), c); err != nil {
		t.Fatalf("SyncWith: %v", err)
	}
	t.Logf("full sync of 70 articles: %v", time.Since(start))
	if !sameLog(ps.st, st, pub.ID()) {
		t.Fatal("stores differ after sync")
	}
	check(t, st, root)
	s := a.Stats()
	if s.LeavesAdded != 71 || s.BundlesAdded != 70 || s.Forks != 0 || s.Refused != 0 {
		t.Errorf("stats = %+v", s)
	}

	// Nothing new: a second sync changes nothing.
	before := snap(t, st)
	if err := a.SyncWith(testContext(t), c); err != nil {
		t.Fatalf("second SyncWith: %v", err)
	}
	if !snap(t, st).equal(before) {
		t.Error("second sync changed the store")
	}

	// An update: a few new articles and a new revision.
	ps.publish("c", 3)
	if err := a.SyncWith(testContext(t), c); err != nil {
		t.Fatalf("third SyncWith: %v", err)
	}
	if !sameLog(ps.st, st, pub.ID()) {
		t.Fatal("stores differ after incremental sync")
	}
	check(t, st, root)

	// A new key statement: a new signing key, the old one revoked, and
	// the articles signed again in the same update.
	signer2 := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	stmt2 := pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(signer2)}, pub.Signer.Public())
	ps.p, err = publish.New(ps.st, root, stmt2, signer2, &publish.Options{Now: func() time.Time { return ps.now }})
	if err != nil {
		t.Fatal(err)
	}
	ps.publish("d", 1)
	if err := a.SyncWith(testContext(t), c); err != nil {
		t.Fatalf("SyncWith after a new key statement: %v", err)
	}
	if !sameLog(ps.st, st, pub.ID()) {
		t.Fatal("stores differ after a new key statement")
	}
	if tr, err := st.Trust(root); err != nil || tr.Statement().Version != 2 {
		t.Fatalf("key statement after sync: %v, %v", tr, err)
	}
	check(t, st, root)
}

// TestChainPush runs publisher -> A -> B -> C, each dialing the one before,
// and checks that an article published while all run reaches C, verified,
// within a second.
func TestChainPush(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("old", 5)

	p := newNode(t, ps.st, trusted, nil)
	prev := serve(t, p)
	var stores []*Node
	var changed <-chan struct{} // C's store's changes
	for range 3 {
		var st *store.Store
		st, changed = watched(t)
		n := newNode(t, st, trusted, &Config{Peers: []Peer{{Addr: "quic://" + prev}}, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
		prev = serve(t, n)
		run(t, n)
		stores = append(stores, n)
	}
	c := stores[2]
	if !waitChange(10*time.Second, changed, func() bool { return sameLog(ps.st, stOf(c), pub.ID()) }) {
		t.Fatal("C did not catch up with the publisher")
	}
	// Every session is up once each node sees its neighbours.
	if !waitFor(5*time.Second, func() bool {
		return stores[0].Stats().Sessions == 2 && stores[1].Stats().Sessions == 2 && p.Stats().Sessions == 1 && c.Stats().Sessions == 1
	}) {
		t.Fatal("sessions did not come up")
	}

	// Rounds of one article (the announce carries its leaf) and of 30 (the
	// receivers ask for the leaves).
	for round, k := range []int{1, 1, 30, 1} {
		start := time.Now()
		ps.publish("new", k)
		p.Notify(pub.ID())
		if !waitChange(time.Second, changed, func() bool { return sameLog(ps.st, stOf(c), pub.ID()) }) {
			t.Fatalf("round %d: new article did not reach C within a second", round)
		}
		t.Logf("round %d: publisher -> A -> B -> C in %v", round, time.Since(start))
		check(t, stOf(c), root)
	}
	for i, n := range stores {
		if s := n.Stats(); s.Forks != 0 || s.Refused != 0 {
			t.Errorf("node %d: stats %+v", i, s)
		}
	}
}

// TestTCP runs a sync and a push over TLS on TCP, and pins keys on it.
func TestTCP(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publish("a", 10)
	p := newNode(t, ps.st, []*keys.PublicKey{root}, nil)
	l, err := session.ListenTCP("127.0.0.1:0", p.Key())
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, p, l)
	addr := l.Addr().String()

	ast, changed := watched(t)
	a := newNode(t, ast, []*keys.PublicKey{root}, &Config{Peers: []Peer{{Addr: "tcp://" + addr, Key: p.PublicKey()}}})
	run(t, a)
	if !waitChange(10*time.Second, changed, func() bool { return sameLog(ps.st, ast, pub.ID()) }) {
		t.Fatal("A did not catch up over TCP")
	}
	if !waitFor(5*time.Second, func() bool { return p.Stats().Sessions == 1 }) {
		t.Fatal("the session over TCP did not come up")
	}
	start := time.Now()
	ps.publish("b", 1)
	p.Notify(pub.ID())
	if !waitChange(time.Second, changed, func() bool { return sameLog(ps.st, ast, pub.ID()) }) {
		t.Fatal("push over TCP did not arrive within a second")
	}
	t.Logf("push over TCP in %v", time.Since(start))
	check(t, stOf(a), root)

	_, err = session.DialTCP(testContext(t), addr, a.Key(), a.PublicKey())
	var km *session.KeyMismatchError
	if !errors.As(err, &km) {
		t.Fatalf("dial with a wrong pin: %v, want *session.KeyMismatchError", err)
	}
}

// TestRestart stops a mirror in the middle of a chain and starts it again
// on the same store and address: everything converges.
func TestRestart(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 20)
	p := newNode(t, ps.st, trusted, nil)
	paddr := serve(t, p)
	fast := func(peer string) *Config {
		return &Config{Peers: []Peer{{Addr: peer}}, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond}
	}

	// B stores the log first and the bundles four at a time, so that it
	// is stopped in the middle of its sync.
	bst, bchanged := watched(t)
	bcfg := fast(paddr)
	bcfg.Batch = 4
	b := newNode(t, bst, trusted, bcfg)
	bl, err := session.ListenQUIC("127.0.0.1:0", b.Key())
	if err != nil {
		t.Fatal(err)
	}
	baddr := bl.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { b.Serve(ctx, bl); done <- struct{}{} }()
	go func() { b.Run(ctx); done <- struct{}{} }()

	cst, cchanged := watched(t)
	c := newNode(t, cst, trusted, fast(baddr))
	run(t, c)
	// Stop B once it has stored something, then publish more while it
	// is down.
	select {
	case <-bchanged:
	case <-time.After(10 * time.Second):
		t.Fatal("B stored nothing")
	}
	cancel()
	for range 2 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("B did not stop")
		}
	}
	// Whatever B stored verifies; it may lack bundles.
	r, err := bst.Audit(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Errorf("B's store: %v", p)
	}
	t.Logf("B stopped with %d bundles pending", len(r.Pending))
	ps.publish("b", 5)

	b2 := newNode(t, bst, trusted, fast(paddr))
	bl2, err := session.ListenQUIC(baddr, b2.Key())
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, b2, bl2)
	run(t, b2)
	if !waitChange(10*time.Second, cchanged, func() bool { return sameLog(ps.st, cst, pub.ID()) }) {
		t.Fatal("C did not converge after B restarted")
	}
	check(t, cst, root)
}

// TestPush pushes a publisher's store to a mirror, as `samizdat push` does,
// and checks that a mirror that does not carry the publisher refuses it.
func TestPush(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publish("a", 80)
	p := newNode(t, ps.st, nil, nil)

	m := newNode(t, newStore(t), []*keys.PublicKey{root}, nil)
	c, err := session.DialQUIC(testContext(t), serve(t, m), p.Key(), m.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Push(testContext(t), c); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if !sameLog(ps.st, stOf(m), pub.ID()) {
		t.Fatal("the mirror lacks what was pushed")
	}
	check(t, stOf(m), root)

	other := newNode(t, newStore(t), nil, nil)
	c2, err := session.DialQUIC(testContext(t), serve(t, other), p.Key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var re *session.RemoteError
	if err := p.Push(testContext(t), c2); !errors.As(err, &re) || re.Code != session.CodeRefused {
		t.Fatalf("Push to a mirror without the publisher: %v, want a refusal", err)
	}
	if ids, _ := stOf(other).Publishers(); len(ids) != 0 {
		t.Errorf("the mirror stored %v", ids)
	}
}
