// Package netlimit caps a server's connections: in total, and per client
// address (an IPv4 address, an IPv6 /64, see [Key]), so that one client
// cannot take the slots that every other client needs, as a slowloris
// attack does by opening connections and sending its requests too slowly
// ever to finish them.
//
// A [Limiter] holds the counts; [Limiter.Listener] wraps a net.Listener so
// that the connections it accepts count against them until they are
// closed. Listeners of one Limiter share its caps.
//
// A connection that would pass a cap is closed as soon as it is accepted
// (with a reset, so that the server keeps no TIME_WAIT state for it), and
// Accept goes on to the next one: Accept never waits for a slot, so a
// greedy client cannot hold up other clients' connections in the
// kernel's accept queue.
//
//   - Per address: a client that has [Config.MaxConnsPerAddr] connections
//     open gets no more.
//   - In total: when [Config.MaxConns] connections are open, a new one
//     takes the slot of the connection that has been idle longest (a
//     keep-alive HTTP connection between requests, as marked with
//     [SetIdle]), which is closed; if none is idle, the new connection is
//     closed. Its client sees the connection closed without an answer and
//     can try again, or try another mirror, rather than wait in a queue.
//
// Loopback clients are exempt from the per-address cap unless
// [Config.LimitLoopback] is set: a reverse proxy in front of a server
// connects from loopback on behalf of all its clients, and limits them
// itself. They count towards the total like any other.
//
// With package coalesce, wrap the listener net.Listen returns with
// coalesce first and this package's Listener around it: coalesce needs the
// *net.TCPConn itself to send with writev, and a Conn of this package
// passes every write through to the conn it wraps.
package netlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [Config].
const (
	// DefaultMaxConns is the default cap on the connections open at once,
	// in total: room for 10,000 concurrent keep-alive readers (which the
	// mirror's load benchmark runs, BENCHMARKS.md). A net/http connection
	// holds about 20 KB when idle or slow (its goroutine's stack and its
	// buffers), so the default bounds their memory at about 330 MB; lower
	// it on a smaller machine. It is lowered to leave FDReserve of the
	// process's file descriptors free.
	DefaultMaxConns = 16384
	// DefaultMaxConnsPerAddr is the default cap on the connections one
	// client address (IPv4 address, IPv6 /64) has open at once. A browser
	// opens at most 6 HTTP/1.1 connections to a host; 256 leaves room for
	// many readers behind one address (carrier-grade NAT is common where
	// sites are blocked) while one address can hold at most 1/64 of the
	// default total.
	DefaultMaxConnsPerAddr = 256
	// FDReserve is how many of the process's file descriptors
	// (RLIMIT_NOFILE) the total cap leaves free, for the store, sync
	// connections and the connections being refused: MaxConns is lowered
	// to the limit less FDReserve (to no less than half the limit). A cap
	// the process cannot open would turn a flood into accept errors
	// (EMFILE), which stall every listener of the process.
	FDReserve = 512
)

// Config tunes a Limiter. A nil *Config, and every zero field, means the
// documented default.
type Config struct {
	// MaxConns caps the connections open at once over all the Limiter's
	// listeners. Zero means DefaultMaxConns. Either way it is lowered to
	// leave FDReserve of the process's file descriptor limit free.
	MaxConns int
	// MaxConnsPerAddr caps the connections one client address (see Key)
	// has open at once. Zero means DefaultMaxConnsPerAddr; a negative
	// value means no per-address cap.
	MaxConnsPerAddr int
	// LimitLoopback applies the per-address cap to loopback clients too.
	// False (the default) exempts them: a reverse proxy in front of the
	// server connects from loopback for all its clients. Tests set it to
	// act as many clients from 127.0.0.2, 127.0.0.3 and so on. Clients
	// without an IP address (Unix sockets) are always exempt.
	LimitLoopback bool
}

