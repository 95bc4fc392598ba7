package reader_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingWriter counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

// TestLightOneMirrorWithholdsProofs (red team, issue 10): a censor's
// mirror, listed first, serves everything but index proofs (404), which
// alone would make the reader verify the whole log from it. With an
// honest mirror beside it, the honest light answer must win, and the
// whole-log bytes the censor's mirror gets the reader to read are
// measured.
func TestLightOneMirrorWithholdsProofs(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	w.grow(m.st, 20000, t2)
	h := w.handler(m.st)
	var served atomic.Int64
	hostile := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/index/") {
			http.NotFound(rw, r)
			return
		}
		h.ServeHTTP(countingWriter{rw, &served}, r)
	})
	t0 := time.Now()
	r, err := w.lightClient(t.TempDir(), serve(t, hostile), serve(t, h)).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("winner %s, light %v (%q), %v; the withholding mirror served %d body bytes", r.Mirror, r.Light, r.FullSync, time.Since(t0), served.Load())
	if !r.Light {
		t.Errorf("a mirror withholding proofs made the reader sync the whole log, with an honest mirror beside it")
	}
}

// TestLightAllMirrorsWithholdProofs: when no mirror serves index proofs,
// the race syncs the whole log from one of them after asking each once,
// and says why.
func TestLightAllMirrorsWithholdProofs(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	w.grow(m.st, 300, t2)
	h := w.handler(m.st)
	var proofs atomic.Int64
	withhold := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/index/") {
			if !strings.Contains(r.URL.Path, "/index/t/") && !strings.Contains(r.URL.Path, "/index/n/") {
				proofs.Add(1) // full proofs; each comes with a split proof's top part
			}
			http.NotFound(rw, r)
			return
		}
		h.ServeHTTP(rw, r)
	})
	r, err := w.lightClient(t.TempDir(), serve(t, withhold), serve(t, withhold)).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Light || !strings.Contains(r.FullSync, "serves no index proofs") || r.Bundle == nil {
		t.Fatalf("Light %v, FullSync %q, bundle %v: want a full sync, and why", r.Light, r.FullSync, r.Bundle != nil)
	}
	// Each mirror once in the light round, the one that synced once more.
	if n := proofs.Load(); n < 2 || n > 4 {
		t.Errorf("%d proof requests, want 2 to 4", n)
	}
}
