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
)

// maxHandshakes bounds the TLS handshakes a TCPListener runs at once.
const maxHandshakes = 64

func yamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.LogOutput = io.Discard
	c.KeepAliveInterval = 15 * time.Second
	c.StreamOpenTimeout = 30 * time.Second
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
}

// ListenTCP listens for sync sessions on the TCP address addr with the
// node key key. Handshakes run concurrently, each bounded in time.
func ListenTCP(addr string, key ed25519.PrivateKey) (*TCPListener, error) {
	tc, err := tlsConfig(key, nil, true)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	l := &TCPListener{ln: ln, tc: tc, conns: make(chan Conn), done: make(chan struct{})}
	l.wg.Go(l.loop)
	return l, nil
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
		select {
		case sem <- struct{}{}:
		case <-l.done:
			nc.Close()
			return
		}
		l.wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tc := tls.Server(nc, l.tc)
			if err := tc.HandshakeContext(ctx); err != nil {
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
	tc, err := tlsConfig(key, pin, false)
	if err != nil {
		return nil, err
	}
	// Not tls.Dialer: it would send the host name as SNI.
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
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
		return nil, fmt.Errorf("session: opening stream: %w", err)
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

type tcpStream struct{ s *yamux.Stream }

func (s tcpStream) Read(p []byte) (int, error)    { return s.s.Read(p) }
func (s tcpStream) Write(p []byte) (int, error)   { return s.s.Write(p) }
func (s tcpStream) CloseWrite() error             { return s.s.Close() }
func (s tcpStream) SetDeadline(t time.Time) error { return s.s.SetDeadline(t) }

// CloseRead is a no-op: yamux bounds what the peer may still send by the
// stream's window, and drops it once both sides have closed.
func (s tcpStream) CloseRead() {}

func (s tcpStream) Reset() {
	s.s.SetDeadline(time.Unix(1, 0))
	s.s.Close()
}
