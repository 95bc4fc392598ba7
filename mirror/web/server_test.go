package web_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// testTLS returns a server certificate for 127.0.0.1 and a client
// configuration that trusts it (httptest's).
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return &tls.Config{Certificates: ts.TLS.Certificates, MinVersion: tls.VersionTLS12}, &tls.Config{RootCAs: pool}
}

// serve serves h with web.NewServer on 127.0.0.1 until the test ends, and
// returns the server and its base URL.
func serve(t testing.TB, h http.Handler, cfg *web.ServerConfig, before ...func(*web.Server)) (*web.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := web.NewServer(ln, h, cfg)
	for _, f := range before {
		f(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.HTTP.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	scheme := "http://"
	if cfg != nil && cfg.TLSConfig != nil {
		scheme = "https://"
	}
	return srv, scheme + srv.Addr().String()
}

// dialFrom returns a dialer with the given loopback source address.
func dialFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 4 * time.Second}
}

// slowloris opens n connections from 127.0.0.2 to addr, starts each
// request (an HTTP request line, or for HTTPS the start of a TLS
// ClientHello), and drips a byte on each every 100 ms, never finishing,
// until the test ends. It returns once all n have been dialled; those the
// server refused are dropped.
func slowloris(t *testing.T, addr string, n int, tlsToo bool) {
	t.Helper()
	start := []byte("GET / HTTP/1.1\r\nHost: mirror\r\nX-Slow: ")
	if tlsToo {
		// A handshake record of 512 bytes that never comes: its header
		// and the first bytes of a ClientHello.
		start = []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
	}
	d := dialFrom("127.0.0.2")
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // refused at once
		}
		if err != nil {
			t.Fatalf("slowloris: %v", err)
		}
		c.Write(start)
		conns = append(conns, c)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			conns = slices.DeleteFunc(conns, func(c net.Conn) bool {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				if _, err := c.Write([]byte("a")); err != nil {
					c.Close()
					return true
				}
				return false
			})
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
}

// readers fetches paths from 127.0.0.3, count requests by 8 readers, each
// request on a new connection (a new reader arriving), with a reader's
// 4 s patience. It returns the latencies, sorted, and the errors.
func readers(base string, tlsConfig *tls.Config, paths []string, count int) ([]time.Duration, []error) {
	var mu sync.Mutex
	var lat []time.Duration
	var errs []error
	var wg sync.WaitGroup
	jobs := make(chan string)
	for range 8 {
		wg.Go(func() {
			tr := &http.Transport{DialContext: dialFrom("127.0.0.3").DialContext, DisableKeepAlives: true, TLSClientConfig: tlsConfig}
			c := &http.Client{Transport: tr, Timeout: 4 * time.Second}
			for p := range jobs {
				start := time.Now()
				resp, err := c.Get(base + p)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", p, resp.Status)
					}
				}
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		})
	}
	for i := range count {
		jobs <- paths[i%len(paths)]
	}
	close(jobs)
	wg.Wait()
	slices.Sort(lat)
	return lat, errs
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// TestSlowloris: 1,100 slow connections from one address, against the
// total cap the mirror had before (1,024), do not slow readers from
// another address: the per-address cap keeps all but 256 of them out.
// (Without it, they took every slot and readers waited 8 to 10 s.)
func TestSlowloris(t *testing.T) {
	const slow = 1100
	checkFDs(t, slow+1500)
	for _, https := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[https], func(t *testing.T) {
			f := newFixture(t, nil)
			cfg := &web.ServerConfig{Limiter: netlimit.New(&netlimit.Config{MaxConns: 1024, LimitLoopback: true})}
			var client *tls.Config
			if https {
				cfg.TLSConfig, client = testTLS(t)
			}
			srv, base := serve(t, f.h, cfg)
			slowloris(t, srv.Addr().String(), slow, https)
			// A request served from a third address comes after every
			// slow connection was accepted and judged (one accept loop).
			probe := &http.Client{Transport: &http.Transport{DialContext: dialFrom("127.0.0.4").DialContext, TLSClientConfig: client}, Timeout: 4 * time.Second}
			if resp, err := probe.Get(base + "/healthz"); err != nil {
				t.Fatalf("probe: %v", err)
			} else {
				resp.Body.Close()
			}
			probe.CloseIdleConnections()
			st := srv.Limiter.Stats()
			if st.Open < netlimit.DefaultMaxConnsPerAddr || st.PerAddr < slow-netlimit.DefaultMaxConnsPerAddr {
				t.Fatalf("the attack did not take hold: %+v", st)
			}
			a := f.alpha.ID()
			paths := []string{"/", "/p/" + a + "/a/hostile/", "/p/" + a + "/", "/api/publishers", "/p/" + a + "/a/hostile/img/photo.png"}
			lat, errs := readers(base, client, paths, 200)
			for i, err := range errs {
				if i < 5 {
					t.Errorf("reader: %v", err)
				}
			}
			p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
			t.Logf("%d slow connections (%d connections open, %d refused): readers' p50 %v, p99 %v, %d errors", slow, st.Open, st.PerAddr, p50, p99, len(errs))
			if len(errs) > 0 || p99 >= time.Second {
				t.Errorf("readers: p99 %v, %d errors of 200; want p99 < 1 s and no errors", p99, len(errs))
			}
		})
	}
}

