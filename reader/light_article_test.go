package reader_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// TestLightCosts: a new reader's first article costs at most 3 sequential
// round trips and 32 KiB beyond its bundle, at 1,000 and at 100,000
// articles: the statement and checkpoint, the index proof (which carries
// the article's leaf), the bundle; no entry bundle. Its list of the newest
// 50 articles reads the log's last leaves and the hash tiles that tie
// them to the checkpoint, in 2 round trips.
func TestLightCosts(t *testing.T) {
	sizes := []int{1000, 100000}
	if testing.Short() || raceDetector {
		sizes = sizes[:1]
	}
	// SAMIZDAT_LIGHT_SIZES="1000000" measures other sizes instead (a log
	// of a million leaves takes minutes to build).
	if env := os.Getenv("SAMIZDAT_LIGHT_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Fields(env) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("SAMIZDAT_LIGHT_SIZES: %q is not a size", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := newWorld(t)
			st := w.bigLog(n)
			url := serve(t, w.handler(st))
			for _, id := range []string{"late", "a"} { // the log's end, its start
				c := w.lightClient(t.TempDir(), url)
				ct := countRequests(c)
				r, err := c.Fetch(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !r.Light || r.FullSync != "" || r.Bundle == nil || r.Bundle.Manifest.ID != id {
					t.Fatalf("%s: Light %v, FullSync %q, bundle %v: want the light path", id, r.Light, r.FullSync, r.Bundle != nil)
				}
				co := ct.costs()
				t.Logf("article %q of %d: %s: %v", id, n, co, co.spans())
				if co.rounds > lightRounds || co.bytes > lightBudget {
					t.Errorf("article %q of %d cost %s: want %d round trips and %d B at most", id, n, co, lightRounds, lightBudget)
				}
				for _, p := range co.paths {
					if strings.Contains(p, "/tile/") {
						t.Errorf("article %q of %d: the reader read %s; the proof carries the leaf", id, n, p)
					}
				}
			}
			// The newest 50: the same articles, in the same order, as a
			// full sync lists.
			full, err := w.fullClient(t.TempDir(), url).List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := w.lightClient(t.TempDir(), url)
			ct := countRequests(c)
			r, err := c.Newest(ctx, 50)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Light || r.FullSync != "" {
				t.Fatalf("Light %v, FullSync %q: want the light path", r.Light, r.FullSync)
			}
			sameArticles(t, r.Articles(), full.Articles()[:50])
			co := ct.costs()
			t.Logf("newest 50 of %d: %s: %v", n, co, co.spans())
			if co.rounds > 2 || co.bytes > 2*lightBudget {
				t.Errorf("newest 50 of %d cost %s: want 2 round trips and %d B at most", n, co, 2*lightBudget)
			}
		})
	}
}

// TestLightArticle: the light path gives what a full sync gives: the
// newest revision as of the checkpoint, a withdrawn article as withdrawn
// (no bundle), an unknown one as absent.
func TestLightArticle(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	if err := w.publisher(m.st, t2).Retract("c"); err != nil {
		t.Fatal(err)
	}
	url := serve(t, m.h)
	full := w.fullClient(t.TempDir(), url)
	for _, id := range []string{"a", "b", "c", "d"} {
		want, err := full.Fetch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.lightClient(t.TempDir(), url).Fetch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Light {
			t.Fatalf("%s: not light (%s)", id, got.FullSync)
		}
		sameArticles(t, []*catalog.Article{got.Article}, []*catalog.Article{want.Article})
		if (got.Bundle == nil) != (want.Bundle == nil) || got.Bundle != nil && got.Bundle.Digest != want.Bundle.Digest {
			t.Fatalf("%s: bundle %v, want %v", id, got.Bundle, want.Bundle)
		}
	}
	_, err := w.lightClient(t.TempDir(), url).Fetch(ctx, "nope")
	if !errors.Is(err, reader.ErrNotFound) || !strings.Contains(err.Error(), "as of this checkpoint") {
		t.Fatalf("absent article: err = %v", err)
	}
}

