package replica

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// setMirrors signs a new mirror list in the publisher's store.
func (ps *pubStore) setMirrors(urls ...string) []byte {
	ps.t.Helper()
	ps.now = ps.now.Add(time.Minute)
	if _, err := ps.p.SetMirrors(urls); err != nil {
		ps.t.Fatalf("SetMirrors: %v", err)
	}
	ml, err := ps.st.MirrorList(ps.pub.ID())
	if err != nil {
		ps.t.Fatal(err)
	}
	return ml
}

func mirrorListOf(t *testing.T, st *store.Store, id string) []byte {
	t.Helper()
	ml, err := st.MirrorList(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return ml
}

// TestMirrorListSync carries a publisher's mirror list from its store to a
// mirror and on to a second one, with each new version, and to a mirror
// that holds the list's leaf but not the list.
func TestMirrorListSync(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 3)
	ml1 := ps.setMirrors("https://a.example/", "h3://b.example:443")
	paddr := serve(t, newNode(t, ps.st, trusted, nil))

	a := newStore(t)
	an := newNode(t, a, trusted, nil)
	if err := an.SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
		t.Fatal(err)
	}
	if got := mirrorListOf(t, a, pub.ID()); !bytes.Equal(got, ml1) {
		t.Fatalf("mirror A holds list\n%s\nwant\n%s", got, ml1)
	}
	check(t, a, root)

	// Version 2 reaches A, and from A a second mirror B.
	ml2 := ps.setMirrors("https://c.example/")
	if err := an.SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
		t.Fatal(err)
	}
	if got := mirrorListOf(t, a, pub.ID()); !bytes.Equal(got, ml2) {
		t.Fatalf("mirror A holds list\n%s\nwant version 2", got)
	}
	aaddr := serve(t, an)
	b := newStore(t)
	if err := newNode(t, b, trusted, nil).SyncWith(testContext(t), dial(t, aaddr, nil)); err != nil {
		t.Fatal(err)
	}
	if got := mirrorListOf(t, b, pub.ID()); !bytes.Equal(got, ml2) {
		t.Fatalf("mirror B holds list\n%s\nwant version 2", got)
	}
	check(t, b, root)

	// C holds the log (from a peer that had no list) but not the list:
	// a sync with A, with nothing else new, brings the list alone.
	c := newStore(t)
	logOnly(t, c, ps.st, root)
	if mirrorListOf(t, c, pub.ID()) != nil {
		t.Fatal("C holds a list before the sync")
	}
	if err := newNode(t, c, trusted, nil).SyncWith(testContext(t), dial(t, aaddr, nil)); err != nil {
		t.Fatal(err)
	}
	if got := mirrorListOf(t, c, pub.ID()); !bytes.Equal(got, ml2) {
		t.Fatalf("mirror C holds list\n%s\nwant version 2", got)
	}
	check(t, c, root)
}

