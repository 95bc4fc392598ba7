package mirror

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// testPublisher writes a publisher.pub for a test publisher in dir and
// returns its path and the publisher.
func testPublisher(t *testing.T, dir string) (string, *testkeys.Publisher) {
	t.Helper()
	p := testkeys.New(t, "mirror-test-news")
	path := filepath.Join(dir, "publisher.pub")
	if err := os.WriteFile(path, []byte(p.Root.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, p
}

// shutdown stops m within 10 s, failing the test on error.
func shutdown(t *testing.T, m *Mirror) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestStart starts a mirror with every listener on loopback, and checks
// each serves what it should, that the node key persists across a
// restart on the same store, and that Shutdown closes everything.
func TestStart(t *testing.T) {
	dir := t.TempDir()
	pub, _ := testPublisher(t, dir)
	cfg := &Config{Store: filepath.Join(dir, "store"), Trust: []string{pub},
		HTTP: "127.0.0.1:0", QUIC: "127.0.0.1:0", TCP: "127.0.0.1:0", Metrics: "127.0.0.1:0"}
	m, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]string{"http": m.HTTPAddr(), "quic": m.QUICAddr(), "tcp": m.TCPAddr(), "metrics": m.MetricsAddr()} {
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
			t.Errorf("%s address %q, want a bound loopback port", name, a)
		}
	}
	if m.HTTPSAddr() != "" {
		t.Errorf("HTTPSAddr = %q without https", m.HTTPSAddr())
	}
	if code, body := get(t, "http://"+m.HTTPAddr()+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d %s", code, body)
	}
	code, body := get(t, "http://"+m.MetricsAddr()+"/metrics")
	for _, want := range []string{"\nsamizdat_sync_sessions 0\n", "\nsamizdat_sync_sessions_probation 0\n", "\nsamizdat_sync_busy_total 0\n", "samizdat_publishers ", "samizdat_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics listener: no %q", strings.TrimSpace(want))
		}
	}
	if code != http.StatusOK {
		t.Errorf("GET metrics listener /metrics: %d\n%.400s", code, body)
	}
	if code, _ := get(t, "http://"+m.MetricsAddr()+"/healthz"); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves /healthz: %d", code)
	}

	// A peer reaches the sync protocol over QUIC and TCP, pinning the
	// node key.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, peerKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dial := range []struct {
		name string
		f    func(context.Context, string, ed25519.PrivateKey, ed25519.PublicKey) (session.Conn, error)
		addr string
	}{
		{"quic", func(ctx context.Context, a string, k ed25519.PrivateKey, pin ed25519.PublicKey) (session.Conn, error) {
			return session.DialQUIC(ctx, a, k, pin)
		}, m.QUICAddr()},
		{"tcp", func(ctx context.Context, a string, k ed25519.PrivateKey, pin ed25519.PublicKey) (session.Conn, error) {
			return session.DialTCP(ctx, a, k, pin)
		}, m.TCPAddr()},
	} {
		c, err := dial.f(ctx, dial.addr, peerKey, m.NodeKey())
		if err != nil {
			t.Errorf("dial %s, pinned: %v", dial.name, err)
			continue
		}
		c.Close()
	}

	key := m.NodeKey()
	shutdown(t, m)
	if _, err := m.Store().Publishers(); err == nil {
		t.Errorf("the store is still open after Shutdown")
	}
	if _, err := http.Get("http://" + m.HTTPAddr() + "/healthz"); err == nil {
		t.Errorf("HTTP still answers after Shutdown")
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}

	m, err = Start(context.Background(), &Config{Store: cfg.Store, Trust: cfg.Trust, QUIC: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(m.NodeKey()) {
		t.Errorf("the node key changed across a restart")
	}
	shutdown(t, m)
}

// TestStartRefusesBeforeOpening: a mistake in the config, a damaged
// trust file, a missing TLS file or a taken address stops Start, and the
// first three before the store exists.
func TestStartRefusesBeforeOpening(t *testing.T) {
	dir := t.TempDir()
	pub, _ := testPublisher(t, dir)
	bad := filepath.Join(dir, "bad.pub")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name   string
		cfg    Config
		err    string
		opened bool
	}{
		{"no trust", Config{QUIC: "127.0.0.1:0"}, "trust: at least one", false},
		{"bad quota", Config{Trust: []string{pub}, QUIC: "127.0.0.1:0", QuotaMB: -1}, "quota_mb", false},
		{"bad trust file", Config{Trust: []string{bad}, QUIC: "127.0.0.1:0"}, "bad.pub: keys: invalid public key", false},
		{"missing trust file", Config{Trust: []string{filepath.Join(dir, "none.pub")}, QUIC: "127.0.0.1:0"}, "no such file", false},
		{"missing certificate", Config{Trust: []string{pub}, HTTPS: "127.0.0.1:0", TLSCert: filepath.Join(dir, "c.pem"), TLSKey: filepath.Join(dir, "k.pem")}, "https: open", false},
		{"address taken", Config{Trust: []string{pub}, QUIC: "127.0.0.1:0", HTTP: taken.Addr().String()}, "address already in use", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Store = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			m, err := Start(context.Background(), &c)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Start = %v, want an error saying %q", err, tc.err)
			}
			if m != nil {
				t.Errorf("Start returned a Mirror with its error")
			}
			if _, serr := os.Stat(c.Store); (serr == nil) != tc.opened {
				t.Errorf("store made: %v, want %v", serr == nil, tc.opened)
			}
			if tc.opened {
				// Stopped again: the store opens at once.
				st, err := store.Open(c.Store, nil)
				if err != nil {
					t.Fatalf("the store after a failed start: %v", err)
				}
				st.Close()
			}
		})
	}
	var ce *ConfigError
	if _, err := Start(context.Background(), nil); !errors.As(err, &ce) || ce.Key != "store" {
		t.Errorf("Start(nil) = %v, want a *ConfigError for store", err)
	}
}