// TestLightReturning: a reader that fetched one article by the light path
// fetches another after the log grew: the new checkpoint must extend the
// one it kept, proven from hash tiles beside the index proof, still in 3
// round trips.
func TestLightReturning(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(3000)
	url := serve(t, w.handler(st))
	dir := t.TempDir()
	if _, err := w.lightClient(dir, url).Fetch(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.publisher(st, t2).Publish([]publish.Item{item("new", "<p>New.</p>")}); err != nil {
		t.Fatal(err)
	}
	c := w.lightClient(dir, url)
	ct := countRequests(c)
	r, err := c.Fetch(ctx, "new")
	if err != nil || !r.Light {
		t.Fatalf("err %v", err)
	}
	co := ct.costs()
	t.Logf("returning: %s: %v", co, co.spans())
	if co.rounds > lightRounds {
		t.Errorf("returning reader: %s: want %d round trips at most", co, lightRounds)
	}
}

// TestLightFallback: a mirror that serves no index proofs (404) makes the
// reader verify the whole log, and say why.
func TestLightFallback(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/index/") {
			http.NotFound(rw, r)
			return
		}
		m.h.ServeHTTP(rw, r)
	})
	r, err := w.lightClient(t.TempDir(), serve(t, h)).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Light || !strings.Contains(r.FullSync, "serves no index proofs") || r.Bundle == nil {
		t.Fatalf("Light %v, FullSync %q: want a full sync, and why", r.Light, r.FullSync)
	}
}

// TestLightStatic: one article from plain files under a URL prefix, as
// a static export on any host serves them.
func TestLightStatic(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	p, err := m.st.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	d := w.digest(m.st, "a")
	url := serveStatic(t, staticTree(t, m.h, w.pub.ID(), p.Size, []string{"a", "b"}, d.String()))
	r, err := w.lightClient(t.TempDir(), url).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Light || r.Bundle == nil || r.Bundle.Digest != d {
		t.Fatalf("Light %v (%s), bundle %v", r.Light, r.FullSync, r.Bundle != nil)
	}
}

// onProofs answers index proof requests with f and the rest with h.
func onProofs(h http.Handler, f func(rw http.ResponseWriter, r *http.Request, id string)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/index/"); i >= 0 {
			f(rw, r, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
			return
		}
		h.ServeHTTP(rw, r)
	})
}

// proofFrom answers every index proof request with the proof that st's
// current index gives of id (or of the asked id when id is "").
func (w *world) proofFrom(h http.Handler, st *store.Store, id string) http.Handler {
	return onProofs(h, func(rw http.ResponseWriter, r *http.Request, asked string) {
		if id != "" {
			asked = id
		}
		_, proof, err := st.IndexProof(w.pub.ID(), asked)
		if err != nil {
			w.t.Error(err)
			http.NotFound(rw, r)
			return
		}
		rw.Write(proof)
	})
}

// alteredProofs serves, for each index proof, f of the proof's bytes
// and of the leaf it carries (nil when it carries none).
func alteredProofs(h http.Handler, f func(proof []byte, leaf *catalog.Leaf) []byte) http.Handler {
	return onProofs(h, func(rw http.ResponseWriter, r *http.Request, _ string) {
		proof := record(h, r).Body.Bytes()
		p, err := index.ParseProof(proof)
		if err != nil {
			http.NotFound(rw, r)
			return
		}
		rw.Write(f(proof, p.Leaf()))
	})
}

// withLeaf returns a presence proof with the leaf it carries (the u16
// length at byte 10 and the bytes after it) replaced by leaf.
func withLeaf(proof, leaf []byte) []byte {
	n := int(binary.BigEndian.Uint16(proof[10:]))
	b := append([]byte(nil), proof[:10]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(leaf)))
	b = append(b, leaf...)
	return append(b, proof[12+n:]...)
}

// leafProofs serves each presence proof with its leaf replaced by f of it.
func leafProofs(h http.Handler, f func(leaf *catalog.Leaf) []byte) http.Handler {
	return alteredProofs(h, func(proof []byte, l *catalog.Leaf) []byte {
		if l == nil {
			return proof
		}
		return withLeaf(proof, f(l))
	})
}

