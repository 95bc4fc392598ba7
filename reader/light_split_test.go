package reader_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/reader"
)

// splitOnly serves what h serves but full index proofs (404), as a static
// export that holds split proofs only; f, when not nil, answers the split
// proof requests instead: kind "t" for a top part, "n" for a bottom part,
// with the last path segment (the bucket, or the id).
func splitOnly(h http.Handler, f func(rw http.ResponseWriter, r *http.Request, kind, last string)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, rest, ok := strings.Cut(r.URL.Path, "/index/")
		if !ok {
			h.ServeHTTP(rw, r)
			return
		}
		kind, _, _ := strings.Cut(rest, "/")
		if kind != "t" && kind != "n" {
			http.NotFound(rw, r)
			return
		}
		if f == nil {
			h.ServeHTTP(rw, r)
			return
		}
		f(rw, r, kind, rest[strings.LastIndexByte(rest, '/')+1:])
	})
}

// TestLightSplitCosts: from a mirror that serves split proofs only (a
// static export), a new reader's first article costs at most 4
// sequential round trips and 32 KiB beyond its bundle, at 1,000 and
// 100,000 articles; from a dynamic mirror, 3 as before (TestLightCosts).
func TestLightSplitCosts(t *testing.T) {
	sizes := []int{1000, 100000}
	if testing.Short() || raceDetector {
		sizes = sizes[:1]
	}
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
			h := w.handler(st)
			for _, mirror := range []struct {
				name   string
				h      http.Handler
				rounds int
			}{{"static", splitOnly(h, nil), lightRounds + 1}, {"dynamic", h, lightRounds}} {
				url := serve(t, mirror.h)
				for _, id := range []string{"late", "a"} {
					c := w.lightClient(t.TempDir(), url)
					ct := countRequests(c)
					r, err := c.Fetch(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if !r.Light || r.Bundle == nil || r.Bundle.Manifest.ID != id {
						t.Fatalf("%s: Light %v (%q): want the light path", id, r.Light, r.FullSync)
					}
					co := ct.costs()
					t.Logf("%s mirror, article %q of %d: %s: %v", mirror.name, id, n, co, co.spans())
					if co.rounds > mirror.rounds || co.bytes > lightBudget {
						t.Errorf("%s mirror, article %q of %d cost %s: want %d round trips and %d B at most", mirror.name, id, n, co, mirror.rounds, lightBudget)
					}
				}
			}
		})
	}
}

