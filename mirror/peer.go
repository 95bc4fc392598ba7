package mirror

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/samizdat-news/samizdat/mirror/replica"
)

// ParsePeer parses a peer's address as operators write it:
// quic://HOST:PORT or HOST:PORT for the sync protocol over QUIC,
// tcp://HOST:PORT for its TLS-on-TCP fallback, each optionally followed by
// #NODEKEY, the peer's node key in hex (64 digits), which pins it.
func ParsePeer(s string) (replica.Peer, error) {
	addr, pin, pinned := strings.Cut(s, "#")
	p := replica.Peer{Addr: addr}
	if pinned {
		k, err := hex.DecodeString(pin)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return replica.Peer{}, fmt.Errorf("mirror: peer %q: the pinned node key must be %d hex digits", s, 2*ed25519.PublicKeySize)
		}
		p.Key = k
	}
	rest := addr
	if scheme, r, ok := strings.Cut(addr, "://"); ok {
		if scheme != "quic" && scheme != "tcp" {
			return replica.Peer{}, fmt.Errorf("mirror: peer %q: want quic://HOST:PORT or tcp://HOST:PORT", s)
		}
		rest = r
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return replica.Peer{}, fmt.Errorf("mirror: peer %q: %v", s, err)
	}
	if host == "" || port == "" {
		return replica.Peer{}, fmt.Errorf("mirror: peer %q: want HOST:PORT", s)
	}
	return p, nil
}