// TestLightHostile: each lie of a mirror on the light path is refused by
// the check named, and the error says which.
func TestLightHostile(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	older := w.store(step0) // "b" absent, "a" at revision 1
	other := w.digest(m.st, "d")
	_, dProof, err := m.st.IndexProof(w.pub.ID(), "d")
	if err != nil {
		t.Fatal(err)
	}
	dp, err := index.ParseProof(dProof)
	if err != nil {
		t.Fatal(err)
	}
	says := func(s string) func(error) bool {
		return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
	}
	malformed := func(s string) func(error) bool {
		return func(err error) bool { return errors.Is(err, index.ErrMalformed) && strings.Contains(err.Error(), s) }
	}
	tests := []struct {
		name string
		h    http.Handler
		want func(error) bool
	}{
		{"proof of another id", w.proofFrom(m.h, m.st, "d"), func(err error) bool { return errors.Is(err, index.ErrMismatch) }},
		{"proof against another root", w.proofFrom(m.h, older, ""), func(err error) bool { return errors.Is(err, index.ErrMismatch) }},
		// The leaf the proof carries, changed.
		{"leaf of another id", leafProofs(m.h, func(*catalog.Leaf) []byte { return dp.Leaf().Encode() }), says(`is an article leaf of "d"`)},
		{"leaf of another revision", leafProofs(m.h, func(l *catalog.Leaf) []byte {
			l.Revision++
			return l.Encode()
		}), func(err error) bool { return errors.Is(err, index.ErrMismatch) }},
		{"leaf of another bundle", leafProofs(m.h, func(l *catalog.Leaf) []byte {
			l.Digest = other
			return l.Encode()
		}), func(err error) bool { return errors.Is(err, index.ErrMismatch) }},
		{"leaf truncated", leafProofs(m.h, func(l *catalog.Leaf) []byte { b := l.Encode(); return b[:len(b)-1] }), malformed("wrong length")},
		{"leaf oversized", leafProofs(m.h, func(l *catalog.Leaf) []byte {
			return append(l.Encode(), make([]byte, catalog.MaxLeafSize)...)
		}), malformed("at most")},
		{"key statement leaf", leafProofs(m.h, func(*catalog.Leaf) []byte {
			return (&catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 1}).Encode()
		}), malformed("not an article leaf")},
		{"proof oversized", alteredProofs(m.h, func(proof []byte, _ *catalog.Leaf) []byte {
			return append(proof, make([]byte, index.MaxProofSize)...)
		}), says("exceeds the limit")},
		{"proof of version 1", alteredProofs(m.h, func(proof []byte, _ *catalog.Leaf) []byte {
			proof[0] = 1
			return proof
		}), malformed("version 1")},
		{"bundle not the leaf's", wrongArticle(m.h, other), func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "do not hash to")
		}},
	}
	for _, id := range []string{"a", "b"} {
		for _, tt := range tests {
			t.Run(id+"/"+tt.name, func(t *testing.T) {
				_, err := w.lightClient(t.TempDir(), serve(t, tt.h)).Fetch(ctx, id)
				if !tt.want(err) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
	t.Run("absence proof of an article that exists", func(t *testing.T) {
		_, err := w.lightClient(t.TempDir(), serve(t, w.proofFrom(m.h, older, ""))).Fetch(ctx, "b")
		if !errors.Is(err, index.ErrMismatch) || errors.Is(err, reader.ErrNotFound) {
			t.Fatalf("err = %v, want the proof refused, not the article absent", err)
		}
	})
	t.Run("older checkpoint and its valid proof", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := w.lightClient(dir, serve(t, m.h)).Fetch(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		_, err := w.lightClient(dir, serve(t, w.handler(w.store(step0, step1)))).Fetch(ctx, "a")
		if !errors.Is(err, reader.ErrRollback) {
			t.Fatalf("err = %v, want a rollback", err)
		}
	})
	t.Run("fork of the kept checkpoint", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := w.lightClient(dir, serve(t, w.handler(w.store(step0, step1)))).Fetch(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		forked := w.store(step0, fork1, fork2)
		w.grow(forked, 300, t2)
		c := w.lightClient(dir, serve(t, w.handler(forked)))
		if _, err := c.Fetch(ctx, "a"); !errors.Is(err, reader.ErrFork) || len(c.ForkEvidence()) != 1 {
			t.Fatalf("err = %v, evidence %v: want a fork, kept", err, c.ForkEvidence())
		}
	})
}

// TestLightCheckpointMoved: the mirror moved on between the checkpoint the
// reader got (from a cache, say) and the bundle: it still proves the old
// checkpoint's newest revision, but has dropped that revision's bundle
// (404). The reader starts again with the new checkpoint instead of
// blaming the mirror or syncing the whole log; so it does when the
// mirror no longer proves the old checkpoint at all.
func TestLightCheckpointMoved(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	old := w.store(step0, step1)
	p, err := old.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	before := w.handler(old)
	// forget: the mirror no longer proves the old size either (it moved
	// on further than its index history reaches): the proof is 404.
	for _, forget := range []bool{false, true} {
		var once sync.Once
		h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			first := false
			if strings.HasSuffix(r.URL.Path, "/checkpoint") {
				once.Do(func() { first = true })
			}
			switch {
			case first:
				before.ServeHTTP(rw, r)
			case forget && strings.Contains(r.URL.Path, "/index/"+strconv.FormatInt(p.Size, 10)+"/"):
				http.NotFound(rw, r)
			default:
				m.h.ServeHTTP(rw, r)
			}
		})
		r, err := w.lightClient(t.TempDir(), serve(t, h)).Fetch(ctx, "a")
		if err != nil {
			t.Fatalf("forget %v: %v", forget, err)
		}
		if !r.Light || r.FullSync != "" || r.Article.Revision != 2 {
			t.Fatalf("forget %v: Light %v, FullSync %q, revision %d: want the light path on the new checkpoint", forget, r.Light, r.FullSync, r.Article.Revision)
		}
	}
}

// TestLightFallbackOldCheckpoint: a checkpoint without an article index
// (four lines, signed before the index existed) makes the reader verify
// the whole log, and say why.
func TestLightFallbackOldCheckpoint(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/checkpoint") {
			m.h.ServeHTTP(rw, r)
			return
		}
		cp, err := catalog.ParseUnverified(record(m.h, r).Body.Bytes())
		if err != nil {
			t.Error(err)
			return
		}
		cp.Index = tlog.Hash{}
		signed, err := cp.Sign(w.pub.Signer)
		if err != nil {
			t.Error(err)
			return
		}
		rw.Write(signed)
	})
	r, err := w.lightClient(t.TempDir(), serve(t, h)).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Light || !strings.Contains(r.FullSync, "carries no article index") || r.Bundle == nil || r.Checkpoint.Index != (tlog.Hash{}) {
		t.Fatalf("Light %v, FullSync %q: want a full sync, and why", r.Light, r.FullSync)
	}
}

