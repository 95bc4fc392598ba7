package reader_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// The publisher's history, as the tests see it. Step 0 publishes "a";
// step 1 "b" and "c"; step 2 a new revision of "a" and "d", with an
// image. The honest mirror is at step 2. A reader that read before is at
// step 1.
var (
	t0  = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	t1  = t0.Add(24 * time.Hour)
	t2  = t1.Add(30 * time.Hour)
	now = t2.Add(time.Hour) // the reader's clock: step 2 is fresh, step 1 stale
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n a picture, stored as is")

func item(id, body string, images ...bundle.File) publish.Item {
	return publish.Item{
		Meta:  bundle.Metadata{ID: id, Title: "Article " + id, Language: "en"},
		Files: append([]bundle.File{{Type: "text/html", Data: []byte(body)}}, images...),
	}
}

// step is one publish: its time and items.
type step struct {
	at    time.Time
	items []publish.Item
}

var (
	step0  = step{t0, []publish.Item{item("a", "<p>First words.</p>")}}
	step1  = step{t1, []publish.Item{item("b", "<p>Bee.</p>"), item("c", "<p>Sea.</p>")}}
	step2  = step{t2, []publish.Item{item("a", `<p>Corrected words.</p><img src="photo.png">`, bundle.File{Name: "photo.png", Type: "image/png", Data: pngBytes}), item("d", "<p>Dee.</p>")}}
	fork1  = step{t1, []publish.Item{item("b", "<p>A different bee.</p>")}}
	fork2  = step{t2, []publish.Item{item("a", "<p>Forked words.</p>")}}
	honest = []step{step0, step1, step2}
)

// testPublisher is a publisher's root key, signing key and key statement.
type testPublisher struct {
	Root, Signer *keys.PrivateKey
	Statement    []byte
}

func (p *testPublisher) ID() string { return p.Root.Public().ID() }

// world is one publisher and stores of its log at several points.
type world struct {
	t   testing.TB
	pub *testPublisher
}

func newWorld(t testing.TB) *world {
	t.Helper()
	p := &testPublisher{}
	var err error
	if p.Root, err = keys.Generate(rand.Reader, "daily-news", keys.RoleRoot); err != nil {
		t.Fatal(err)
	}
	if p.Signer, err = keys.Generate(rand.Reader, "daily-news-2026", keys.RoleSigning); err != nil {
		t.Fatal(err)
	}
	s := &keys.Statement{Publisher: p.Root.Public(), Version: 1, Issued: t0.Add(-time.Hour),
		Keys: []keys.Delegation{{Key: p.Signer.Public(), NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0)}}}
	if p.Statement, err = s.Sign(p.Root); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, pub: p}
}

func (w *world) root() *keys.PublicKey { return w.pub.Root.Public() }

