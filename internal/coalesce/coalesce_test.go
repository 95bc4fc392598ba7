package coalesce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// noLeaks fails the test if goroutines started during it are still
// running a few seconds after it ends. Call it first, so that its cleanup
// runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines at the start, %d at the end:\n%s", base, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// counts are the calls a countConn passed on to the socket.
type counts struct {
	writes, writevs, full atomic.Int64 // full: Writes of exactly DefaultSize bytes
}

func (c *counts) calls() int64 { return c.writes.Load() + c.writevs.Load() }

// countConn counts the write calls it passes to a *net.TCPConn: each is
// one system call for the sizes these tests write over loopback.
type countConn struct {
	*net.TCPConn
	n *counts
}

func (c countConn) Write(p []byte) (int, error) {
	c.n.writes.Add(1)
	if len(p) == DefaultSize {
		c.n.full.Add(1)
	}
	return c.TCPConn.Write(p)
}

func (c countConn) writeBuffers(b *net.Buffers) (int64, error) {
	c.n.writevs.Add(1)
	return b.WriteTo(c.TCPConn) // writev
}

type countListener struct {
	net.Listener
	n *counts
}

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countConn{c.(*net.TCPConn), l.n}, nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// serve serves h over loopback TCP through a coalescing listener (a plain
// one if cfg is nil and plain is set), counting write calls.
func serve(t *testing.T, h http.Handler, cfg *Config, plain bool) (*httptest.Server, *counts) {
	t.Helper()
	n := new(counts)
	var l net.Listener = countListener{listen(t), n}
	if !plain {
		l = NewListener(l, cfg)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, n
}

// body is the deterministic content of a response of n bytes.
func body(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return b
}

// pageHandler answers /N with N bytes written by one Write, as the mirror
// writes a cached page.
func pageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			http.Error(w, "bad size", 400)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(body(n, 1))
	})
}

func get(t *testing.T, c *http.Client, url string) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return b, time.Since(start)
}

// pageSizes cover every way the headers and body can fall across
// net/http's 4 KiB buffer: the body's end at every offset around one and
// two buffers (the headers are about 120 bytes), and bodies that are
// multiples of 4 KiB.
func pageSizes() []int {
	sizes := []int{0, 1, 2, 100, 2047, 2048, 2049, 4096, 8192, 12149, 12288, 16384, 65536, 1 << 20}
	for n := 3850; n <= 4100; n++ {
		sizes = append(sizes, n)
	}
	for n := 7950; n <= 8100; n++ {
		sizes = append(sizes, n)
	}
	return sizes
}

// TestPages fetches pages of every size over keep-alive connections. With
// a timer that never fires, nothing may wait for it: net/http clears the
// write deadline after each response, which sends held bytes.
func TestPages(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *Config
	}{{"default", nil}, {"no timer", &Config{Delay: time.Hour}}} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ts, n := serve(t, pageHandler(), tc.cfg, false)
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
			defer c.CloseIdleConnections()
			var slowest time.Duration
			for _, size := range pageSizes() {
				b, took := get(t, c, fmt.Sprintf("%s/%d", ts.URL, size))
				if !bytes.Equal(b, body(size, 1)) {
					t.Fatalf("size %d: got %d bytes, not the page", size, len(b))
				}
				slowest = max(slowest, took)
			}
			if slowest > time.Second {
				t.Errorf("slowest page took %v", slowest)
			}
			if n.full.Load() == 0 {
				t.Errorf("no held buffer was ever sent alone: the sizes miss the case where a response ends with a full buffer")
			}
			t.Logf("slowest page %v; %d writes, %d writevs, %d buffers sent alone", slowest, n.writes.Load(), n.writevs.Load(), n.full.Load())
		})
	}
}

// TestOneCallPerPage counts the write calls for the mirror's 12 KB page.
func TestOneCallPerPage(t *testing.T) {
	for _, tc := range []struct {
		plain bool
		want  int64
	}{{true, 2}, {false, 1}} {
		t.Run(fmt.Sprint("plain=", tc.plain), func(t *testing.T) {
			noLeaks(t)
			ts, n := serve(t, pageHandler(), nil, tc.plain)
			c := &http.Client{Timeout: 5 * time.Second}
			defer c.CloseIdleConnections()
			get(t, c, ts.URL+"/12149") // the connection's first request
			const pages = 50
			before := n.calls()
			for range pages {
				get(t, c, ts.URL+"/12149")
			}
			if got := (n.calls() - before) / pages; got != tc.want {
				t.Errorf("%d write calls a page, want %d (%d writes, %d writevs)", got, tc.want, n.writes.Load(), n.writevs.Load())
			}
		})
	}
}