// TestLightPythonStatic: one article and the newest ones from a static
// tree served by python3 -m http.server, a server that knows nothing of
// samizdat, under a URL prefix. It is skipped without python3.
func TestLightPythonStatic(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3:", err)
	}
	w := newWorld(t)
	m := w.honestMirror()
	p, err := m.st.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	d := w.digest(m.st, "a")
	tree := staticTree(t, m.h, w.pub.ID(), p.Size, []string{"a"}, d.String())
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "some"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tree, filepath.Join(root, "some", "prefix")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// "Serving HTTP on 127.0.0.1 port 41233 (http://127.0.0.1:41233/) ..."
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 5 && f[0] == "Serving" && f[4] == "port" {
				port <- f[5]
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	var url string
	select {
	case p := <-port:
		url = "http://127.0.0.1:" + p + "/some/prefix"
	case <-time.After(20 * time.Second):
		t.Fatal("python3 -m http.server did not say where it listens")
	}
	r, err := w.lightClient(t.TempDir(), url).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Light || r.Bundle == nil || r.Bundle.Digest != d {
		t.Fatalf("Light %v (%s), bundle %v", r.Light, r.FullSync, r.Bundle != nil)
	}
	l, err := w.lightClient(t.TempDir(), url).Newest(ctx, 2)
	if err != nil || len(l.Articles()) != 2 || l.Articles()[0].ID != "d" {
		t.Fatalf("newest: %v, %v", l, err)
	}
}

// TestLightStale: the light path shows a checkpoint's age, and one older
// than MaxAge as stale, like the full one.
func TestLightStale(t *testing.T) {
	w := newWorld(t)
	r, err := w.lightClient(t.TempDir(), serve(t, w.handler(w.store(step0, step1)))).Fetch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Light || !r.Stale || r.Age != now.Sub(t1) {
		t.Fatalf("Light %v, Stale %v, Age %v: want light, stale, %v old", r.Light, r.Stale, r.Age, now.Sub(t1))
	}
}

