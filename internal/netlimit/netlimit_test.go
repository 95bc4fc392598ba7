package netlimit_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

func TestKey(t *testing.T) {
	tests := []struct{ addr, key string }{
		{"203.0.113.5", "203.0.113.5/32"},
		{"::ffff:203.0.113.5", "203.0.113.5/32"},
		{"127.0.0.2", "127.0.0.2/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, tc := range tests {
		if got := netlimit.Key(netip.MustParseAddr(tc.addr)).String(); got != tc.key {
			t.Errorf("Key(%s) = %s, want %s", tc.addr, got, tc.key)
		}
	}
	if k := netlimit.Key(netip.Addr{}); k.IsValid() {
		t.Errorf("Key of the zero Addr: %v", k)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for not ok
	}{
		{"203.0.113.5:80", "203.0.113.5"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:127.0.0.1]:5000", "127.0.0.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"192.0.2.1", "192.0.2.1"},
		{"@", ""},
		{"", ""},
		{"example.org:80", ""},
		{"/run/samizdat.sock", ""},
	}
	for _, tc := range tests {
		a, ok := netlimit.ParseAddr(tc.in)
		if got := a.String(); ok != (tc.want != "") || ok && got != tc.want {
			t.Errorf("ParseAddr(%q) = %s, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, tc := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 1}, "10.0.0.1"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8::7"), Port: 1}, "2001:db8::7"},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, ""},
		{nil, ""},
	} {
		a, ok := netlimit.AddrOf(tc.a)
		if ok != (tc.want != "") || ok && a.String() != tc.want {
			t.Errorf("AddrOf(%v) = %s, %v; want %q", tc.a, a, ok, tc.want)
		}
	}
}

// server accepts connections from a Limiter's listener on 127.0.0.1 and
// greets each with "ok\n", so that a client can tell whether it was
// admitted (it reads the greeting) or refused (it reads an error).
type server struct {
	t     *testing.T
	lim   *netlimit.Limiter
	addr  string
	conns chan *netlimit.Conn // the admitted connections, in order
}

func newServer(t *testing.T, cfg *netlimit.Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, lim: netlimit.New(cfg), addr: ln.Addr().String(), conns: make(chan *netlimit.Conn, 1024)}
	l := s.lim.Listener(ln)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			s.conns <- c.(*netlimit.Conn)
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		close(s.conns)
		for c := range s.conns {
			c.Close()
		}
	})
	return s
}

// dial connects from the given source address and reports whether the
// server admitted the connection.
func (s *server) dial(from string) (net.Conn, bool) {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, false // refused before connect returned
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 3)
	_, err = io.ReadFull(c, buf)
	if isTimeout(err) {
		s.t.Fatalf("from %s: neither admitted nor refused within 5 s", from)
	}
	return c, err == nil && string(buf) == "ok\n"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// next returns the next admitted connection, on the server's side.
func (s *server) next() *netlimit.Conn {
	s.t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(5 * time.Second):
		s.t.Fatal("no connection admitted")
		return nil
	}
}