// TestLightSplitHostile: each lie of a static export's split proof is
// refused with an error that says which part, never a wrong article.
func TestLightSplitHostile(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	w.grow(m.st, 300, t2) // 16 buckets
	p, err := m.st.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	size := p.Size
	older := w.store(step0)
	w.grow(older, 300, t2) // another index of the same cut depth
	op, err := older.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	if index.CutDepth(op.Size) != index.CutDepth(size) {
		t.Fatalf("sizes %d and %d have different cut depths", op.Size, size)
	}
	const id = "a"
	// A present id of another bucket, and its bottom part.
	var otherID string
	for i := range 300 {
		cand := fmt.Sprintf("filler-%d-%07d", size-300, i)
		if index.BucketOf(size, cand) != index.BucketOf(size, id) {
			otherID = cand
			break
		}
	}
	bottomOf := func(st *store.Store, at int64, id string) []byte {
		top, err := st.IndexTop(w.pub.ID(), at, index.BucketOf(at, id))
		if err != nil {
			t.Fatal(err)
		}
		tp, err := index.ParseTop(top)
		if err != nil {
			t.Fatal(err)
		}
		node, _ := tp.Node()
		b, err := st.IndexBottom(w.pub.ID(), node, id)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherBottom := bottomOf(m.st, size, otherID)
	var otherBucket index.Bucket
	for b := range index.Buckets(size) {
		if b != index.BucketOf(size, id) {
			otherBucket = b
			break
		}
	}
	otherTop, err := m.st.IndexTop(w.pub.ID(), size, otherBucket)
	if err != nil {
		t.Fatal(err)
	}
	olderTop, err := older.IndexTop(w.pub.ID(), op.Size, index.BucketOf(op.Size, id))
	if err != nil {
		t.Fatal(err)
	}
	olderBottom := bottomOf(older, op.Size, id)
	honest := func(r *http.Request) []byte { return record(m.h, r).Body.Bytes() }
	serveTop := func(f func(r *http.Request) []byte) http.Handler {
		return splitOnly(m.h, func(rw http.ResponseWriter, r *http.Request, kind, _ string) {
			if kind == "t" {
				rw.Write(f(r))
				return
			}
			m.h.ServeHTTP(rw, r)
		})
	}
	serveBottom := func(f func(r *http.Request) []byte) http.Handler {
		return splitOnly(m.h, func(rw http.ResponseWriter, r *http.Request, kind, _ string) {
			if kind == "n" {
				rw.Write(f(r))
				return
			}
			m.h.ServeHTTP(rw, r)
		})
	}
	flip := func(b []byte) []byte { b[len(b)-1] ^= 1; return b }
	is := func(target error, s string) func(error) bool {
		return func(err error) bool { return errors.Is(err, target) && strings.Contains(err.Error(), s) }
	}
	for _, tt := range []struct {
		name string
		h    http.Handler
		want func(error) bool
	}{
		{"top part and bottom part of another size", splitOnly(m.h, func(rw http.ResponseWriter, r *http.Request, kind, _ string) {
			if kind == "t" {
				rw.Write(olderTop)
			} else {
				rw.Write(olderBottom)
			}
		}), is(index.ErrMismatch, "the top part of bucket")},
		{"top part of another size", serveTop(func(*http.Request) []byte { return olderTop }), is(index.ErrMismatch, "the top part of bucket")},
		{"top part of another bucket", serveTop(func(*http.Request) []byte { return otherTop }), is(index.ErrParts, "the top part is of bucket")},
		{"top part truncated", serveTop(func(r *http.Request) []byte { b := honest(r); return b[:len(b)-1] }), is(index.ErrMalformed, "top part")},
		{"top part oversized", serveTop(func(r *http.Request) []byte { return append(honest(r), make([]byte, index.MaxTopSize)...) }), func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "exceeds the limit")
		}},
		{"top part with a changed sibling", serveTop(func(r *http.Request) []byte { return flip(honest(r)) }), is(index.ErrMismatch, "the top part of bucket")},
		{"top part with a changed bucket root", serveTop(func(r *http.Request) []byte { b := honest(r); b[5] ^= 1; return b }), is(index.ErrMismatch, "the top part of bucket")},
		{"bottom part of another bucket", serveBottom(func(*http.Request) []byte { return otherBottom }), is(index.ErrParts, "the bottom part leads to node")},
		{"bottom part whose node hash mismatches", serveBottom(func(r *http.Request) []byte { return flip(honest(r)) }), is(index.ErrParts, "the bottom part leads to node")},
		{"bottom part truncated", serveBottom(func(r *http.Request) []byte { b := honest(r); return b[:len(b)-1] }), is(index.ErrMalformed, "bottom part")},
		{"bottom part oversized", serveBottom(func(r *http.Request) []byte { return append(honest(r), make([]byte, index.MaxBottomSize)...) }), func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "exceeds the limit")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := w.lightClient(t.TempDir(), serve(t, tt.h)).Fetch(ctx, id)
			var re *reader.Error
			if errors.As(err, &re) && (len(re.Failures) != 1 || strings.Contains(re.Failures[0].Err.Error(), "\n")) {
				t.Errorf("failures %v: want one, of one line", re.Failures)
			}
			if !tt.want(err) {
				t.Fatalf("err = %v (article %v, light %v %q)", err, r != nil && r.Bundle != nil, r != nil && r.Light, func() string {
					if r == nil {
						return ""
					}
					return r.FullSync
				}())
			}
		})
	}
	// The honest split proof reads the article, and an absent id's
	// missing bottom part makes the reader read the log, as a missing full
	// proof does.
	r, err := w.lightClient(t.TempDir(), serve(t, splitOnly(m.h, nil))).Fetch(ctx, id)
	if err != nil || !r.Light || r.Bundle == nil {
		t.Fatalf("honest split proofs: %v", err)
	}
	noBottoms := splitOnly(m.h, func(rw http.ResponseWriter, r *http.Request, kind, _ string) {
		if kind == "n" {
			http.NotFound(rw, r)
			return
		}
		m.h.ServeHTTP(rw, r)
	})
	for name, h := range map[string]http.Handler{"no bottom part": noBottoms} {
		r, err = w.lightClient(t.TempDir(), serve(t, h)).Fetch(ctx, id)
		if err != nil || r.Light || !strings.Contains(r.FullSync, "no bottom part") || r.Bundle == nil || r.Bundle.Digest != w.digest(m.st, id) {
			t.Fatalf("%s: %v, light %v: want a full sync, and why, and the article", name, err, r != nil && r.Light)
		}
	}
}

// TestLightSplitStatic: one article from plain files under a URL prefix
// that hold split proofs and no full proof, as an export with
// --index-proofs -1 (or an article beyond its newest 100): 4 round trips.
func TestLightSplitStatic(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	p, err := m.st.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	d := w.digest(m.st, "a")
	dir := staticTree(t, m.h, w.pub.ID(), p.Size, nil, d.String())
	pub := "/p/" + w.pub.ID() + "/index/"
	put := func(path string, b []byte) {
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "/")))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	size := strconv.FormatInt(p.Size, 10)
	for b := range index.Buckets(p.Size) {
		rec := record(m.h, httptestRequest(pub+"t/"+size+"/"+b.String()))
		if rec.Code != http.StatusOK {
			t.Fatalf("top part of %s: %d", b, rec.Code)
		}
		put(pub+"t/"+size+"/"+b.String(), rec.Body.Bytes())
		top, err := index.ParseTop(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if node, ok := top.Node(); ok && b == index.BucketOf(p.Size, "a") {
			path := pub + "n/" + hex.EncodeToString(node[:]) + "/a"
			rec := record(m.h, httptestRequest(path))
			if rec.Code != http.StatusOK {
				t.Fatalf("bottom part of a: %d", rec.Code)
			}
			put(path, rec.Body.Bytes())
		}
	}
	c := w.lightClient(t.TempDir(), serveStatic(t, dir))
	ct := countRequests(c)
	r, err := c.Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Light || r.Bundle == nil || r.Bundle.Digest != d {
		t.Fatalf("Light %v (%s), bundle %v", r.Light, r.FullSync, r.Bundle != nil)
	}
	if co := ct.costs(); co.rounds != lightRounds+1 || co.bytes > lightBudget {
		t.Errorf("cost %s: %v; want %d round trips", co, co.spans(), lightRounds+1)
	}
}
