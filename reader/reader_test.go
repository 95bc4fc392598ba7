package reader_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

var ctx = context.Background()

// checkArticle fails unless r is the honest, fresh revision 2 of "a".
func (w *world) checkArticle(t *testing.T, r *reader.Result, honestURL string) {
	t.Helper()
	if r.Mirror != honestURL {
		t.Errorf("answer from %s, want the honest mirror %s", r.Mirror, honestURL)
	}
	if r.Stale {
		t.Errorf("fresh checkpoint reported stale (age %v)", r.Age)
	}
	if r.Bundle == nil || r.Article == nil {
		t.Fatalf("no bundle: %+v", r)
	}
	if m := r.Bundle.Manifest; m.ID != "a" || m.Revision != 2 {
		t.Errorf("got %q revision %d, want \"a\" revision 2", m.ID, m.Revision)
	}
	body, err := r.Bundle.Body()
	if err != nil || !bytes.Contains(body, []byte("Corrected words.")) {
		t.Errorf("body %q, %v", body, err)
	}
	img, err := r.Bundle.Entry(r.Bundle.Lookup("photo.png"))
	if err != nil || !bytes.Equal(img, pngBytes) {
		t.Errorf("image %q, %v", img, err)
	}
}

func TestFetchHonest(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	url := serve(t, w.handler(st))
	dir := t.TempDir()
	r, err := w.client(dir, url).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, url)
	if r.Bundle.Digest != w.digest(st, "a") {
		t.Error("not the store's bundle")
	}
	if got := len(r.Articles()); got != 4 {
		t.Errorf("%d articles listed, want 4", got)
	}
	if r.Articles()[0].ID != "d" {
		t.Errorf("most recent article %q, want d", r.Articles()[0].ID)
	}
	// The state now holds the article: it is shown offline, and a new
	// client with the same state refuses an older checkpoint.
	cached, err := w.client(dir).Cached("a")
	if err != nil || cached == nil || cached.Bundle == nil || cached.Bundle.Digest != r.Bundle.Digest {
		t.Fatalf("cached: %+v, %v", cached, err)
	}
	for _, name := range []string{"head", "leaves", "mirrors", "bundles/" + r.Bundle.Digest.String()} {
		fi, err := os.Stat(filepath.Join(dir, w.pub.ID(), name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", name, fi.Mode())
		}
	}
	old := serve(t, w.handler(w.store(step0)))
	_, err = w.client(dir, old).Fetch(ctx, "a")
	if !errors.Is(err, reader.ErrRollback) {
		t.Errorf("older mirror after reading a newer one: %v, want rollback", err)
	}
}

func TestFetchOverHTTPSAndHTTP3(t *testing.T) {
	w := newWorld(t)
	var protos sync.Map // protocols the mirror was asked in
	mirror := w.handler(w.store(honest...))
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		mirror.ServeHTTP(rw, r)
	})
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	h2pool := x509.NewCertPool()
	h2pool.AddCert(tlsSrv.Certificate())
	h3url, h3pool := serveH3(t, h)
	for _, tc := range []struct {
		name, url string
		pool      *x509.CertPool
	}{
		{"HTTPS, HTTP/2", tlsSrv.URL, h2pool},
		{"HTTP/3", h3url, h3pool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := reader.Config{Root: w.root(), Mirrors: []string{tc.url}, Now: func() time.Time { return now }, NoDiscovery: true, HeaderTimeout: 2 * time.Second}
			// A certificate the reader does not trust is refused...
			c, err := reader.New(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Fetch(ctx, "a"); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusted certificate: %v", err)
			}
			// ...unless it is, or checking is turned off.
			for _, tweak := range []func(*reader.Config){
				func(c *reader.Config) { c.TLSConfig = &tls.Config{RootCAs: tc.pool} },
				func(c *reader.Config) { c.InsecureTLS = true },
			} {
				cfg2 := cfg
				tweak(&cfg2)
				c, err := reader.New(&cfg2)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r, err := c.Fetch(ctx, "a")
				if err != nil {
					t.Fatal(err)
				}
				w.checkArticle(t, r, tc.url)
			}
		})
	}
	for _, p := range []string{"HTTP/2.0", "HTTP/3.0"} {
		if _, ok := protos.Load(p); !ok {
			t.Errorf("no request in %s", p)
		}
	}
}