// Stats are a Limiter's counts.
type Stats struct {
	Open      int    // connections open now
	Addrs     int    // client addresses (keys) with connections open, not counting exempt ones
	Accepted  uint64 // connections admitted since the start
	PerAddr   uint64 // connections refused because their address had MaxConnsPerAddr open
	Full      uint64 // connections refused because MaxConns were open and none was idle
	Reclaimed uint64 // idle connections closed to make room for new ones
}

// Limiter holds the connection counts of one or more listeners. It is
// safe for concurrent use.
type Limiter struct {
	cfg Config

	mu     sync.Mutex
	open   int
	byKey  map[netip.Prefix]int
	idle   idleList
	counts Stats // the counters; Open and Addrs are filled in by Stats
}

// New returns a Limiter with the caps of cfg.
func New(cfg *Config) *Limiter {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if room := fdRoom(); room > 0 && c.MaxConns > room {
		c.MaxConns = room
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	return &Limiter{cfg: c, byKey: map[netip.Prefix]int{}}
}

// fdRoom returns how many connections the process's file descriptor
// limit leaves room for, or 0 if the limit is not known.
func fdRoom() int {
	n := fdLimit()
	if n <= 0 {
		return 0
	}
	return max(n-FDReserve, n/2)
}

// Config returns the caps in force, defaults filled in and MaxConns as
// lowered to the file descriptor limit.
func (l *Limiter) Config() Config { return l.cfg }

// Stats returns the Limiter's counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.counts
	s.Open, s.Addrs = l.open, len(l.byKey)
	return s
}

// Listener returns ln wrapped: its connections count against l's caps.
func (l *Limiter) Listener(ln net.Listener) *Listener {
	return &Listener{Listener: ln, lim: l}
}

// Listener is a net.Listener whose Accept returns only connections within
// its Limiter's caps, each a *Conn. It is safe for concurrent use, as the
// listener it wraps is.
type Listener struct {
	net.Listener
	lim *Limiter
}

// Accept waits for and returns the next connection within the caps.
// Connections beyond them are closed as they come, without returning.
func (ln *Listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, victim := ln.lim.admit(c)
		if victim != nil {
			victim.Close()
		}
		if lc != nil {
			return lc, nil
		}
		abort(c)
	}
}