// TestPipelined sends many requests in one write and reads the answers.
func TestPipelined(t *testing.T) {
	for _, cfg := range []*Config{nil, {Delay: time.Hour}} {
		noLeaks(t)
		ts, _ := serve(t, pageHandler(), cfg, false)
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sizes := pageSizes()
		var req bytes.Buffer
		for _, s := range sizes {
			fmt.Fprintf(&req, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", s)
		}
		go conn.Write(req.Bytes())
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for _, s := range sizes {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("size %d: %v", s, err)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(b, body(s, 1)) {
				t.Fatalf("size %d: %d bytes, %v", s, len(b), err)
			}
		}
		conn.Close()
		ts.Close()
	}
}

// TestStreaming has a handler flush chunks of every size around the
// buffer's and wait until the client has each one: a chunk held in the
// buffer must arrive by the timer, in a few milliseconds.
func TestStreaming(t *testing.T) {
	noLeaks(t)
	got := make(chan int)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for s := 3950; s <= 4100; s++ {
			w.Write(body(s, 2))
			w.(http.Flusher).Flush()
			select {
			case <-got: // the client has it
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("chunk of %d bytes not received", s))
			}
		}
	})
	ts, n := serve(t, h, nil, false)
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var slowest time.Duration
	for s := 3950; s <= 4100; s++ {
		buf := make([]byte, s)
		start := time.Now()
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatalf("chunk of %d: %v", s, err)
		}
		slowest = max(slowest, time.Since(start))
		if !bytes.Equal(buf, body(s, 2)) {
			t.Fatalf("chunk of %d: wrong bytes", s)
		}
		got <- s
	}
	if n.full.Load() == 0 {
		t.Errorf("no held buffer was sent by the timer")
	}
	if slowest > time.Second {
		t.Errorf("slowest chunk took %v", slowest)
	}
	t.Logf("slowest chunk %v; %d buffers sent alone", slowest, n.full.Load())
	http.DefaultClient.CloseIdleConnections()
}

// TestClientGoesAway closes the client's side in the middle of a large
// response written in buffer-sized pieces: the handler's writes fail, and
// nothing is left behind.
func TestClientGoesAway(t *testing.T) {
	noLeaks(t)
	failed := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body(DefaultSize, 3)
		for {
			if _, err := w.Write(b); err != nil {
				failed <- err
				return
			}
		}
	})
	ts, _ := serve(t, h, nil, false)
	for range 5 {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		io.ReadFull(conn, make([]byte, 20000))
		conn.Close()
		select {
		case <-failed:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler's writes did not fail")
		}
	}
}

// pair returns a Conn over a loopback TCP connection and the peer's end.
func pair(t *testing.T, cfg *Config) (*Conn, *net.TCPConn, *counts) {
	t.Helper()
	l := listen(t)
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	n := new(counts)
	cc := NewConn(countConn{c.(*net.TCPConn), n}, cfg)
	cc.flushed = make(chan struct{}, 1)
	t.Cleanup(func() { cc.Close(); peer.Close() })
	return cc, peer.(*net.TCPConn), n
}

// waitFlushed waits until c holds no bytes and sends none alone: until
// the timer (or Close) has sent what a Write held, or failed to.
func waitFlushed(t testing.TB, c *Conn) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		busy := c.held != nil || c.flushing
		c.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-c.flushed:
		case <-timeout:
			t.Fatal("held bytes were never sent")
		}
	}
}

// waitFlushStart waits until held bytes are being sent alone.
func waitFlushStart(t testing.TB, c *Conn) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		started := c.flushing
		c.mu.Unlock()
		if started {
			return
		}
		select {
		case <-c.flushed:
		case <-timeout:
			t.Fatal("held bytes never began to be sent")
		}
	}
}

