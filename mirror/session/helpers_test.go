package session

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// testModel is a model that holds a few bundles and one publisher with an
// empty log, and carries no other: enough to test what the session layer
// does with requests. Package replica tests the real model over loopback.
type testModel struct {
	bundles   map[bundle.Digest][]byte
	closed    chan Conn     // every session the host is done with
	host      *Host         // if set, an announce of testPub promotes its session
	statement error         // if set, what Statement fails with
	acting    chan struct{} // if set, an announce of testPub waits for it to close
	started   chan struct{} // if set with acting, told when such an announce starts
}

// testPub is the publisher a testModel lists.
const testPub = "0123456789abcdef0123456789abcdef"

func newTestModel(bundles ...[]byte) *testModel {
	m := &testModel{bundles: map[bundle.Digest][]byte{}, closed: make(chan Conn, 1024)}
	for _, b := range bundles {
		m.bundles[sha256.Sum256(b)] = b
	}
	return m
}

func (m *testModel) List() ([]Entry, error) { return []Entry{{Pub: testPub, Version: 1}}, nil }

func (m *testModel) Statement(pub string) ([]byte, error) {
	if m.statement != nil {
		return nil, m.statement
	}
	return nil, NotFound(fmt.Errorf("test: publisher %s not found", pub))
}

func (m *testModel) Leaves(pub string, from, to int64) ([][]byte, error) {
	return nil, NotFound(fmt.Errorf("test: publisher %s not found", pub))
}

func (m *testModel) BundleSize(d bundle.Digest) (int64, bool) {
	b, ok := m.bundles[d]
	return int64(len(b)), ok
}

func (m *testModel) Bundle(d bundle.Digest) ([]byte, error) {
	b, ok := m.bundles[d]
	if !ok {
		return nil, NotFound(fmt.Errorf("test: bundle %s not found", d))
	}
	return b, nil
}

func (m *testModel) MirrorList(pub string) ([]byte, error) {
	return nil, NotFound(fmt.Errorf("test: publisher %s not found", pub))
}

func (m *testModel) Hello(c Conn, url string) string { return "" }

// Announce takes an announce of testPub as a push of news would be taken:
// it promotes the session. It refuses other publishers.
func (m *testModel) Announce(ctx context.Context, c Conn, x *Entry) error {
	if x.Pub == testPub && m.acting != nil {
		m.started <- struct{}{}
		<-m.acting
		return nil
	}
	if x.Pub == testPub && m.host != nil {
		m.host.Promote(c)
		return nil
	}
	return Refused(fmt.Errorf("test: publisher %s is not carried here", x.Pub))
}

func (m *testModel) Connected(ctx context.Context, c Conn) { <-ctx.Done() }
func (m *testModel) Closed(c Conn) {
	select {
	case m.closed <- c:
	default:
	}
}

// newHost returns a host over a new testModel, with its own node key.
func newHost(t testing.TB, cfg *Config) (*Host, ed25519.PrivateKey) {
	h, _, key := newHostModel(t, cfg)
	return h, key
}

// newHostModel is newHost that also returns the model.
func newHostModel(t testing.TB, cfg *Config) (*Host, *testModel, ed25519.PrivateKey) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	m := newTestModel()
	return New(m, cfg), m, key
}

// serve runs h.Serve on a new loopback QUIC listener with key until the
// test ends, and returns the listener's address.
func serve(t testing.TB, h *Host, key ed25519.PrivateKey) string {
	t.Helper()
	l, err := ListenQUIC("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, h, l)
}

// serveTCP is serve over TLS on TCP.
func serveTCP(t testing.TB, h *Host, key ed25519.PrivateKey) string {
	t.Helper()
	l, err := ListenTCP("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, h, l)
}

func serveOn(t testing.TB, h *Host, l Listener) string {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Serve(ctx, l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return within 5 s of its context's end")
		}
	})
	return l.Addr().String()
}

// dial opens a session to addr with a new key; the session is closed when
// the test ends.
func dial(t testing.TB, addr string, pin ed25519.PublicKey) Conn {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialQUIC(ctx, addr, key, pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakePeer serves sessions on a loopback listener, answering each request
// with h, until the test ends. It speaks the protocol but may lie.
func fakePeer(t *testing.T, h func(c Conn, typ byte, p []byte) (byte, []byte)) string {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := ListenQUIC("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Go(func() {
						typ, p, err := readFrame(s, requestLimit)
						if err != nil {
							s.Reset()
							return
						}
						rt, rp := h(c, typ, p)
						writeFrame(s, rt, rp)
						s.CloseWrite()
					})
				}
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
