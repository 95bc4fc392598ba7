package session

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestPinnedKey dials a host with its key pinned, and with another key
// pinned, over QUIC and over TCP.
func TestPinnedKey(t *testing.T) {
	h, key := newHost(t, nil)
	pub := key.Public().(ed25519.PublicKey)
	addr := serve(t, h, key)
	dial(t, addr, pub) // the right key

	_, other, _ := ed25519.GenerateKey(nil)
	ctx := testContext(t)
	_, err := DialQUIC(ctx, addr, other, other.Public().(ed25519.PublicKey))
	var km *KeyMismatchError
	if !errors.As(err, &km) {
		t.Fatalf("dial with a wrong pin: %v, want *KeyMismatchError", err)
	}
	t.Log(err)

	l, err := ListenTCP("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c, err := DialTCP(ctx, l.Addr().String(), other, pub)
	if err != nil {
		t.Fatalf("dial over TCP with the right pin: %v", err)
	}
	c.Close()
	_, err = DialTCP(ctx, l.Addr().String(), other, other.Public().(ed25519.PublicKey))
	if !errors.As(err, &km) {
		t.Fatalf("dial over TCP with a wrong pin: %v, want *KeyMismatchError", err)
	}
}

// TestNoSNI checks that dialing a host name sends no server name, over
// QUIC and over TCP.
func TestNoSNI(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	sni := make(chan string, 2)
	base, err := tlsConfig(key, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	base.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}
	ql, err := quic.ListenAddr("127.0.0.1:0", base, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ql.Close()
	tl, err := tls.Listen("tcp", "127.0.0.1:0", base)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		if c, err := tl.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	port := func(a net.Addr) string { _, p, _ := net.SplitHostPort(a.String()); return p }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	DialQUIC(ctx, "localhost:"+port(ql.Addr()), key, nil)
	DialTCP(ctx, "localhost:"+port(tl.Addr()), key, nil)
	for range 2 {
		select {
		case name := <-sni:
			if name != "" {
				t.Errorf("client sent SNI %q", name)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no client hello")
		}
	}
}