func TestWithdrawnAndMissing(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	p := w.publisher(st, t2.Add(time.Minute))
	if err := p.Retract("c"); err != nil {
		t.Fatal(err)
	}
	url := serve(t, w.handler(st))
	r, err := w.client("", url).Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Article.Retracted || r.Bundle != nil {
		t.Errorf("withdrawn article: %+v", r.Article)
	}
	_, err = w.client("", url).Fetch(ctx, "zzz")
	if !errors.Is(err, reader.ErrNotFound) {
		t.Errorf("unknown article: %v", err)
	}
	if _, err := w.client("", url).Fetch(ctx, "../etc"); err == nil {
		t.Error("bad id accepted")
	}
}

// hostile is one lying mirror: how to make it, whether the reader must
// have read step 1 before, and what the refusal says.
type hostile struct {
	name   string
	primed bool
	make   func(w *world, t testing.TB) string
	want   error  // errors.Is, or
	text   string // in the error
}

func hostiles() []hostile {
	honestH := func(w *world) *honestMirror { return w.honestMirror() }
	return []hostile{
		{name: "altered bytes", make: func(w *world, t testing.TB) string { return serve(t, altered(honestH(w).h)) }, text: "do not hash to"},
		{name: "another article", make: func(w *world, t testing.TB) string {
			m := honestH(w)
			return serve(t, wrongArticle(m.h, w.digest(m.st, "d")))
		}, text: "do not hash to"},
		{name: "withholding", make: func(w *world, t testing.TB) string { return serve(t, withholding(honestH(w).h)) }, want: reader.ErrWithheld},
		{name: "endless body", make: func(w *world, t testing.TB) string { return serve(t, endless(honestH(w).h)) }, text: "exceeds the limit"},
		{name: "slow drip", make: func(w *world, t testing.TB) string { return serve(t, dripping(honestH(w).h)) }, text: "too slow"},
		{name: "lying leaves", make: func(w *world, t testing.TB) string { return serve(t, lyingLeaves(honestH(w).h)) }, text: "do not hash to"},
		{name: "rollback", primed: true, make: func(w *world, t testing.TB) string { return serve(t, w.handler(w.store(step0))) }, want: reader.ErrRollback},
		{name: "forked catalog", primed: true, make: func(w *world, t testing.TB) string { return serve(t, w.handler(w.store(step0, fork1, fork2))) }, want: reader.ErrFork},
		{name: "black hole TCP", make: func(w *world, t testing.TB) string { return blackHoleTCP(t) }, text: "no answer within"},
		{name: "black hole UDP", make: func(w *world, t testing.TB) string { return blackHoleUDP(t) }, text: "GET /p/"},
	}
}

func TestHostileMirrors(t *testing.T) {
	for _, hc := range hostiles() {
		t.Run(hc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			stateDir := ""
			if hc.primed {
				stateDir = w.primed()
			}
			bad := hc.make(w, t)
			// Alone, the hostile mirror gives nothing.
			r, err := w.client(stateDir, bad).Fetch(ctx, "a")
			if err == nil {
				t.Fatalf("accepted %+v", r)
			}
			var re *reader.Error
			if !errors.As(err, &re) || len(re.Failures) != 1 {
				t.Fatalf("error %v, want one failure", err)
			}
			fe := re.Failures[0].Err
			if hc.want != nil && !errors.Is(fe, hc.want) || hc.text != "" && !strings.Contains(fe.Error(), hc.text) {
				t.Errorf("refused with %q, want %v %q", fe, hc.want, hc.text)
			}
			if strings.Contains(fe.Error(), "\n") {
				t.Errorf("reason is not one line: %q", fe)
			}
			if hc.primed {
				// Nothing of it was kept: the state still says step 1.
				c, err := w.client(stateDir).Cached("")
				if err != nil || c.Checkpoint.Time != t1 {
					t.Errorf("state after refusal: %+v, %v", c, err)
				}
			}
			// With an honest mirror after it, the honest answer wins.
			m := w.honestMirror()
			good := serve(t, m.h)
			r, err = w.client(stateDir, bad, good).Fetch(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			w.checkArticle(t, r, good)
		})
	}
}

func TestStaleMirror(t *testing.T) {
	w := newWorld(t)
	frozen := serve(t, w.handler(w.store(step0, step1)))
	r, err := w.client("", frozen).Fetch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stale || r.Age != now.Sub(t1) {
		t.Errorf("frozen mirror: stale %v, age %v; want stale, %v", r.Stale, r.Age, now.Sub(t1))
	}
	// A fresher mirror is preferred even when the frozen one answers first.
	good := serve(t, w.honestMirror().h)
	r, err = w.client("", frozen, good).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, good)
}