// TestShutdownTimeoutClosesBusyConnections: a reader that stops reading
// in the middle of a large bundle keeps its request active; Shutdown
// waits for it only until its context ends, then closes the connection,
// so that the handler's goroutine ends and nothing waits for the
// 2-minute write timeout.
func TestShutdownTimeoutClosesBusyConnections(t *testing.T) {
	dir := t.TempDir()
	pubFile, p := testPublisher(t, dir)
	storeDir := filepath.Join(dir, "store")
	digest := publishLarge(t, storeDir, p, 12<<20)

	m, err := Start(context.Background(), &Config{Store: storeDir, Trust: []string{pubFile}, HTTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	// A small receive window, set before connecting, so the bundle cannot
	// fit in the sockets' buffers.
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", m.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /b/%s HTTP/1.1\r\nHost: mirror\r\n\r\n", digest)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("GET bundle: %q %v", status, err)
	}
	// The reader now stops reading: the handler blocks in Write.

	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err = m.Shutdown(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a busy connection = %v, want it to report the deadline", err)
	}
	if took > timeout+5*time.Second {
		t.Errorf("Shutdown took %v with a %v timeout", took, timeout)
	}
	// The connection was closed: the reader gets what was buffered, then
	// the end, well before the server's write timeout.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, br)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after Shutdown, the busy connection is still open (%d bytes read): %v", n, err)
	}
	if n >= 12<<20 {
		t.Errorf("the whole bundle (%d bytes) was sent after Shutdown returned: its connection was not closed", n)
	}
}