// store returns a store holding the given steps.
func (w *world) store(steps ...step) *store.Store {
	w.t.Helper()
	st, err := store.Open(w.t.TempDir(), &store.Options{Create: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { st.Close() })
	for _, s := range steps {
		if _, err := w.publisher(st, s.at).Publish(s.items); err != nil {
			w.t.Fatal(err)
		}
	}
	return st
}

// digest returns the digest of an article's current bundle in st.
func (w *world) digest(st *store.Store, id string) bundle.Digest {
	w.t.Helper()
	a, err := st.Article(w.pub.ID(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return a.Digest
}

// handler returns a mirror's web handler over st.
func (w *world) handler(st *store.Store) http.Handler {
	return w.webHandler(st, &web.Config{Now: func() time.Time { return now }, Refresh: -1})
}

// webHandler returns a mirror's web handler over st with cfg.
func (w *world) webHandler(st *store.Store, cfg *web.Config) *web.Handler {
	w.t.Helper()
	h, err := web.New(st, []*keys.PublicKey{w.root()}, cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// serve serves h over real HTTP on loopback and returns its URL.
func serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveH3 serves h over HTTP/3 on loopback and returns its h3:// URL and
// the certificate pool that trusts it.
func serveH3(t testing.TB, h http.Handler) (string, *x509.CertPool) {
	t.Helper()
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.StartTLS() // only for its certificate
	t.Cleanup(tlsSrv.Close)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: tlsSrv.TLS.Certificates})}
	go srv.Serve(conn)
	t.Cleanup(func() { srv.Close(); conn.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	return "h3://" + conn.LocalAddr().String(), pool
}

// Hostile mirrors: each wraps an honest handler and lies in one way.

// onBundles applies f to bundle requests and passes the rest to h.
func onBundles(h http.Handler, f func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/b/") {
			f(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// record captures what h answers to r.
func record(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r.Clone(context.Background()))
	return rec
}

// altered flips one byte in the middle of every bundle.
func altered(h http.Handler) http.Handler {
	return onBundles(h, func(w http.ResponseWriter, r *http.Request) {
		b := record(h, r).Body.Bytes()
		if len(b) > 0 {
			b[len(b)/2] ^= 0x20
		}
		w.Write(b)
	})
}

// wrongArticle answers every bundle request with another article's valid
// bundle.
func wrongArticle(h http.Handler, other bundle.Digest) http.Handler {
	return onBundles(h, func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/b/" + other.String()
		h.ServeHTTP(w, r2)
	})
}

// withholding answers 404 for every bundle.
func withholding(h http.Handler) http.Handler {
	return onBundles(h, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
}

// endless sends a bundle that never ends.
func endless(h http.Handler) http.Handler {
	return onBundles(h, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("samizdat"), 8<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
}

// dripping sends a bundle's bytes one at a time, ten a second.
func dripping(h http.Handler) http.Handler {
	return onBundles(h, func(w http.ResponseWriter, r *http.Request) {
		b := record(h, r).Body.Bytes()
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		for i := range b {
			if _, err := w.Write(b[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// lyingLeaves changes one byte of the leaves it serves (the entry
// bundles).
func lyingLeaves(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/tile/entries/") {
			h.ServeHTTP(w, r)
			return
		}
		b := record(h, r).Body.Bytes()
		if len(b) > 10 {
			b[len(b)-1] ^= 1
		}
		w.Write(b)
	})
}

// blackHoleTCP accepts connections into the kernel's backlog and never
// answers.
func blackHoleTCP(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String()
}

// blackHoleUDP swallows every datagram, so a QUIC handshake never ends.
func blackHoleUDP(t testing.TB) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return "h3://" + c.LocalAddr().String()
}

// client returns a reader for the world's publisher with test timings
// that verifies the whole log (Config.Full): what most tests check. The
// light path's tests use lightClient.
func (w *world) client(stateDir string, mirrors ...string) *reader.Client {
	w.t.Helper()
	return w.newClient(&reader.Config{Mirrors: mirrors, StateDir: stateDir, Full: true})
}

// newClient returns a reader for the world's publisher configured by cfg,
// with test timings, no discovery and the test's clock.
func (w *world) newClient(cfg *reader.Config) *reader.Client {
	w.t.Helper()
	cfg.Root = w.root()
	cfg.Stagger = 100 * time.Millisecond
	cfg.Timeout = 20 * time.Second
	cfg.HeaderTimeout = 2 * time.Second
	cfg.Now = func() time.Time { return now }
	cfg.NoDiscovery = true
	c, err := reader.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

// primed returns a state directory whose reader has seen step 1.
func (w *world) primed() string {
	w.t.Helper()
	dir := w.t.TempDir()
	url := serve(w.t, w.handler(w.store(step0, step1)))
	if _, err := w.client(dir, url).List(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	return dir
}

// honestMirror is a store at step 2 and its handler.
type honestMirror struct {
	st *store.Store
	h  http.Handler
}

func (w *world) honestMirror() *honestMirror {
	st := w.store(honest...)
	return &honestMirror{st, w.handler(st)}
}

// publisher returns a publisher into st whose clock says at.
func (w *world) publisher(st *store.Store, at time.Time) *publish.Publisher {
	w.t.Helper()
	p, err := publish.New(st, w.root(), w.pub.Statement, w.pub.Signer, &publish.Options{Now: func() time.Time { return at }})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func appendFile(t testing.TB, name string, b []byte) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func truncate(t testing.TB, name string, n int64) {
	if err := os.Truncate(name, n); err != nil {
		t.Fatal(err)
	}
}

func edit(t testing.TB, name, old, new string) {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func flip(t testing.TB, name string, at int) {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 1
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