// TestTenMirrors is the integration test: nine hostile mirrors and
// black holes and one honest mirror, in random order.
func TestTenMirrors(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run("", func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 0))
			w := newWorld(t)
			stateDir := w.primed()
			all := hostiles()
			rnd.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			var urls []string
			for _, hc := range all[:9] {
				urls = append(urls, hc.make(w, t))
			}
			good := serve(t, w.honestMirror().h)
			urls = append(urls, good)
			rnd.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
			t.Logf("seed %d: order %v, honest %s", seed, urls, good)
			start := time.Now()
			r, err := w.client(stateDir, urls...).Fetch(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("verified article after %v; %d mirrors failed first", time.Since(start), len(r.Failures))
			w.checkArticle(t, r, good)
			for _, f := range r.Failures {
				if f.Mirror == good {
					t.Errorf("honest mirror failed: %v", f.Err)
				}
			}
			c, err := w.client(stateDir).Cached("a")
			if err != nil || c.Checkpoint.Time != t2 || c.Bundle == nil || c.Bundle.Digest != r.Bundle.Digest {
				t.Errorf("state after the fetch: %+v, %v", c, err)
			}
		})
	}
}

func TestDamagedState(t *testing.T) {
	w := newWorld(t)
	url := serve(t, w.handler(w.store(honest...)))
	cases := []struct {
		name string
		edit func(dir string)
		ok   bool
	}{
		{"leftover leaves after a crash", func(dir string) { appendFile(t, filepath.Join(dir, "leaves"), []byte{0, 3, 1, 2, 3}) }, true},
		{"leaves cut short", func(dir string) { truncate(t, filepath.Join(dir, "leaves"), 10) }, false},
		{"checkpoint edited", func(dir string) { edit(t, filepath.Join(dir, "head"), "\ntime ", "\ntime 1") }, false},
		{"checkpoint signature flipped", func(dir string) { flip(t, filepath.Join(dir, "head"), -5) }, false},
		{"statement edited", func(dir string) { edit(t, filepath.Join(dir, "head"), "daily-news", "daily-newz") }, false},
		{"head cut short", func(dir string) { truncate(t, filepath.Join(dir, "head"), 100) }, false},
		{"head replaced", func(dir string) { os.WriteFile(filepath.Join(dir, "head"), []byte("junk"), 0o600) }, false},
		// A returning reader does not read its leaves again: it checks its
		// index's right edge against the head's checkpoint. The leaves are
		// read, and a changed one refused, when the index must be rebuilt.
		{"a leaf changed, index rebuilt", func(dir string) {
			flip(t, filepath.Join(dir, "leaves"), 5)
			os.Remove(filepath.Join(dir, "index.db"))
		}, false},
		{"index removed", func(dir string) { os.Remove(filepath.Join(dir, "index.db")) }, true},
		{"index replaced", func(dir string) { os.WriteFile(filepath.Join(dir, "index.db"), []byte("junk"), 0o600) }, true},
		{"index of another checkpoint", func(dir string) { reader.ReplaceIndexCheckpoint(t, filepath.Join(dir, "index.db")) }, true},
		{"index edge altered", func(dir string) { reader.AlterIndexEdge(t, filepath.Join(dir, "index.db")) }, true},
		{"mirrors garbled", func(dir string) { os.WriteFile(filepath.Join(dir, "mirrors"), []byte("{"), 0o600) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if _, err := w.client(state, url).List(ctx); err != nil {
				t.Fatal(err)
			}
			tc.edit(filepath.Join(state, w.pub.ID()))
			_, err := w.client(state, url).List(ctx)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "is damaged")) {
				t.Errorf("damaged state: %v", err)
			}
			if tc.ok {
				// And the next commit cuts the leftover off.
				st2 := w.store(honest...)
				p := w.publisher(st2, t2.Add(time.Minute))
				if _, err := p.Publish([]publish.Item{item("e", "<p>E.</p>")}); err != nil {
					t.Fatal(err)
				}
				if _, err := w.client(state, serve(t, w.handler(st2))).Fetch(ctx, "e"); err != nil {
					t.Fatal(err)
				}
				// url is behind the state now.
				if _, err := w.client(state, url).List(ctx); !errors.Is(err, reader.ErrRollback) {
					t.Errorf("after the commit: %v", err)
				}
			}
		})
	}
}