func TestPerAddressCap(t *testing.T) {
	s := newServer(t, &netlimit.Config{MaxConnsPerAddr: 3, LimitLoopback: true})
	for i := range 3 {
		if _, ok := s.dial("127.0.0.2"); !ok {
			t.Fatalf("connection %d from 127.0.0.2 refused", i+1)
		}
	}
	first := s.next()
	s.next()
	s.next()
	// Over the cap: closed at once, and Accept goes on to other clients.
	for i := range 20 {
		if _, ok := s.dial("127.0.0.2"); ok {
			t.Fatalf("connection %d over the cap admitted", i+4)
		}
	}
	if _, ok := s.dial("127.0.0.3"); !ok {
		t.Fatal("another address refused")
	}
	s.next()
	// A closed connection frees its address's slot.
	first.Close()
	first.Close() // only once
	if _, ok := s.dial("127.0.0.2"); !ok {
		t.Fatal("refused after one of its connections closed")
	}
	s.next()
	st := s.lim.Stats()
	if st.Open != 4 || st.Addrs != 2 || st.PerAddr != 20 || st.Accepted != 5 || st.Full != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLoopbackExempt(t *testing.T) {
	s := newServer(t, &netlimit.Config{MaxConnsPerAddr: 2})
	for i := range 5 {
		if _, ok := s.dial("127.0.0.2"); !ok {
			t.Fatalf("loopback connection %d refused though loopback is exempt", i+1)
		}
	}
	if st := s.lim.Stats(); st.Open != 5 || st.Addrs != 0 {
		t.Errorf("stats %+v", st)
	}
	// No per-address cap at all.
	s = newServer(t, &netlimit.Config{MaxConnsPerAddr: -1, LimitLoopback: true})
	for i := range 5 {
		if _, ok := s.dial("127.0.0.2"); !ok {
			t.Fatalf("connection %d refused without a per-address cap", i+1)
		}
	}
}

// TestTotalCap fills the total cap: a new connection takes the slot of
// the connection idle longest, or is refused if none is idle.
func TestTotalCap(t *testing.T) {
	s := newServer(t, &netlimit.Config{MaxConns: 4, LimitLoopback: true})
	var clients []net.Conn
	var conns []*netlimit.Conn
	for i := range 4 {
		c, ok := s.dial("127.0.0.2")
		if !ok {
			t.Fatalf("connection %d refused", i+1)
		}
		clients, conns = append(clients, c), append(conns, s.next())
	}
	if _, ok := s.dial("127.0.0.3"); ok {
		t.Fatal("admitted over the total cap with no connection idle")
	}
	// Idle: 2, then 1 (then 1 busy again, then idle again: now the
	// newest). The longest idle, 2, goes first.
	conns[2].SetIdle(true)
	conns[1].SetIdle(true)
	conns[1].SetIdle(false)
	conns[1].SetIdle(true)
	for _, want := range []int{2, 1} {
		if _, ok := s.dial("127.0.0.3"); !ok {
			t.Fatal("refused though a connection is idle")
		}
		s.next()
		clients[want].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := clients[want].Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("idle connection %d not closed: %v", want, err)
		}
	}
	if _, ok := s.dial("127.0.0.3"); ok {
		t.Fatal("admitted over the total cap with no connection idle")
	}
	// A reclaimed connection's own Close changes nothing.
	conns[2].Close()
	if _, ok := s.dial("127.0.0.3"); ok {
		t.Fatal("a reclaimed connection's Close freed a second slot")
	}
	st := s.lim.Stats()
	if st.Open != 4 || st.Full != 3 || st.Reclaimed != 2 {
		t.Errorf("stats %+v", st)
	}
	// Closing a connection that is marked idle takes it off the list.
	conns[0].SetIdle(true)
	conns[0].Close()
	conns[3].SetIdle(true)
	if _, ok := s.dial("127.0.0.3"); !ok {
		t.Fatal("refused after a connection closed")
	}
	s.next()
	if st := s.lim.Stats(); st.Open != 4 || st.Reclaimed != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSetIdleUnwraps(t *testing.T) {
	s := newServer(t, &netlimit.Config{MaxConns: 1, LimitLoopback: true})
	c, _ := s.dial("127.0.0.2")
	sc := s.next()
	netlimit.SetIdle(wrapped{sc}, true) // as a *tls.Conn wraps it
	netlimit.SetIdle(nil, true)
	netlimit.SetIdle(c, true) // not a *Conn: nothing
	if _, ok := s.dial("127.0.0.2"); !ok {
		t.Fatal("SetIdle did not find the *Conn inside the wrapper")
	}
}

type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// TestFDLimit: the total cap leaves FDReserve of the process's file
// descriptors free.
func TestFDLimit(t *testing.T) {
	n := netlimit.FDLimit()
	if n == 0 {
		t.Fatal("the file descriptor limit cannot be read")
	}
	for _, asked := range []int{0, 1 << 30} {
		got := netlimit.New(&netlimit.Config{MaxConns: asked}).Config().MaxConns
		if got > max(n-netlimit.FDReserve, n/2) {
			t.Errorf("MaxConns %d with a limit of %d descriptors", got, n)
		}
		if want := min(max(asked, netlimit.DefaultMaxConns), max(n-netlimit.FDReserve, n/2)); asked == 0 && got != want {
			t.Errorf("default MaxConns %d, want %d", got, want)
		}
	}
	if got := netlimit.New(&netlimit.Config{MaxConns: 10}).Config(); got.MaxConns != 10 || got.MaxConnsPerAddr != netlimit.DefaultMaxConnsPerAddr {
		t.Errorf("config %+v", got)
	}
}

// TestConcurrent opens, idles and closes connections from many
// goroutines against small caps: run with -race. The counts must come
// back to zero.
func TestConcurrent(t *testing.T) {
	s := newServer(t, &netlimit.Config{MaxConns: 8, MaxConnsPerAddr: 3, LimitLoopback: true})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the server's side: idle some, close others
		i := 0
		for {
			select {
			case c := <-s.conns:
				if i++; i%2 == 0 {
					c.SetIdle(true)
				} else {
					c.Close()
				}
			case <-done:
				return
			}
		}
	})
	var clients sync.WaitGroup
	for g := range 6 {
		clients.Go(func() {
			from := netip.AddrFrom4([4]byte{127, 0, 1, byte(g%3 + 1)}).String()
			for range 30 {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				c, err := d.Dial("tcp", s.addr)
				if errors.Is(err, syscall.ECONNRESET) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				c.Read(make([]byte, 3))
				c.Close()
			}
		})
	}
	clients.Wait()
	close(done)
	wg.Wait()
	st := s.lim.Stats()
	if st.Open > 8 || st.Accepted+st.PerAddr+st.Full != 180 {
		t.Errorf("stats %+v", st)
	}
}
