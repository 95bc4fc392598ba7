package replica

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
)

type addrConn struct {
	session.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

// TestOneAnnounceAtATime: while an announce of a publisher from one peer
// is acted on, another from the
// same peer is refused at once, not queued.
func TestOneAnnounceAtATime(t *testing.T) {
	pub := testkeys.New(t, "announcer")
	ps := newPubStore(t, pub)
	ps.publish("x", 1)
	n := newNode(t, newStore(t), []*keys.PublicKey{pub.Root.Public()}, nil)
	var c session.Conn = addrConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}}
	n.announcing[c] = map[string]bool{pub.ID(): true} // one under way
	err := n.announced(context.Background(), c, &session.Entry{Pub: pub.ID()})
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
	n := newNode(t, newStore(t), nil, nil)
	conn := func(ip string, port int) session.Conn {
		return addrConn{addr: &net.UDPAddr{IP: net.ParseIP(ip), Port: port}}
	}
	honest := conn("192.0.2.1", 1)
	n.notePeerURL(honest, "https://honest.example/")
	n.mu.Lock()
	n.peerSince[honest] = n.peerSince[honest].Add(-time.Second) // connected first
	n.mu.Unlock()
	for i := range 7 {
		n.notePeerURL(conn("198.51.100.9", 100+i), "http://0"+string(rune('a'+i))+".censor.example/")
	}
	got := n.PeerURLs()
	if len(got) != 2 || got[0] != "https://honest.example/" || !strings.HasSuffix(got[1], ".censor.example/") {
		t.Errorf("peer URLs %q, want the honest one first and one of the other address", got)
	}
}