// TestLightCostsLongIDs: TestLightCosts where every id is as long as
// bundle.MaxIDLen allows, the case where an entry bundle of 256 such
// leaves (44 KB) broke the 32 KiB budget when the reader fetched it. The
// article sits in the middle of the log, so its entry bundle would be
// full. Beyond the bundle the reader now reads the key statement, the
// checkpoint and one proof, at most index.MaxProofSize, whatever the ids.
func TestLightCostsLongIDs(t *testing.T) {
	sizes := []int{1000, 100000}
	if testing.Short() || raceDetector {
		sizes = sizes[:1]
	}
	long := func(prefix string, i int) string {
		return fmt.Sprintf("%s-%0*d", prefix, bundle.MaxIDLen-len(prefix)-1, i)
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := newWorld(t)
			st := w.store(step0)
			id := long("article", n)
			w.growIDs(st, n/2, t1.Add(-time.Minute), func(_ int64, i int) string { return long("before", i) })
			if _, err := w.publisher(st, t1.Add(-time.Minute)).Publish([]publish.Item{item(id, "<p>Long.</p>")}); err != nil {
				t.Fatal(err)
			}
			w.growIDs(st, n-n/2, t1, func(_ int64, i int) string { return long("after", i) })
			c := w.lightClient(t.TempDir(), serve(t, w.handler(st)))
			ct := countRequests(c)
			r, err := c.Fetch(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Light || r.Bundle == nil || r.Bundle.Manifest.ID != id {
				t.Fatalf("Light %v (%s), bundle %v: want the light path", r.Light, r.FullSync, r.Bundle != nil)
			}
			co := ct.costs()
			t.Logf("article of %d-byte id among %d: %s: %v", len(id), n, co, co.spans())
			if co.rounds > lightRounds || co.bytes > lightBudget {
				t.Errorf("cost %s: want %d round trips and %d B at most", co, lightRounds, lightBudget)
			}
			for i, p := range co.paths {
				if strings.Contains(p, "/index/") && co.sizes[i] > index.MaxProofSize {
					t.Errorf("proof of %d B, above index.MaxProofSize", co.sizes[i])
				}
			}
		})
	}
}

// TestLightLeafBeyondCheckpoint: what only the publisher's key could
// sign, and every mirror would refuse: a checkpoint whose article index
// says that "a"'s newest leaf lies beyond the checkpoint's log. The proof
// verifies against that index and carries a's real leaf, whose bundle the
// mirror serves; the reader refuses it for the leaf's index alone.
func TestLightLeafBeyondCheckpoint(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	_, honest, err := m.st.IndexProof(w.pub.ID(), "a")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := index.ParseProof(honest)
	if err != nil {
		t.Fatal(err)
	}
	cpReq, _ := http.NewRequest("GET", "/p/"+w.pub.ID()+"/checkpoint", nil)
	cp, err := catalog.ParseUnverified(record(m.h, cpReq).Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// An index of a longer log, whose leaf cp.Size+2 is a's real leaf.
	var log []*catalog.Leaf
	for range cp.Size + 2 {
		log = append(log, &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 1})
	}
	log = append(log, hp.Leaf())
	x := index.New()
	if err := x.Apply(ctx, 0, log); err != nil {
		t.Fatal(err)
	}
	p, err := x.Prove(ctx, "a", index.LeafSlice(log))
	if err != nil {
		t.Fatal(err)
	}
	forged := *cp
	forged.Index = x.Root()
	signed, err := forged.Sign(w.pub.Signer)
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/checkpoint"):
			rw.Write(signed)
		case strings.Contains(r.URL.Path, "/index/"):
			rw.Write(p.Encode())
		default:
			m.h.ServeHTTP(rw, r)
		}
	})
	_, err = w.lightClient(t.TempDir(), serve(t, h)).Fetch(ctx, "a")
	if err == nil || !strings.Contains(err.Error(), "beyond the checkpoint's") {
		t.Fatalf("err = %v, want the leaf refused as beyond the checkpoint", err)
	}
}
