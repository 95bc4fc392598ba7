package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/quic-go/quic-go"
)

// ALPN is the TLS application protocol of a sync session, over QUIC and
// over TLS on TCP alike.
const ALPN = "samizdat-sync/1"

// Conn is a session with a peer: either end opens bidirectional streams and
// accepts the other's. Implementations must be safe for concurrent use.
type Conn interface {
	// OpenStream opens a new stream to the peer.
	OpenStream(ctx context.Context) (Stream, error)
	// AcceptStream waits for the peer to open a stream. It fails once the
	// session is closed.
	AcceptStream(ctx context.Context) (Stream, error)
	// PeerKey returns the peer's verified node key.
	PeerKey() ed25519.PublicKey
	// RemoteAddr returns the peer's address.
	RemoteAddr() net.Addr
	// Close ends the session and every stream in it.
	Close() error
}

// Stream is one bidirectional stream of a Conn. Read and Write may be
// called from different goroutines; each of them from one at a time.
type Stream interface {
	io.Reader
	io.Writer
	// CloseWrite ends the sending side: the peer then reads io.EOF.
	CloseWrite() error
	// CloseRead stops reading: what the peer still sends is discarded
	// (over TLS on TCP, read and thrown away within bounds, see
	// tcpStream.CloseRead).
	CloseRead()
	// Reset abandons the stream in both directions.
	Reset()
	// SetDeadline bounds reads and writes in time.
	SetDeadline(t time.Time) error
}

// Listener accepts sessions from peers. Implementations must be safe for
// concurrent use.
type Listener interface {
	// Accept waits for the next session whose handshake is complete.
	Accept(ctx context.Context) (Conn, error)
	// Addr returns the listening address.
	Addr() net.Addr
	// Close stops listening. Sessions already accepted may end with it
	// (QUIC's share the listener's socket).
	Close() error
}

// closeWith ends the session on c telling the peer code, which QUIC
// carries and TLS on TCP does not.
func closeWith(c Conn, code byte) {
	if cc, ok := c.(interface{ closeWithCode(byte) error }); ok {
		cc.closeWithCode(code)
		return
	}
	c.Close()
}

// closedLocally reports whether err says that this side closed the QUIC
// session (a stopping node, a session reclaimed or refused).
func closedLocally(err error) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && !ae.Remote
}

// remoteClose returns err, or, when err says that the peer closed the
// session with a code (QUIC) or refused new streams (a yamux go-away,
// which a node sends a session it refuses), an error wrapping a
// *RemoteError with that code.
func remoteClose(err error) error {
	var ae *quic.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.Remote && ae.ErrorCode != 0 && ae.ErrorCode <= 0xff:
		msg := ae.ErrorMessage
		if len(msg) > maxErrorText {
			msg = msg[:maxErrorText]
		}
		return decodeError(append([]byte{byte(ae.ErrorCode)}, msg...))
	case errors.Is(err, yamux.ErrRemoteGoAway):
		return &RemoteError{Code: CodeBusy, Message: CodeText(CodeBusy)}
	}
	return err
}

// KeyMismatchError reports a peer whose node key is not the pinned one.
type KeyMismatchError struct {
	Want, Got ed25519.PublicKey
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("session: peer key %x is not the pinned key %x", []byte(e.Got), []byte(e.Want))
}

// tlsConfig returns the TLS 1.3 configuration of a node with key: a
// certificate self-signed by key, a certificate required of the peer, no
// names checked, and the peer pinned to pin when pin is not nil. The
// client sends no SNI. *peer is set to the peer's key during the handshake.
func tlsConfig(key ed25519.PrivateKey, pin ed25519.PublicKey, server bool) (*tls.Config, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("session: node key is not an ed25519 private key")
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "samizdat node"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("session: making node certificate: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{ALPN},
		// Peers are identified by their key, checked below, not by a
		// certificate authority or a name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := peerKey(cs, pin)
			return err
		},
	}
	if server {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg, nil
}

// peerKey checks a handshake's peer certificate: one self-signed ed25519
// certificate, the right ALPN, and the pinned key if any.
func peerKey(cs tls.ConnectionState, pin ed25519.PublicKey) (ed25519.PublicKey, error) {
	if cs.NegotiatedProtocol != ALPN {
		return nil, fmt.Errorf("session: peer does not speak %s", ALPN)
	}
	if len(cs.PeerCertificates) != 1 {
		return nil, fmt.Errorf("session: peer sent %d certificates, want 1", len(cs.PeerCertificates))
	}
	c := cs.PeerCertificates[0]
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("session: peer certificate key is not ed25519")
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		return nil, fmt.Errorf("session: peer certificate is not self-signed by its key: %w", err)
	}
	if pin != nil && !bytes.Equal(pin, pub) {
		return nil, &KeyMismatchError{Want: pin, Got: pub}
	}
	return pub, nil
}