// admit counts c in, or returns nil if it is beyond a cap. When the total
// is full, it frees the slot of the longest-idle connection, returned as
// victim for the caller to close.
func (l *Limiter) admit(c net.Conn) (lc, victim *Conn) {
	lc = &Conn{Conn: c, lim: l}
	addr, ok := AddrOf(c.RemoteAddr())
	lc.perAddr = l.cfg.MaxConnsPerAddr > 0 && ok && (l.cfg.LimitLoopback || !addr.IsLoopback())
	if lc.perAddr {
		lc.key = Key(addr)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.perAddr && l.byKey[lc.key] >= l.cfg.MaxConnsPerAddr {
		l.counts.PerAddr++
		return nil, nil
	}
	if l.open >= l.cfg.MaxConns {
		victim = l.idle.front()
		if victim == nil {
			l.counts.Full++
			return nil, nil
		}
		l.releaseLocked(victim)
		l.counts.Reclaimed++
	}
	l.open++
	if lc.perAddr {
		l.byKey[lc.key]++
	}
	l.counts.Accepted++
	return lc, victim
}

// Admit counts a connection from addr that its server does not accept as
// a net.Conn (a QUIC connection of HTTP/3) against l's caps, in total and
// per address, with the connections of l's listeners. It returns the
// function that gives the slot back, to be called when the connection
// ends (more calls do nothing), or false if the connection is beyond a
// cap and must be closed. Such a connection is never closed to make room:
// it is not marked idle. When the total is full, it takes the slot of the
// listeners' connection idle longest, which is closed.
func (l *Limiter) Admit(addr net.Addr) (release func(), ok bool) {
	lc, victim := l.admit(addrConn{addr})
	if victim != nil {
		victim.Close()
	}
	if lc == nil {
		return func() {}, false
	}
	return func() {
		l.mu.Lock()
		l.releaseLocked(lc)
		l.mu.Unlock()
	}, true
}

// addrConn is what admit needs of a connection Admit counts: its address.
type addrConn struct{ addr net.Addr }

func (c addrConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c addrConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (c addrConn) Close() error                     { return nil }
func (c addrConn) LocalAddr() net.Addr              { return nil }
func (c addrConn) RemoteAddr() net.Addr             { return c.addr }
func (c addrConn) SetDeadline(time.Time) error      { return nil }
func (c addrConn) SetReadDeadline(time.Time) error  { return nil }
func (c addrConn) SetWriteDeadline(time.Time) error { return nil }

// releaseLocked gives up c's slot, once. l.mu must be held.
func (l *Limiter) releaseLocked(c *Conn) {
	if c.released {
		return
	}
	c.released = true
	if c.idle {
		l.idle.remove(c)
	}
	l.open--
	if c.perAddr {
		if n := l.byKey[c.key] - 1; n > 0 {
			l.byKey[c.key] = n
		} else {
			delete(l.byKey, c.key)
		}
	}
}

// abort closes a refused connection with a reset (SO_LINGER 0) if it can,
// so that the server keeps no TIME_WAIT state for it.
func abort(c net.Conn) {
	for x := c; x != nil; {
		if l, ok := x.(interface{ SetLinger(int) error }); ok {
			l.SetLinger(0)
			break
		}
		u, ok := x.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		x = u.NetConn()
	}
	c.Close()
}

// Conn is a connection counted against a Limiter's caps until it is
// closed. Everything but Close passes through to the conn it wraps. Like
// any net.Conn it is safe for concurrent use.
type Conn struct {
	net.Conn
	lim     *Limiter
	key     netip.Prefix // the client's key, if perAddr
	perAddr bool         // counted against its key's cap
	closed  atomic.Bool

	// Guarded by lim.mu.
	released   bool // its slot is given up: closed, or reclaimed
	idle       bool // in lim.idle
	prev, next *Conn
}

// Close gives up the connection's slot and closes it.
func (c *Conn) Close() error {
	if !c.closed.Swap(true) {
		c.lim.mu.Lock()
		c.lim.releaseLocked(c)
		c.lim.mu.Unlock()
	}
	return c.Conn.Close()
}

// NetConn returns the conn c wraps.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SetIdle marks c idle (waiting for a next request, which it may never
// send) or busy. When the total cap is full, the connection idle longest
// is closed to make room for a new one.
func (c *Conn) SetIdle(idle bool) {
	l := c.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case c.released || idle == c.idle:
	case idle:
		l.idle.pushBack(c)
	default:
		l.idle.remove(c)
	}
}

// SetIdle marks c idle or busy (see Conn.SetIdle) if c is a *Conn or
// wraps one, as a *tls.Conn does; otherwise it does nothing. It is meant
// for net/http's ConnState hook: idle for http.StateIdle, busy for any
// other state.
func SetIdle(c net.Conn, idle bool) {
	for c != nil {
		if lc, ok := c.(*Conn); ok {
			lc.SetIdle(idle)
			return
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		c = u.NetConn()
	}
}

// ReadFrom copies r to the connection with the wrapped conn's ReadFrom if
// it has one (sendfile, splice), as net/http looks for.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite shuts down the writing side of the wrapped conn, if it can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return &net.OpError{Op: "close", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errors.ErrUnsupported}
}

// idleList is a doubly linked list of idle conns, longest idle first,
// linked through the conns themselves so that marking a conn idle
// allocates nothing.
type idleList struct{ head, tail *Conn }

func (q *idleList) front() *Conn { return q.head }

func (q *idleList) pushBack(c *Conn) {
	c.idle, c.prev, c.next = true, q.tail, nil
	if q.tail != nil {
		q.tail.next = c
	} else {
		q.head = c
	}
	q.tail = c
}

func (q *idleList) remove(c *Conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		q.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		q.tail = c.prev
	}
	c.idle, c.prev, c.next = false, nil, nil
}
