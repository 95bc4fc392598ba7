package session

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"
)

// udpBuffer is the socket buffer size asked for, so that quic-go need not
// depend on the system's default (net.core.rmem_max); the kernel may grant
// less, which only costs throughput.
const udpBuffer = 7 << 20

// The flow control windows of a QUIC session, set so that what a peer can
// make a node buffer is bounded: a stream's data waits in quic-go's
// buffers until the node reads it, within the stream's window, and all of
// a session's within the connection's. A request stream is read only up to
// its frame's limit, so its window stays at the initial size; a stream
// that carries a bundle answer is read at once, and quic-go widens its
// window up to the maximum as fast as the answer arrives.
const (
	quicStreamWindow    = 64 << 10
	quicMaxStreamWindow = 4 << 20
	quicConnWindow      = 256 << 10
	quicMaxConnWindow   = 8 << 20
	// quicHandshakeTimeout bounds a QUIC handshake.
	quicHandshakeTimeout = 5 * time.Second
	// quicHandshakeRate and quicHandshakeBurst bound the rate of the
	// handshakes one remote address (an IPv6 /64 counting as one) may
	// start (a burst fills the general pool's share of one address and
	// leaves a little room), as over TCP: a handshake beyond is refused with
	// CONNECTION_REFUSED from its first packet, before any cryptography.
	// Without it, peers redialing as fast as they were refused kept
	// quic-go's queue of completed handshakes (32) full, and a
	// publisher's push was refused with CONNECTION_REFUSED.
	quicHandshakeRate  = 4
	quicHandshakeBurst = DefaultMaxSessionsPerIP + 4
	// quicRateSweep is the number of addresses remembered past which
	// those whose bucket is full again are forgotten, at most once every
	// quarter second (a token's refill), so that a flood of new addresses
	// does not make every handshake walk the table. Past quicRateMax the
	// table is cleared: a flood of that many addresses gets no more from
	// fresh buckets than it gets from its new addresses anyway.
	quicRateSweep = 4096
	quicRateMax   = 1 << 16
)

// errHandshakeRate refuses a QUIC handshake over its address's rate.
var errHandshakeRate = errors.New("session: too many handshakes from one address")

// handshakeRate holds a token bucket of handshakes per remote address.
// It is safe for concurrent use.
type handshakeRate struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// allow takes a token of a's bucket, and reports whether there was one.
func (h *handshakeRate) allow(a net.Addr) bool {
	ip := addrKey(a)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.m[ip]
	if l == nil {
		if len(h.m) >= quicRateSweep && now.Sub(h.swept) >= time.Second/quicHandshakeRate {
			h.swept = now
			for k, v := range h.m {
				if v.TokensAt(now) >= quicHandshakeBurst {
					delete(h.m, k)
				}
			}
		}
		if len(h.m) >= quicRateMax {
			clear(h.m)
		}
		l = rate.NewLimiter(quicHandshakeRate, quicHandshakeBurst)
		h.m[ip] = l
	}
	return l.AllowN(now, 1)
}

func quicConfig() *quic.Config {
	return &quic.Config{
		MaxIdleTimeout:                 30 * time.Second,
		KeepAlivePeriod:                10 * time.Second,
		HandshakeIdleTimeout:           quicHandshakeTimeout,
		MaxIncomingStreams:             maxStreams,
		MaxIncomingUniStreams:          -1, // the protocol uses none
		InitialStreamReceiveWindow:     quicStreamWindow,
		MaxStreamReceiveWindow:         quicMaxStreamWindow,
		InitialConnectionReceiveWindow: quicConnWindow,
		MaxConnectionReceiveWindow:     quicMaxConnWindow,
	}
}

func listenUDPOn(ip net.IP) (*net.UDPConn, error) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	_ = uc.SetReadBuffer(udpBuffer) // best effort, see udpBuffer
	_ = uc.SetWriteBuffer(udpBuffer)
	return uc, nil
}

func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	uc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	_ = uc.SetReadBuffer(udpBuffer) // best effort, see udpBuffer
	_ = uc.SetWriteBuffer(udpBuffer)
	return uc, nil
}

// resetKey derives the listener's QUIC stateless reset key from the node
// key, so that it survives a restart: a node started again on its address
// answers packets of its old sessions with a stateless reset, and peers
// end those sessions and dial again at once, instead of waiting out the
// idle timeout because the old process's close was lost. (quic-go resets
// only packets over 42 bytes: a keep-alive PING alone is not answered.)
func resetKey(key ed25519.PrivateKey) *quic.StatelessResetKey {
	k := quic.StatelessResetKey(sha256.Sum256(append([]byte("samizdat quic stateless reset key\x00"), key.Seed()...)))
	return &k
}

// QUICListener accepts sync sessions over QUIC. It is safe for concurrent
// use.
type QUICListener struct {
	tr *quic.Transport
	ln *quic.Listener
}

