package sync

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// TestSendRoom: bundle requests wait for room in MaxSendBytes, and give
// up at their timeout; other requests need none.
func TestSendRoom(t *testing.T) {
	pub := testkeys.New(t, "budget")
	ps := newPubStore(t, pub)
	ids := ps.publish("b", 2)
	a, err := ps.st.Article(pub.ID(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	size, ok := ps.st.BundleSize(a.Digest)
	if !ok {
		t.Fatal("no size")
	}
	n := New(ps.st, []*keys.PublicKey{pub.Root.Public()}, &Config{MaxSendBytes: size, RequestTimeout: 200 * time.Millisecond})
	req := a.Digest[:]
	release, err := n.sendRoom(context.Background(), typeBundle, req)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := n.sendRoom(context.Background(), typeBundle, req); err == nil {
		t.Fatal("a second bundle fit in the room of one")
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the request's timeout", el)
	}
	if _, err := n.sendRoom(context.Background(), typeList, nil); err != nil {
		t.Errorf("a list request waited for room: %v", err)
	}
	release()
	release2, err := n.sendRoom(context.Background(), typeBundle, req)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	release2()
	var unknown bundle.Digest
	if _, err := n.sendRoom(context.Background(), typeBundle, unknown[:]); err != nil {
		t.Errorf("an unknown bundle waited for room: %v", err)
	}
}

type addrConn struct {
	Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

// TestRemoteIPGroupsIPv6: an IPv6 peer is counted by its /64, an IPv4
// peer by its address.
func TestRemoteIPGroupsIPv6(t *testing.T) {
	key := func(s string) string {
		ap, _ := net.ResolveUDPAddr("udp", s)
		return remoteIP(addrConn{addr: ap})
	}
	if a, b := key("[2001:db8:1:2:aaaa::1]:443"), key("[2001:db8:1:2:bbbb::2]:9"); a != b || a != "2001:db8:1:2::/64" {
		t.Errorf("one /64: %q and %q", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:443"), key("[2001:db8:1:3::1]:443"); a == b {
		t.Errorf("two /64s counted as one: %q", a)
	}
	if a := key("192.0.2.7:443"); a != "192.0.2.7" {
		t.Errorf("IPv4: %q", a)
	}
}

// TestOneAnnounceAtATime: while an announce of a publisher from one peer
// is acted on (its pull holds the publisher's lock), another from the
// same peer is refused at once, not queued.
func TestOneAnnounceAtATime(t *testing.T) {
	pub := testkeys.New(t, "announcer")
	ps := newPubStore(t, pub)
	ps.publish("x", 1)
	n := New(newStore(t), []*keys.PublicKey{pub.Root.Public()}, nil)
	var c Conn = addrConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}}
	n.announcing[c] = map[string]bool{pub.ID(): true} // one under way
	err := n.announced(context.Background(), c, &entry{ID: pub.ID()})
	if err == nil || !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "being acted on") {
		t.Fatalf("second announce: %v", err)
	}
	if !n.announcing[c][pub.ID()] {
		t.Error("the refused announce cleared the one under way")
	}
}

// TestPeerURLsOnePerAddress: many sessions from one address list one
// URL, the oldest peers come first, and other addresses are not crowded
// out.
func TestPeerURLsOnePerAddress(t *testing.T) {
	n := New(newStore(t), nil, nil)
	conn := func(ip string, port int) Conn { return addrConn{addr: &net.UDPAddr{IP: net.ParseIP(ip), Port: port}} }
	n.notePeerURL(conn("192.0.2.1", 1), "https://honest.example/")
	time.Sleep(2 * time.Millisecond)
	for i := range 7 {
		n.notePeerURL(conn("198.51.100.9", 100+i), "http://0"+string(rune('a'+i))+".censor.example/")
	}
	got := n.PeerURLs()
	if len(got) != 2 || got[0] != "https://honest.example/" || !strings.HasSuffix(got[1], ".censor.example/") {
		t.Errorf("peer URLs %q, want the honest one first and one of the other address", got)
	}
}
