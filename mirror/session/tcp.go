package session

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/time/rate"
)

// Limits of a TCPListener's handshakes and of yamux sessions.
const (
	// maxHandshakes bounds the TLS handshakes a TCPListener runs at once.
	maxHandshakes = 64
	// maxHandshakesPerIP bounds those from one remote address (an IPv6
	// /64 counting as one): a further connection from it is closed at
	// once, so that idle handshakes from one address cannot hold up
	// others'.
	maxHandshakesPerIP = 4
	// tcpHandshakeTimeout bounds one TLS handshake.
	tcpHandshakeTimeout = 5 * time.Second
	// tcpConnsPerIP bounds the connections from one remote address, in
	// handshake or established: a session over TCP costs the node what
	// yamux buffers of it before a bad frame ends it, up to
	// (tcpStreams+tcpBacklog) windows of 256 KiB (twice that allocated,
	// as yamux's buffers grow), all at once when the peer sends on every
	// stream together.
	tcpConnsPerIP = 4
	// tcpHandshakeRate and tcpHandshakeBurst bound the rate of the
	// handshakes one remote address may start: a new session costs the
	// node the handshake and what yamux buffers of it before it is
	// judged (up to tcpStreams+tcpBacklog windows), so a peer that
	// opens sessions only to have them closed must not do so at will.
	tcpHandshakeRate  = 4
	tcpHandshakeBurst = 8
	// tcpStreams bounds the requests of one session over TCP answered at
	// once, and tcpBacklog the streams yamux keeps waiting beyond them
	// (it resets further ones). yamux gives every stream a receive window
	// of 256 KiB that cannot be made smaller, so these bound what a peer
	// can make a node buffer in one session: (8+4) × 256 KiB = 3 MiB
	// (twice that allocated as yamux's buffers grow). An honest node asks
	// one peer for 8 bundles at once and a few other things.
	tcpStreams = 8
	tcpBacklog = 4
	// tcpStreamCloseTimeout bounds how long yamux keeps a stream this
	// node closed whose peer has not: longer than any request.
	tcpStreamCloseTimeout = 2 * time.Minute
	// tcpDrainMax and tcpDrainTime bound what CloseRead reads and throws
	// away of what a peer still sends on a stream; a peer that sends more
	// or longer breaks the protocol, and its session is closed (yamux
	// cannot reset one stream).
	tcpDrainMax  = 64 << 10
	tcpDrainTime = time.Second
)

func yamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.LogOutput = io.Discard
	c.KeepAliveInterval = 15 * time.Second
	c.StreamOpenTimeout = 30 * time.Second
	c.AcceptBacklog = tcpBacklog
	c.StreamCloseTimeout = tcpStreamCloseTimeout
	return c
}

// TCPListener accepts sync sessions over TLS on TCP, with yamux streams:
// the fallback for networks that drop UDP. It is safe for concurrent use.
type TCPListener struct {
	ln    net.Listener
	tc    *tls.Config
	conns chan Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu         sync.Mutex
	handshakes map[string]*handshakes // by remote address
}

// handshakes is what a TCPListener keeps about one remote address.
type handshakes struct {
	running int // handshakes
	conns   int // connections, in handshake or established
	rate    *rate.Limiter
}

// countedConn calls done once when it is first closed.
type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// ListenTCP listens for sync sessions on the TCP address addr with the
// node key key. Handshakes run concurrently, each bounded in time
// (5 s), at most 64 at once. One remote address (an IPv6 /64 counting as
// one) may hold 4 connections at once, in handshake or established, and
// start 4 handshakes a second (bursts of 8); a connection over these is
// closed at once.
func ListenTCP(addr string, key ed25519.PrivateKey) (*TCPListener, error) {
	tc, err := tlsConfig(key, nil, true)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	l := &TCPListener{ln: ln, tc: tc, conns: make(chan Conn), done: make(chan struct{}), handshakes: map[string]*handshakes{}}
	l.wg.Go(l.loop)
	return l, nil
}

// admit counts a handshake from nc's address, or reports that its
// address has too many running or starts them too fast.
func (l *TCPListener) admit(nc net.Conn) (string, bool) {
	ip := addrKey(nc.RemoteAddr())
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.handshakes[ip]
	if h == nil {
		l.sweep()
		h = &handshakes{rate: rate.NewLimiter(tcpHandshakeRate, tcpHandshakeBurst)}
		l.handshakes[ip] = h
	}
	if h.conns >= tcpConnsPerIP || h.running >= maxHandshakesPerIP || !h.rate.Allow() {
		return ip, false
	}
	h.running++
	h.conns++
	return ip, true
}

func (l *TCPListener) closed1(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.handshakes[ip]; h != nil {
		h.conns--
	}
}

func (l *TCPListener) done1(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.handshakes[ip]; h != nil {
		h.running--
	}
}

// sweep forgets the addresses without handshakes whose bucket is full
// again. l.mu is held.
func (l *TCPListener) sweep() {
	now := time.Now()
	for ip, h := range l.handshakes {
		if h.running <= 0 && h.conns <= 0 && h.rate.TokensAt(now) >= tcpHandshakeBurst {
			delete(l.handshakes, ip)
		}
	}
}

