package coalesce

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// TestUnderNetlimit serves through a netlimit listener wrapped around a
// coalescing one, as the mirror does: a page still leaves in one writev,
// and the netlimit Conn still counts the connection and refuses others.
func TestUnderNetlimit(t *testing.T) {
	noLeaks(t)
	n := new(counts)
	lim := netlimit.New(&netlimit.Config{MaxConnsPerAddr: 1, LimitLoopback: true})
	ts := httptest.NewUnstartedServer(pageHandler())
	ts.Listener.Close()
	ts.Listener = lim.Listener(NewListener(countListener{listen(t), n}, nil))
	conns := make(chan net.Conn, 4)
	ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns <- c
		}
	}
	ts.Start()
	defer ts.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	get(t, c, ts.URL+"/12149") // the connection's first request
	const pages = 50
	before := n.calls()
	for range pages {
		get(t, c, ts.URL+"/12149")
	}
	if got := (n.calls() - before) / pages; got != 1 {
		t.Errorf("%d write calls a page, want 1 (%d writes, %d writevs)", got, n.writes.Load(), n.writevs.Load())
	}
	seen := <-conns
	lc, ok := seen.(*netlimit.Conn)
	if !ok {
		t.Fatalf("the server's conn is a %T, not a *netlimit.Conn", seen)
	}
	if _, ok := lc.NetConn().(*Conn); !ok {
		t.Fatalf("the netlimit Conn wraps a %T, not a *coalesce.Conn", lc.NetConn())
	}
	// A second connection from the same address is over the cap.
	other := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer other.CloseIdleConnections()
	if resp, err := other.Get(ts.URL + "/10"); err == nil {
		resp.Body.Close()
		t.Error("a second connection from 127.0.0.1 was served over a cap of 1")
	}
	if st := lim.Stats(); st.Open != 1 || st.PerAddr != 1 {
		t.Errorf("stats %+v", st)
	}
}