// TestFetchGivesUp: when the fetch's own time runs out, every mirror still
// silent is named, and the fetch ends on time.
func TestFetchGivesUp(t *testing.T) {
	w := newWorld(t)
	holes := []string{blackHoleTCP(t), blackHoleUDP(t)}
	c, err := reader.New(&reader.Config{Root: w.root(), Mirrors: holes, Timeout: 500 * time.Millisecond, HeaderTimeout: 5 * time.Second, NoDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.List(ctx)
	var re *reader.Error
	if !errors.As(err, &re) || !slices.Equal(re.Untried, holes) || len(re.Failures) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("gave up after %v, want about 500ms", el)
	}
	if !strings.Contains(err.Error(), holes[1]+": no answer before the fetch gave up") {
		t.Errorf("message %q", err)
	}
}

// TestFutureCheckpoint: a checkpoint dated beyond the reader's clock (a
// wrong clock, or a stolen key dating ahead to lock readers out) is
// refused.
func TestFutureCheckpoint(t *testing.T) {
	w := newWorld(t)
	ahead := step{now.Add(time.Hour), []publish.Item{item("e", "<p>From the future.</p>")}}
	url := serve(t, w.handler(w.store(step0, step1, step2, ahead)))
	_, err := w.client("", url).List(ctx)
	if err == nil || !strings.Contains(err.Error(), "in the future") {
		t.Fatalf("future checkpoint: %v", err)
	}
}

// TestRevokedKey: after the publisher revokes the key that signed what a
// reader saved, the saved bundle is no longer shown as verified, and the
// log is checked afresh under the new statement.
func TestRevokedKey(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	url := serve(t, w.handler(st))
	state := t.TempDir()
	if _, err := w.client(state, url).Fetch(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// The publisher revokes its signing key and signs with a new one;
	// publishing signs again what the old key signed.
	k2, err := keys.Generate(crand.Reader, "daily-news-2027", keys.RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	v2 := &keys.Statement{Publisher: w.pub.Root.Public(), Version: 2, Issued: t2.Add(time.Minute),
		Keys:    []keys.Delegation{{Key: k2.Public(), NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0)}},
		Revoked: []*keys.PublicKey{w.pub.Signer.Public()}}
	signed, err := v2.Sign(w.pub.Root)
	if err != nil {
		t.Fatal(err)
	}
	p, err := publish.New(st, w.root(), signed, k2, &publish.Options{Now: func() time.Time { return t2.Add(2 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish([]publish.Item{item("e", "<p>Signed with the new key.</p>")}); err != nil {
		t.Fatal(err)
	}
	r, err := w.client(state, url).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Bundle.Signer.Equal(k2.Public()) {
		t.Errorf("article signed by %s, want the new key %s", r.Bundle.Signer.Name(), k2.Name())
	}
	if _, err := r.Trust.SigningKey(r.Bundle.Signer.Ed25519()); err != nil {
		t.Errorf("shown as verified under a key the statement does not trust: %v", err)
	}
	// The state loads, under the new statement.
	c, err := w.client(state).Cached("a")
	if err != nil || c.Trust.Statement().Version != 2 || c.Bundle == nil || !c.Bundle.Signer.Equal(k2.Public()) {
		t.Fatalf("state after the revocation: %+v, %v", c, err)
	}
}

// TestLyingLeavesAreNoFork: a mirror that alters a leaf is refused, but
// its lie does not pass for a fork of the publisher's log.
func TestLyingLeavesAreNoFork(t *testing.T) {
	w := newWorld(t)
	state := w.primed()
	bad := serve(t, lyingLeaves(w.honestMirror().h))
	_, err := w.client(state, bad).Fetch(ctx, "a")
	if err == nil || errors.Is(err, reader.ErrFork) || !strings.Contains(err.Error(), "do not hash to its checkpoint") {
		t.Fatalf("lying leaves: %v", err)
	}
}

// TestProxyNotBypassed: with a proxy set in the environment, mirrors it
// would not carry (HTTP/3, a scheme without a proxy) are skipped rather
// than dialed directly; loopback mirrors are not on the network.
func TestProxyNotBypassed(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9") // nothing listens there
	t.Setenv("HTTP_PROXY", "")
	w := newWorld(t)
	good := serve(t, w.honestMirror().h)
	_, err := w.client("", "h3://192.0.2.1:443", "http://192.0.2.1").Fetch(ctx, "a")
	var re *reader.Error
	if !errors.As(err, &re) || len(re.Failures) != 2 {
		t.Fatalf("got %v", err)
	}
	for _, f := range re.Failures {
		if !strings.Contains(f.Err.Error(), "skipped:") {
			t.Errorf("%s: %v, want skipped", f.Mirror, f.Err)
		}
	}
	r, err := w.client("", good).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, good)
}