func (l *TCPListener) loop() {
	sem := make(chan struct{}, maxHandshakes)
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		ip, ok := l.admit(nc)
		if !ok {
			nc.Close()
			continue
		}
		nc = &countedConn{Conn: nc, done: func() { l.closed1(ip) }}
		select {
		case sem <- struct{}{}:
		case <-l.done:
			nc.Close()
			return
		}
		l.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), tcpHandshakeTimeout)
			defer cancel()
			tc := tls.Server(nc, l.tc)
			err := tc.HandshakeContext(ctx)
			<-sem
			l.done1(ip)
			if err != nil {
				nc.Close()
				return
			}
			c, err := newTCPConn(tc, true)
			if err != nil {
				return
			}
			select {
			case l.conns <- c:
			case <-l.done:
				c.Close()
			}
		})
	}
}

// Accept waits for the next session.
func (l *TCPListener) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("session: accepting: listener closed")
	case <-ctx.Done():
		return nil, fmt.Errorf("session: accepting: %w", ctx.Err())
	}
}

// Addr returns the TCP address listened on.
func (l *TCPListener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening and waits for handshakes in progress to end.
func (l *TCPListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

// DialTCP opens a sync session over TLS on TCP to addr (host:port) with the
// node key key. A non-nil pin is the peer's expected node key; another key
// fails the handshake with a *KeyMismatchError. No SNI is sent.
func DialTCP(ctx context.Context, addr string, key ed25519.PrivateKey, pin ed25519.PublicKey) (Conn, error) {
	return (&Dialer{}).DialTCP(ctx, addr, key, pin)
}

// DialTCP is DialTCP from d.LocalIP.
func (d *Dialer) DialTCP(ctx context.Context, addr string, key ed25519.PrivateKey, pin ed25519.PublicKey) (Conn, error) {
	tc, err := tlsConfig(key, pin, false)
	if err != nil {
		return nil, err
	}
	// Not tls.Dialer: it would send the host name as SNI.
	var nd net.Dialer
	if d.LocalIP != nil {
		nd.LocalAddr = &net.TCPAddr{IP: d.LocalIP}
	}
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("session: dialing %s: %w", addr, err)
	}
	tlc := tls.Client(nc, tc)
	if err := tlc.HandshakeContext(ctx); err != nil {
		nc.Close()
		var km *KeyMismatchError
		if errors.As(err, &km) {
			return nil, km
		}
		return nil, fmt.Errorf("session: dialing %s: %w", addr, err)
	}
	return newTCPConn(tlc, false)
}

// tcpConn adapts a yamux session over a TLS connection to Conn.
type tcpConn struct {
	s   *yamux.Session
	key ed25519.PublicKey
}

func newTCPConn(tc *tls.Conn, server bool) (*tcpConn, error) {
	key, err := peerKey(tc.ConnectionState(), nil)
	if err != nil {
		tc.Close()
		return nil, err
	}
	var s *yamux.Session
	if server {
		s, err = yamux.Server(tc, yamuxConfig())
	} else {
		s, err = yamux.Client(tc, yamuxConfig())
	}
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("session: %w", err)
	}
	return &tcpConn{s: s, key: key}, nil
}

// OpenStream opens a stream; yamux bounds the wait by its own timeout, not
// by ctx.
func (c *tcpConn) OpenStream(ctx context.Context) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("session: opening stream: %w", err)
	}
	s, err := c.s.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("session: opening stream: %w", remoteClose(err))
	}
	return tcpStream{s}, nil
}

func (c *tcpConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := c.s.AcceptStreamWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: accepting stream: %w", err)
	}
	return tcpStream{s}, nil
}

func (c *tcpConn) PeerKey() ed25519.PublicKey { return c.key }
func (c *tcpConn) RemoteAddr() net.Addr       { return c.s.RemoteAddr() }
func (c *tcpConn) Close() error               { return c.s.Close() }

// closeWithCode closes the session; TLS on TCP carries no code, but a
// refusal (code 6) is told with a yamux go-away first, which the peer's
// next OpenStream reports.
func (c *tcpConn) closeWithCode(code byte) error {
	if code == CodeBusy {
		c.s.GoAway()
	}
	return c.s.Close()
}

type tcpStream struct{ s *yamux.Stream }

func (s tcpStream) Read(p []byte) (int, error)    { return s.s.Read(p) }
func (s tcpStream) Write(p []byte) (int, error)   { return s.s.Write(p) }
func (s tcpStream) CloseWrite() error             { return s.s.Close() }
func (s tcpStream) SetDeadline(t time.Time) error { return s.s.SetDeadline(t) }

// CloseRead reads and throws away what the peer still sends, until it
// closes its side, within tcpDrainMax bytes and tcpDrainTime: yamux cannot
// reset one stream, and would keep what the peer sends buffered until
// tcpStreamCloseTimeout. A peer that sends more or longer breaks the
// protocol, and its session is closed.
func (s tcpStream) CloseRead() {
	s.s.SetReadDeadline(time.Now().Add(tcpDrainTime))
	n, err := io.Copy(io.Discard, io.LimitReader(s.s, tcpDrainMax+1))
	if err != nil || n > tcpDrainMax {
		s.s.Session().Close()
	}
}

// Reset abandons the stream: yamux cannot reset one stream, so it is
// closed, and a read or write blocked on it fails at once.
func (s tcpStream) Reset() {
	s.s.SetDeadline(time.Unix(1, 0))
	s.s.Close()
}