// checkFDs fails the test if the process may not open n files.
func checkFDs(t *testing.T, n int) {
	t.Helper()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur < uint64(n) {
		t.Fatalf("this test needs %d file descriptors; the limit is %d (ulimit -n)", n, r.Cur)
	}
}

// TestIdleReclaimed: when every slot is taken, a new reader takes the
// slot of an idle keep-alive connection (the server's ConnState hook
// tells the Limiter which are idle), not a busy one.
func TestIdleReclaimed(t *testing.T) {
	f := newFixture(t, nil)
	lim := netlimit.New(&netlimit.Config{MaxConns: 2, LimitLoopback: true})
	idled := make(chan struct{}, 8)
	srv, base := serve(t, f.h, &web.ServerConfig{Limiter: lim}, func(s *web.Server) {
		hook := s.HTTP.ConnState
		s.HTTP.ConnState = func(c net.Conn, st http.ConnState) {
			if hook != nil {
				hook(c, st)
			}
			if st == http.StateIdle {
				idled <- struct{}{}
			}
		}
	})
	// A keep-alive reader, idle after its request.
	idle := &http.Client{Transport: &http.Transport{DialContext: dialFrom("127.0.0.2").DialContext}, Timeout: 4 * time.Second}
	defer idle.CloseIdleConnections()
	resp, err := idle.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case <-idled: // the server marked it idle after answering
	case <-time.After(4 * time.Second):
		t.Fatal("the connection was never idle")
	}
	// A slow client, busy reading its request's headers.
	slow, err := dialFrom("127.0.0.3").Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("GET / HTTP/1.1\r\n"))
	// The listener accepts in order: by the time the newcomer is judged,
	// the slow connection has taken the last slot.
	newcomer := &http.Client{Transport: &http.Transport{DialContext: dialFrom("127.0.0.4").DialContext, DisableKeepAlives: true}, Timeout: 4 * time.Second}
	resp, err = newcomer.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("a new reader refused though a connection was idle: %v", err)
	}
	resp.Body.Close()
	if st := lim.Stats(); st.Reclaimed != 1 {
		t.Errorf("stats %+v", st)
	}
	// The slow client's connection is still open: it finishes its request.
	slow.Write([]byte("Host: x\r\n\r\n"))
	slow.SetReadDeadline(time.Now().Add(4 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("the busy connection was closed: %v", err)
	}
}

// TestServerLimits checks the header timeout and size bounds of a
// Server.
func TestServerLimits(t *testing.T) {
	f := newFixture(t, nil)
	srv, base := serve(t, f.h, &web.ServerConfig{ReadHeaderTimeout: 200 * time.Millisecond})
	// Headers that never end: the connection is closed after the
	// header timeout.
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	c.SetReadDeadline(time.Now().Add(4 * time.Second))
	io.Copy(io.Discard, c)
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("a request with unfinished headers was closed after %v, want about 200 ms", took)
	}
	// Headers over DefaultMaxHeaderBytes.
	req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", web.DefaultMaxHeaderBytes+4096))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestMaxRequests checks the total cap on requests being handled at
// once, whatever their address: beyond ServerConfig.MaxRequests, a request
// is answered 503 at once, and served again when one finishes.
func TestMaxRequests(t *testing.T) {
	const max = 3
	entered := make(chan struct{}, max)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("ok\n"))
	})
	_, base := serve(t, h, &web.ServerConfig{MaxRequests: max, MaxRequestsPerAddr: -1, NoCoalesce: true})
	get := func(src, path string) (int, error) {
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialFrom(src).DialContext}}
		defer cl.CloseIdleConnections()
		r, err := cl.Get(base + path)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode, nil
	}
	var wg sync.WaitGroup
	for i := range max {
		wg.Go(func() {
			if code, err := get("127.0.0."+strconv.Itoa(2+i), "/wait"); err != nil || code != http.StatusOK {
				t.Errorf("held request %d: %d, %v", i, code, err)
			}
		})
	}
	for range max {
		<-entered
	}
	// Every slot is held, each by another address.
	if code, err := get("127.0.0.9", "/"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("a request beyond the cap: %d, %v; want 503", code, err)
	}
	close(release)
	wg.Wait()
	if code, err := get("127.0.0.9", "/"); err != nil || code != http.StatusOK {
		t.Errorf("a request after the others finished: %d, %v; want 200", code, err)
	}
}
