package web_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// h3Dial opens an HTTP/3 connection from ip to addr whose receive
// windows hold window bytes a stream.
func h3Dial(t *testing.T, ctx context.Context, ip, addr string, window uint64) (*http3.ClientConn, error) {
	t.Helper()
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: uc}
	t.Cleanup(func() { tr.Close(); uc.Close() })
	ua, _ := net.ResolveUDPAddr("udp", addr)
	qc, err := tr.Dial(ctx, ua, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
		&quic.Config{InitialStreamReceiveWindow: window, MaxStreamReceiveWindow: window,
			InitialConnectionReceiveWindow: 64 * window, MaxConnectionReceiveWindow: 64 * window})
	if err != nil {
		return nil, err
	}
	return (&http3.Transport{}).NewClientConn(qc), nil
}

func mustH3Dial(t *testing.T, ctx context.Context, ip, addr string, window uint64) *http3.ClientConn {
	t.Helper()
	cc, err := h3Dial(t, ctx, ip, addr, window)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// TestH3Flood: HTTP/3 gets the bounds HTTP/1.1 and HTTP/2 have. Before
// the fix the mirror's HTTP/3 server had no cap on connections, per
// address or in all, and net/http's handlers none on requests: 768
// connections from one address, each with 100 requests it never read,
// took the red team's mirror from 23 MB to 1 GB. Now its connections
// count against the same netlimit.Limiter as the TCP servers', and the
// requests being handled are capped per address.
func TestH3Flood(t *testing.T) {
	const perAddr, conns, streams = 4, 4, 8
	var running, peak atomic.Int64
	entered := make(chan struct{}, conns*streams)
	page := bytes.Repeat([]byte("a mirror's page "), 4<<10) // 64 KiB
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		entered <- struct{}{}
		w.Write(page)
	})
	srvTLS, _ := testTLS(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := netlimit.New(&netlimit.Config{MaxConnsPerAddr: perAddr, LimitLoopback: true})
	srv, err := web.NewHTTP3Server(pc, h, &web.ServerConfig{Limiter: lim, TLSConfig: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		pc.Close()
		<-done
	})
	addr := pc.LocalAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	get := func(cc *http3.ClientConn) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
		return cc.RoundTrip(req)
	}

	// perAddr connections with shut windows, streams requests each.
	var wg sync.WaitGroup
	var refused atomic.Int64
	for range conns {
		cc := mustH3Dial(t, ctx, "127.0.0.2", addr, 16)
		for range streams {
			wg.Go(func() {
				if r, err := get(cc); err == nil && r.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
					r.Body.Close()
				}
			})
		}
	}
	for range perAddr {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the stalled requests' handlers did not start")
		}
	}
	// One connection more from the address: closed as it comes (in or
	// just after its handshake).
	extra, extraErr := h3Dial(t, ctx, "127.0.0.2", addr, 1<<20)
	if extraErr == nil {
		_, extraErr = get(extra)
	}
	// Another reader.
	r, err := get(mustH3Dial(t, ctx, "127.0.0.3", addr, 1<<20))
	if err == nil {
		r.Body.Close()
	}
	flood := peak.Load()
	t.Logf("%d connections × %d requests never read: handlers at once %d, %d answered 503; one connection more: %v; another reader: %v",
		conns, streams, flood, refused.Load(), extraErr, err)
	if flood > perAddr+1 { // the stalled ones and the other reader
		t.Errorf("%d handlers ran at once, want at most %d for the address and 1 for the other reader", flood, perAddr)
	}
	if extraErr == nil {
		t.Errorf("connection %d from one address was served, want it closed", perAddr+1)
	}
	if err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("another reader: %v", err)
	}
	cancel()
	wg.Wait()
}