// publishLarge makes a store at dir holding one article of p with an
// incompressible image of size bytes, and returns its bundle's digest.
func publishLarge(t *testing.T, dir string, p *testkeys.Publisher, size int) bundle.Digest {
	t.Helper()
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pp, err := publish.New(st, p.Root.Public(), p.Statement, p.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	rand.NewChaCha8([32]byte{'b', 'i', 'g'}).Read(img)
	res, err := pp.Publish([]publish.Item{{
		Meta: bundle.Metadata{ID: "big", Title: "Big", Language: "en"},
		Files: []bundle.File{{Type: "text/markdown", Data: []byte("# Big\n\n![photo](photo.jpg)\n")},
			{Name: "photo.jpg", Type: "image/jpeg", Data: img}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Digest
}

// TestRunStopsOnCancel: Run serves until its context ends, then returns
// nil after a clean shutdown that closes the store.
func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	pub, _ := testPublisher(t, dir)
	storeDir := filepath.Join(dir, "store")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	log := slog.New(&onMessage{msg: "mirror: started", ch: started})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Config{Store: storeDir, Trust: []string{pub}, QUIC: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, Logger: log})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Run returned before its context ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not start within 20 s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after a clean shutdown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20 s of its context ending")
	}
	st, err := store.Open(storeDir, nil)
	if err != nil {
		t.Fatalf("the store after Run: %v", err)
	}
	st.Close()
}

// onMessage is a slog.Handler that closes ch at the first record whose
// message is msg.
type onMessage struct {
	msg  string
	ch   chan struct{}
	once sync.Once
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *onMessage) WithGroup(string) slog.Handler            { return h }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

// TestRunCancelledWhileStarting: a context that ends during the start
// is a clean stop.
func TestRunCancelledWhileStarting(t *testing.T) {
	dir := t.TempDir()
	pub, _ := testPublisher(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, &Config{Store: filepath.Join(dir, "store"), Trust: []string{pub}, QUIC: "127.0.0.1:0"}); err != nil {
		t.Errorf("Run with an ended context = %v, want nil", err)
	}
	if err := Run(ctx, &Config{Trust: []string{pub}, QUIC: "127.0.0.1:0"}); err == nil {
		t.Errorf("Run with an ended context and a bad config = nil, want the config error")
	}
}

// TestNodeKeyFile: a damaged node.key is refused with advice, never
// replaced.
func TestNodeKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, NodeKeyFile)
	k, err := nodeKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node.key: %v, mode %v; want 0600", err, fi.Mode())
	}
	again, err := nodeKey(path)
	if err != nil || !k.Equal(again) {
		t.Fatalf("node.key read back: %v, equal %v", err, k.Equal(again))
	}
	for _, damaged := range []string{"", "samizdat node key v1\n", "samizdat node key v1\nAAAA\n", "other\n", strings.Repeat("x", maxNodeKeyFile+1)} {
		if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := nodeKey(path); err == nil {
			t.Errorf("node.key %q accepted", damaged)
		}
		if data, _ := os.ReadFile(path); string(data) != damaged {
			t.Errorf("a damaged node.key was replaced")
		}
	}
}

// TestStartHTTPS serves HTTPS on TCP and HTTP/3 on the same port over UDP,
// announced with Alt-Svc, also when the port is chosen by the system.
func TestStartHTTPS(t *testing.T) {
	dir := t.TempDir()
	pub, _ := testPublisher(t, dir)
	certFile, keyFile, pool := selfSigned(t, dir)
	m, err := Start(context.Background(), &Config{Store: filepath.Join(dir, "store"), Trust: []string{pub},
		HTTPS: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	_, port, _ := net.SplitHostPort(m.HTTPSAddr())
	tcfg := &tls.Config{RootCAs: pool}

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + m.HTTPSAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || !strings.Contains(resp.Header.Get("Alt-Svc"), `h3=":`+port+`"`) {
		t.Errorf("HTTPS: %s %s, Alt-Svc %q; want 200 over HTTP/2 announcing h3 on port %s", resp.Proto, resp.Status, resp.Header.Get("Alt-Svc"), port)
	}

	h3 := &http3.Transport{TLSClientConfig: tcfg}
	defer h3.Close()
	c3 := &http.Client{Transport: h3, Timeout: 10 * time.Second}
	resp, err = c3.Get("https://" + m.HTTPSAddr() + "/healthz")
	if err != nil {
		t.Fatalf("HTTP/3 on the HTTPS port: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 3 {
		t.Errorf("HTTP/3: %s %s", resp.Proto, resp.Status)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to dir, and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mirror test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