// TestMirrorListPushAndRefresh pushes the publisher's store to a serving
// mirror: the list arrives with the announce; a refresh (a checkpoint of
// the same size, signed later) pushed again replaces the mirror's
// checkpoint.
func TestMirrorListPushAndRefresh(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 2)
	ml := ps.setMirrors("https://a.example/")

	m := newStore(t)
	maddr := serve(t, newNode(t, m, trusted, nil))
	push := func() {
		t.Helper()
		if err := newNode(t, ps.st, trusted, nil).Push(testContext(t), dial(t, maddr, nil)); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	push()
	if got := mirrorListOf(t, m, pub.ID()); !bytes.Equal(got, ml) {
		t.Fatalf("mirror holds list\n%s\nwant\n%s", got, ml)
	}
	before, err := m.Publisher(pub.ID())
	if err != nil {
		t.Fatal(err)
	}

	ps.now = ps.now.Add(time.Hour)
	cp, err := ps.p.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	push()
	after, err := m.Publisher(pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := m.Trust(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := catalog.OpenCheckpoint(after.Checkpoint, tr)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size != before.Size || *got != *cp || bytes.Equal(after.Checkpoint, before.Checkpoint) {
		t.Errorf("after a refresh the mirror holds %+v (size %d, was %d); want %+v", got, after.Size, before.Size, cp)
	}
	check(t, m, root)
}

// TestMirrorListHostile serves a list that is not the one the log
// records, and one that is not a list: the log is taken, the list not.
func TestMirrorListHostile(t *testing.T) {
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	trusted := []*keys.PublicKey{root}
	ps := newPubStore(t, pub)
	ps.publish("a", 2)
	old := ps.setMirrors("https://old.example/")
	ps.setMirrors("https://new.example/")
	for _, tc := range []struct {
		name string
		list []byte
	}{
		{"older list", old},
		{"garbage", []byte("not a list")},
		{"empty", nil},
		{"oversize", bytes.Repeat([]byte("x"), catalog.MaxMirrorListSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakePeer(t, &fake{honest: honest(t, ps.st), mirrorList: func(string) ([]byte, error) { return tc.list, nil }})
			st := newStore(t)
			if err := newNode(t, st, trusted, nil).SyncWith(testContext(t), dial(t, addr, nil)); err != nil {
				t.Fatal(err)
			}
			if !sameLog(ps.st, st, pub.ID()) {
				t.Error("the log was not taken")
			}
			if got := mirrorListOf(t, st, pub.ID()); got != nil {
				t.Errorf("stored list\n%s", got)
			}
			check(t, st, root)
		})
	}
}

// TestPeerURLs connects two nodes that each announce a public URL in the
// hello exchange; each reports the other's.
func TestPeerURLs(t *testing.T) {
	pub := testkeys.New(t, "pub")
	trusted := []*keys.PublicKey{pub.Root.Public()}
	a := newNode(t, newStore(t), trusted, &Config{PublicURL: "https://a.example/"})
	aaddr := serve(t, a)
	b := newNode(t, newStore(t), trusted, &Config{PublicURL: "h3://b.example:4433", Peers: []Peer{{Addr: aaddr, Key: a.PublicKey()}}})
	run(t, b)
	if !waitFor(5*time.Second, func() bool {
		return slices.Equal(a.PeerURLs(), []string{"h3://b.example:4433"}) && slices.Equal(b.PeerURLs(), []string{"https://a.example/"})
	}) {
		t.Fatalf("A knows %q, B knows %q", a.PeerURLs(), b.PeerURLs())
	}
	// A node without a public URL is not listed.
	c := newNode(t, newStore(t), trusted, &Config{Peers: []Peer{{Addr: aaddr}}})
	run(t, c)
	// A answers C's hello once it has noted it: C knowing A's URL is the
	// event that A has acted on C's hello.
	if !waitFor(5*time.Second, func() bool { return slices.Equal(c.PeerURLs(), []string{"https://a.example/"}) }) {
		t.Fatalf("C knows %q", c.PeerURLs())
	}
	if got := a.PeerURLs(); !slices.Equal(got, []string{"h3://b.example:4433"}) {
		t.Errorf("A knows %q", got)
	}

	// A bad URL in a hello is refused and not recorded.
	conn := dial(t, aaddr, nil)
	for _, bad := range []string{"javascript:alert(1)", "https://u@x.example/", "https://x.example/#f", "ftp://x.example"} {
		_, err := newNode(t, newStore(t), nil, nil).host.Hello(context.Background(), conn, bad)
		var re *session.RemoteError
		if !errors.As(err, &re) || re.Code != session.CodeBadRequest {
			t.Errorf("hello with %q: %v", bad, err)
		}
	}
	if got := a.PeerURLs(); slices.Contains(got, "javascript:alert(1)") || len(got) != 1 {
		t.Errorf("A knows %q", got)
	}
}