// ListenQUIC listens for sync sessions on the UDP address addr with the
// node key key. Peers are not pinned: any node may connect.
func ListenQUIC(addr string, key ed25519.PrivateKey) (*QUICListener, error) {
	tc, err := tlsConfig(key, nil, true)
	if err != nil {
		return nil, err
	}
	uc, err := listenUDP(addr)
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: uc, StatelessResetKey: resetKey(key)}
	cfg, base := quicConfig(), quicConfig()
	hs := &handshakeRate{m: map[string]*rate.Limiter{}}
	cfg.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		if !hs.allow(info.RemoteAddr) {
			return nil, errHandshakeRate
		}
		return base, nil
	}
	ln, err := tr.Listen(tc, cfg)
	if err != nil {
		tr.Close()
		uc.Close()
		return nil, fmt.Errorf("session: %w", err)
	}
	return &QUICListener{tr: tr, ln: ln}, nil
}

// Accept waits for the next session.
func (l *QUICListener) Accept(ctx context.Context) (Conn, error) {
	c, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: accepting: %w", err)
	}
	return newQUICConn(c, nil)
}

// Addr returns the UDP address listened on.
func (l *QUICListener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening and closes the socket, which ends the sessions
// accepted on it too; Serve closes its listener after its sessions.
func (l *QUICListener) Close() error {
	err := l.ln.Close()
	l.tr.Close()
	l.tr.Conn.Close()
	return err
}

// Dialer opens sync sessions. The zero Dialer is the one DialQUIC and
// DialTCP use; it is safe for concurrent use.
type Dialer struct {
	// LocalIP, if not nil, is the local address sessions are dialed
	// from; nil lets the system choose.
	LocalIP net.IP
}

// DialQUIC opens a sync session over QUIC to addr (host:port) with the
// node key key. A non-nil pin is the peer's expected node key; another key
// fails the handshake with a *KeyMismatchError. No SNI is sent.
func DialQUIC(ctx context.Context, addr string, key ed25519.PrivateKey, pin ed25519.PublicKey) (Conn, error) {
	return (&Dialer{}).DialQUIC(ctx, addr, key, pin)
}

// DialQUIC is DialQUIC from d.LocalIP.
func (d *Dialer) DialQUIC(ctx context.Context, addr string, key ed25519.PrivateKey, pin ed25519.PublicKey) (Conn, error) {
	tc, err := tlsConfig(key, pin, false)
	if err != nil {
		return nil, err
	}
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	uc, err := listenUDPOn(d.LocalIP)
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: uc}
	c, err := tr.Dial(ctx, ra, tc, quicConfig())
	if err != nil {
		tr.Close()
		uc.Close()
		var km *KeyMismatchError
		if errors.As(err, &km) {
			return nil, km
		}
		// A node that refuses the session may close it before the
		// handshake is confirmed here: report its code as it would be
		// reported on the first request.
		return nil, fmt.Errorf("session: dialing %s: %w", addr, remoteClose(err))
	}
	return newQUICConn(c, tr)
}

// quicConn adapts a *quic.Conn to Conn.
type quicConn struct {
	c   *quic.Conn
	tr  *quic.Transport // owned by a dialed session, nil for an accepted one
	key ed25519.PublicKey
}

func newQUICConn(c *quic.Conn, tr *quic.Transport) (*quicConn, error) {
	key, err := peerKey(c.ConnectionState().TLS, nil)
	if err != nil {
		c.CloseWithError(1, "bad peer certificate")
		return nil, err
	}
	return &quicConn{c: c, tr: tr, key: key}, nil
}

func (q *quicConn) OpenStream(ctx context.Context) (Stream, error) {
	s, err := q.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: opening stream: %w", remoteClose(err))
	}
	return quicStream{s}, nil
}

func (q *quicConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := q.c.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: accepting stream: %w", err)
	}
	return quicStream{s}, nil
}

func (q *quicConn) PeerKey() ed25519.PublicKey { return q.key }
func (q *quicConn) RemoteAddr() net.Addr       { return q.c.RemoteAddr() }

func (q *quicConn) Close() error { return q.closeWithCode(0) }

// closeWithCode closes the session with an application error code and its
// fixed text (none for 0, a normal close).
func (q *quicConn) closeWithCode(code byte) error {
	err := q.c.CloseWithError(quic.ApplicationErrorCode(code), CodeText(code))
	if q.tr != nil {
		q.tr.Close()
		q.tr.Conn.Close()
	}
	return err
}

type quicStream struct{ s *quic.Stream }

func (s quicStream) Read(p []byte) (int, error)    { return s.s.Read(p) }
func (s quicStream) Write(p []byte) (int, error)   { return s.s.Write(p) }
func (s quicStream) CloseWrite() error             { return s.s.Close() }
func (s quicStream) SetDeadline(t time.Time) error { return s.s.SetDeadline(t) }
func (s quicStream) CloseRead()                    { s.s.CancelRead(0) }
func (s quicStream) Reset() {
	s.s.CancelRead(0)
	s.s.CancelWrite(0)
}
