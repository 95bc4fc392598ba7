package session

import (
	"context"
	"errors"
	"net"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// rawRequest sends one request on a new stream of c, as a hostile peer
// would, and returns the answer.
func rawRequest(ctx context.Context, c Conn, typ byte, payload []byte) (byte, []byte, error) {
	s, err := c.OpenStream(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(s, typ, payload); err != nil {
		return 0, nil, err
	}
	s.CloseWrite()
	return readFrame(s, anyLimit)
}

// hammer sends k list requests on c from 16 goroutines at once and counts
// the answers: publishers, and refusals for the rate limit.
func hammer(t *testing.T, c Conn, k int) (ok, limited int) {
	t.Helper()
	ctx := testContext(t)
	var nok, nlim atomic.Int64
	var wg gosync.WaitGroup
	next := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			for range next {
				typ, p, err := rawRequest(ctx, c, typeList, nil)
				if err != nil {
					t.Errorf("request: %v", err)
					continue
				}
				var re *RemoteError
				switch {
				case typ == respPublishers:
					nok.Add(1)
				case typ == respError && errors.As(decodeError(p), &re) && re.Code == CodeRateLimit && re.Message == CodeText(CodeRateLimit):
					nlim.Add(1)
				default:
					t.Errorf("answer 0x%02x %q", typ, p)
				}
			}
		})
	}
	for range k {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return int(nok.Load()), int(nlim.Load())
}

// TestRateLimit has a hostile peer hammer a node over loopback QUIC with
// requests, on one session and on many from the same address, and checks
// that the node answers no more than its limits allow and refuses the rest
// with error 5.
func TestRateLimit(t *testing.T) {
	cfg := &Config{RateLimit: 2, RateBurst: 5}

	t.Run("one session", func(t *testing.T) {
		n, key := newHost(t, cfg)
		c := dial(t, serve(t, n, key), nil)
		start := time.Now()
		ok, limited := hammer(t, c, 60)
		// The burst at once, the rate after it, and what may wait a second.
		most := 5 + int(2*(time.Since(start).Seconds()+maxRateDelay.Seconds())) + 1
		t.Logf("%d answered, %d refused in %v", ok, limited, time.Since(start))
		if ok < 5 || ok > most || ok+limited != 60 {
			t.Errorf("%d answered and %d refused of 60; want 5 to %d answered, the rest refused", ok, limited, most)
		}
		if s := n.Stats(); s.RateLimited != uint64(limited) {
			t.Errorf("Stats().RateLimited = %d, want %d", s.RateLimited, limited)
		}
		// Once the peer stops hammering, a request waits for its turn
		// (at most a second) rather than being refused. Requests of the
		// hammering may have been granted turns up to maxRateDelay ahead,
		// so a refusal is allowed until those turns and one more token's
		// time have passed; after that the request must be answered.
		end := time.Now().Add(maxRateDelay + time.Second/time.Duration(cfg.RateLimit))
		for {
			_, err := n.request(testContext(t), c, typeList, nil, respPublishers)
			if err == nil {
				break
			}
			if time.Now().After(end) {
				t.Errorf("request after the hammering: %v", err)
				break
			}
			<-time.After(100 * time.Millisecond) // the bucket refills with time
		}
	})

	t.Run("many sessions from one address", func(t *testing.T) {
		n, key := newHost(t, cfg)
		addr := serve(t, n, key)
		// Each session stays within its own burst; together they exceed
		// the address's (twice a session's).
		var cs []Conn
		for range 6 {
			cs = append(cs, dial(t, addr, nil))
		}
		start := time.Now()
		var ok, limited atomic.Int64
		var wg gosync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				o, l := hammer(t, c, 5)
				ok.Add(int64(o))
				limited.Add(int64(l))
			})
		}
		wg.Wait()
		most := 2*5 + int(2*2*(time.Since(start).Seconds()+maxRateDelay.Seconds())) + 1
		t.Logf("%d answered, %d refused in %v", ok.Load(), limited.Load(), time.Since(start))
		if ok.Load() > int64(most) || limited.Load() == 0 {
			t.Errorf("%d answered and %d refused of 30 over 6 sessions; want at most %d answered", ok.Load(), limited.Load(), most)
		}
	})

	t.Run("off", func(t *testing.T) {
		n, key := newHost(t, &Config{RateLimit: -1})
		if ok, limited := hammer(t, dial(t, serve(t, n, key), nil), 200); ok != 200 || limited != 0 {
			t.Errorf("without a limit: %d answered, %d refused of 200", ok, limited)
		}
	})
}

// TestSessionsPerIP checks that a node keeps at most MaxSessionsPerIP
// sessions with one address, refuses a further one with code 6 (without
// probation), and takes new ones once old ones end.
func TestSessionsPerIP(t *testing.T) {
	n, m, key := newHostModel(t, &Config{MaxSessionsPerIP: 2, ProbationSessions: -1})
	addr := serve(t, n, key)
	ctx := testContext(t)
	var cs []Conn
	for range 2 {
		c := dial(t, addr, nil)
		if _, _, err := rawRequest(ctx, c, typeList, nil); err != nil {
			t.Fatalf("session within the limit: %v", err)
		}
		cs = append(cs, c)
	}
	extra := dial(t, addr, nil)
	_, err := n.List(ctx, extra)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBusy || re.Message != CodeText(CodeBusy) {
		t.Fatalf("third session from one address: %v, want error %d", err, CodeBusy)
	}
	t.Log(err)
	if s := n.Stats(); s.IPRefused != 1 || s.Refused != 1 || s.Sessions != 2 {
		t.Errorf("stats %+v, want 1 session refused and 2 open", s)
	}
	cs[0].Close()
	select {
	case <-m.closed:
	case <-ctx.Done():
		t.Fatal("the closed session did not end")
	}
	if _, _, err := rawRequest(ctx, dial(t, addr, nil), typeList, nil); err != nil {
		t.Errorf("new session once one ended: %v", err)
	}
}

// TestHandshakeRateTable: a flood of new addresses leaves the table of
// QUIC handshake buckets bounded, and an address over its burst is
// refused.
func TestHandshakeRateTable(t *testing.T) {
	h := &handshakeRate{m: map[string]*rate.Limiter{}}
	for i := range quicRateMax + 1000 {
		a := &net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 1}
		if !h.allow(a) {
			t.Fatalf("new address %v refused", a)
		}
		if len(h.m) > quicRateMax {
			t.Fatalf("%d addresses remembered, want at most %d", len(h.m), quicRateMax)
		}
	}
	a := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	n := 0
	for h.allow(a) {
		n++
	}
	if n != quicHandshakeBurst {
		t.Errorf("%d handshakes allowed at once, want %d", n, quicHandshakeBurst)
	}
}