func TestTimerSendsHeld(t *testing.T) {
	noLeaks(t)
	c, peer, n := pair(t, nil)
	for range 20 {
		start := time.Now()
		if k, err := c.Write(body(DefaultSize, 4)); k != DefaultSize || err != nil {
			t.Fatal(k, err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(peer, make([]byte, DefaultSize)); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("held bytes arrived after %v", took)
		}
	}
	if n.full.Load() != 20 {
		t.Errorf("%d buffers sent alone, want 20", n.full.Load())
	}
}

// TestDeadlineSendsHeld: setting a write deadline sends held bytes first,
// as net/http does after every response.
func TestDeadlineSendsHeld(t *testing.T) {
	noLeaks(t)
	c, peer, n := pair(t, &Config{Delay: time.Hour})
	for i, set := range []func(time.Time) error{c.SetWriteDeadline, c.SetDeadline} {
		c.Write(body(DefaultSize, 8))
		if err := set(time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got := n.full.Load(); got != int64(i+1) {
			t.Fatalf("%d buffers sent alone, want %d", got, i+1)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(peer, make([]byte, DefaultSize)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadSendsHeld(t *testing.T) {
	noLeaks(t)
	c, peer, _ := pair(t, &Config{Delay: time.Hour})
	c.Write(body(DefaultSize, 5))
	go func() {
		io.ReadFull(peer, make([]byte, DefaultSize))
		peer.Write([]byte("ok"))
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatalf("the peer did not get the held bytes when the conn began to read: %v", err)
	}
}

func TestCloseSendsHeld(t *testing.T) {
	noLeaks(t)
	c, peer, _ := pair(t, &Config{Delay: time.Hour})
	want := append(body(100, 6), body(DefaultSize, 6)...)
	c.Write(want[:100])
	c.Write(want[100:])
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("peer read %d bytes, want %d; %v", len(got), len(want), err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseWriteSendsHeld(t *testing.T) {
	noLeaks(t)
	c, peer, _ := pair(t, &Config{Delay: time.Hour})
	want := body(DefaultSize, 7)
	c.Write(want)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(peer); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("peer read %d bytes; %v", len(got), err)
	}
}

// fill writes to c until the peer's receive and c's send buffers are
// full: until writes make no progress for 100 ms, twice in a row (the
// kernel grows loopback buffers while it is written to).
func fill(t *testing.T, c *Conn) {
	t.Helper()
	b := make([]byte, 64<<10)
	for stuck := 0; stuck < 2; {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(b)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
		if n == 0 {
			stuck++
		} else {
			stuck = 0
		}
	}
}

// TestWriteDeadline: held bytes that cannot be sent before the write
// deadline fail, and the next Write says so.
func TestWriteDeadline(t *testing.T) {
	noLeaks(t)
	c, _, _ := pair(t, nil)
	fill(t, c)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Write(make([]byte, DefaultSize)); n != DefaultSize || err != nil {
		t.Fatalf("held write: %d, %v", n, err)
	}
	waitFlushed(t, c) // the timer's send has failed at the deadline
	if n, err := c.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after held bytes timed out: %d, %v", n, err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the error is not kept: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close, the error reported already: %v", err)
	}
}

// TestCloseReportsError: an error of held bytes that no Write returned is
// returned by Close.
func TestCloseReportsError(t *testing.T) {
	noLeaks(t)
	c, _, _ := pair(t, nil)
	fill(t, c)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	c.Write(make([]byte, DefaultSize))
	waitFlushed(t, c) // the timer's send has failed at the deadline
	if err := c.Close(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
}

// TestPastDeadlineCancels: a write deadline in the past is not waited for
// by sending held bytes first.
func TestPastDeadlineCancels(t *testing.T) {
	noLeaks(t)
	c, _, _ := pair(t, &Config{Delay: time.Hour})
	fill(t, c)
	c.SetWriteDeadline(time.Time{})
	c.Write(make([]byte, DefaultSize)) // held, and the socket is full
	done := make(chan error)
	go func() { done <- c.SetWriteDeadline(time.Unix(1, 0)) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("SetWriteDeadline in the past blocked")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %v", err)
	}
}

// TestCloseDoesNotBlock: Close with held bytes and a peer that does not
// read returns at once, and the socket is closed after Linger.
func TestCloseDoesNotBlock(t *testing.T) {
	noLeaks(t)
	c, _, _ := pair(t, &Config{Linger: 200 * time.Millisecond})
	fill(t, c)
	c.SetWriteDeadline(time.Time{})
	c.Write(make([]byte, DefaultSize))
	waitFlushStart(t, c) // the timer's send is blocked now
	start := time.Now()
	c.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %v", took)
	}
	waitFlushed(t, c) // the send has failed at Linger, and closed the socket
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the socket was closed after %v", took)
	}
	tcp := c.Conn.(countConn).TCPConn
	if tcp.SetKeepAlive(true) == nil {
		t.Fatal("the socket is still open")
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("the socket was closed after %v, before Linger", took)
	}
}

// TestNoGoroutinePerConn: idle connections with held bytes sent start no
// goroutine.
func TestNoGoroutinePerConn(t *testing.T) {
	noLeaks(t)
	var conns []*Conn
	var peers []*net.TCPConn
	for range 50 {
		c, p, _ := pair(t, nil)
		conns, peers = append(conns, c), append(peers, p)
	}
	base := runtime.NumGoroutine()
	for _, c := range conns {
		c.Write(make([]byte, DefaultSize))
	}
	for _, p := range peers {
		p.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(p, make([]byte, DefaultSize)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		waitFlushed(t, c)
	}
	// The timers' goroutines end right after their sends: a goroutine's
	// end is no event to wait on, so look until they are gone.
	deadline := time.Now().Add(5 * time.Second)
	for n := runtime.NumGoroutine(); n > base+2; n = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for 50 idle connections, %d before", n, base)
		}
		runtime.Gosched()
	}
}

// TestRandomHTTP writes random responses in random pieces with random
// flushes, and compares what the client reads.
func TestRandomHTTP(t *testing.T) {
	noLeaks(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seed, _ := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, "/"), 10, 64)
		rnd := rand.New(rand.NewPCG(seed, 0))
		b := body(rnd.IntN(70000), seed)
		for len(b) > 0 {
			k := min(len(b), []int{1, 100, 2048, 4096 - rnd.IntN(200), 4096, 8192, rnd.IntN(20000)}[rnd.IntN(7)])
			w.Write(b[:k])
			b = b[k:]
			if rnd.IntN(4) == 0 {
				w.(http.Flusher).Flush()
			}
		}
	})
	ts, _ := serve(t, h, nil, false)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				seed := uint64(g*1000 + i)
				resp, err := c.Get(fmt.Sprintf("%s/%d", ts.URL, seed))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				rnd := rand.New(rand.NewPCG(seed, 0))
				if want := body(rnd.IntN(70000), seed); err != nil || !bytes.Equal(b, want) {
					t.Errorf("seed %d: %d bytes, want %d; %v", seed, len(b), len(want), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzWrites writes the sizes the input names, with pauses, and checks
// that the peer receives exactly what was written.
func FuzzWrites(f *testing.F) {
	f.Add([]byte{3, 3, 3, 0, 3, 7, 3, 3})
	f.Add([]byte{3, 8, 3, 9, 2, 3, 4, 3, 0})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		c, peer, _ := pair(t, nil)
		got := make(chan []byte)
		go func() {
			peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(peer)
			got <- b
		}()
		var sent []byte
		for i, op := range ops {
			var n int
			switch op % 12 {
			case 0:
				waitFlushed(t, c) // the timer sends
			case 1:
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				continue
			case 2:
				n = 0
			case 3, 4, 5:
				n = DefaultSize
			case 6:
				n = DefaultSize - 1
			case 7:
				n = DefaultSize + 1
			case 8:
				n = 2 * DefaultSize
			case 9:
				n = 1
			case 10:
				n = 100_000
			case 11:
				n = int(op) * 37
			}
			b := body(n, uint64(i))
			if k, err := c.Write(b); k != n || err != nil {
				t.Fatalf("Write(%d): %d, %v", n, k, err)
			}
			sent = append(sent, b...)
		}
		c.Close()
		if b := <-got; !bytes.Equal(b, sent) {
			t.Fatalf("peer got %d bytes, %d written", len(b), len(sent))
		}
	})
}
