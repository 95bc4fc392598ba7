package session

import (
	"context"
	"crypto/sha256"
	"net"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// TestSendRoom: bundle requests wait for room in MaxSendBytes, and give
// up at their timeout; other requests need none.
func TestSendRoom(t *testing.T) {
	b := []byte("the bytes of a bundle")
	d := bundle.Digest(sha256.Sum256(b))
	n := New(newTestModel(b), &Config{MaxSendBytes: int64(len(b)), RequestTimeout: 200 * time.Millisecond})
	req := d[:]
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
		return RemoteIP(addrConn{addr: ap})
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
