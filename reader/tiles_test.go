package reader_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// grow appends n filler article leaves (without bundles: a reader that
// lists or reads another article never asks for them) to st's log, under
// checkpoints signed at.
func (w *world) grow(st *store.Store, n int, at time.Time) {
	w.t.Helper()
	w.growIDs(st, n, at, func(size int64, i int) string { return fmt.Sprintf("filler-%d-%07d", size, i) })
}

// growIDs is grow with the filler ids that idOf makes from the log's size
// before the fillers and the filler's number.
func (w *world) growIDs(st *store.Store, n int, at time.Time, idOf func(size int64, i int) string) {
	w.t.Helper()
	const batch = 5000
	p, err := st.Publisher(w.pub.ID())
	if err != nil {
		w.t.Fatal(err)
	}
	for from := 0; from < n; from += batch {
		var leaves [][]byte
		for i := from; i < min(from+batch, n); i++ {
			id := idOf(p.Size, i)
			leaves = append(leaves, (&catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: 1, Digest: sha256.Sum256([]byte(id))}).Encode())
		}
		size, root, err := st.NextRoot(w.pub.ID(), leaves)
		if err != nil {
			w.t.Fatal(err)
		}
		x, err := st.NextIndex(w.pub.ID(), leaves)
		if err != nil {
			w.t.Fatal(err)
		}
		cp, err := (&catalog.Checkpoint{Origin: catalog.Origin(w.pub.ID()), Size: size, Root: root, Index: x, Time: at}).Sign(w.pub.Signer)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := st.Apply(w.root(), &store.Update{Leaves: leaves, Checkpoint: cp}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// bigLog returns a store with step 0, n filler leaves and article "late",
// all dated t1 or before.
func (w *world) bigLog(n int) *store.Store {
	w.t.Helper()
	st := w.store(step0)
	w.grow(st, n, t1.Add(-time.Minute))
	if _, err := w.publisher(st, t1).Publish([]publish.Item{item("late", "<p>Late.</p>")}); err != nil {
		w.t.Fatal(err)
	}
	return st
}

// primedAt returns a state directory whose reader has seen the log of
// the given steps.
func (w *world) primedAt(steps ...step) string {
	w.t.Helper()
	dir := w.t.TempDir()
	if _, err := w.client(dir, serve(w.t, w.handler(w.store(steps...)))).List(ctx); err != nil {
		w.t.Fatal(err)
	}
	return dir
}

// requests counts a mirror's requests by path, and can fail the ones a
// function picks.
type requests struct {
	mu     sync.Mutex
	paths  []string
	bytes  atomic.Int64
	broken func(path string) bool
	hang   func(path string) bool // answers nothing until the client gives up
}

func (rq *requests) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq.mu.Lock()
		rq.paths = append(rq.paths, r.URL.Path)
		broken, hang := rq.broken, rq.hang
		rq.mu.Unlock()
		if hang != nil && hang(r.URL.Path) {
			<-r.Context().Done()
			return
		}
		if broken != nil && broken(r.URL.Path) {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		rec := record(h, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		n, _ := w.Write(rec.Body.Bytes())
		rq.bytes.Add(int64(n))
	})
}

func (rq *requests) count(part string) int {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	n := 0
	for _, p := range rq.paths {
		if strings.Contains(p, part) {
			n++
		}
	}
	return n
}

// TestSyncResumes: a long sync cut short keeps the entry bundles it
// checked, and the next fetch, from another mirror and another process,
// asks only for the rest. Both for a new reader and for one that read
// the log before.
func TestSyncResumes(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(1500)
	for _, primed := range []bool{false, true} {
		t.Run(fmt.Sprintf("primed=%v", primed), func(t *testing.T) {
			dir := t.TempDir()
			if primed {
				dir = w.primedAt(step0)
			}
			breaking := &requests{broken: func(p string) bool { return strings.HasSuffix(p, "/tile/entries/004") }}
			if _, err := w.client(dir, serve(t, breaking.wrap(w.handler(st)))).Fetch(ctx, "late"); err == nil || !strings.Contains(err.Error(), "entry bundle 4") {
				t.Fatalf("through a mirror that fails bundle 4: %v", err)
			}
			honest := &requests{}
			r, err := w.client(dir, serve(t, honest.wrap(w.handler(st)))).Fetch(ctx, "late")
			if err != nil || r.Bundle == nil {
				t.Fatalf("resumed: %v", err)
			}
			for n := range 4 {
				if honest.count(fmt.Sprintf("/tile/entries/%03d", n)) != 0 {
					t.Errorf("bundle %d fetched again", n)
				}
			}
			if honest.count("/tile/entries/005") != 1 {
				t.Errorf("bundle 5 not fetched: %v", honest.paths)
			}
			if a, err := w.client(dir).Article("filler-2-0000100"); err != nil || a == nil {
				t.Errorf("an article of the first bundles: %v, %v", a, err)
			}
		})
	}
}

// TestSyncResumesAfterTimeout: a fetch whose own deadline runs out in
// the middle of a long sync (a slow link, default flags) keeps what it
// checked, and the next fetch goes on from there instead of leaf 0.
func TestSyncResumesAfterTimeout(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(1500)
	dir := t.TempDir()
	slow := &requests{hang: func(p string) bool { return strings.HasSuffix(p, "/tile/entries/004") }}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := w.client(dir, serve(t, slow.wrap(w.handler(st)))).Fetch(short, "late"); err == nil || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "ran out of time; what it checked is kept") {
		t.Fatalf("through a mirror that never sends bundle 4: %v", err)
	}
	honest := &requests{}
	if r, err := w.client(dir, serve(t, honest.wrap(w.handler(st)))).Fetch(ctx, "late"); err != nil || r.Bundle == nil {
		t.Fatalf("resumed: %v", err)
	}
	for n := range 4 {
		if honest.count(fmt.Sprintf("/tile/entries/%03d", n)) != 0 {
			t.Errorf("bundle %d fetched again after the timeout", n)
		}
	}
}

// TestAlteredProgress: a sync in progress whose kept right edge was
// altered is not taken: the reader starts again from what the head
// proves.
func TestAlteredProgress(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(1500)
	for _, primed := range []bool{false, true} {
		t.Run(fmt.Sprintf("primed=%v", primed), func(t *testing.T) {
			dir := t.TempDir()
			if primed {
				dir = w.primedAt(step0)
			}
			breaking := &requests{broken: func(p string) bool { return strings.HasSuffix(p, "/tile/entries/004") }}
			if _, err := w.client(dir, serve(t, breaking.wrap(w.handler(st)))).Fetch(ctx, "late"); err == nil {
				t.Fatal("through a mirror that fails bundle 4: no error")
			}
			reader.AlterIndexEdge(t, filepath.Join(dir, w.pub.ID(), "index.db"))
			honest := &requests{}
			if _, err := w.client(dir, serve(t, honest.wrap(w.handler(st)))).Fetch(ctx, "late"); err != nil {
				t.Fatalf("after the progress was altered: %v", err)
			}
			if honest.count("/tile/entries/000") != 1 {
				t.Errorf("the altered progress was taken: %v", honest.paths)
			}
		})
	}
}

// TestTamperedTiles: a mirror that alters a hash tile or an entry bundle
// of a long sync is refused, in one line, and what it served is not kept.
func TestTamperedTiles(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(1500)
	cases := []struct {
		name, path, text string
	}{
		{"hash tile", "/tile/0/", "hash tiles do not hash to"},
		{"hash tile of height 8", "/tile/1/", "hash tiles do not hash to"},
		{"entry bundle", "/tile/entries/002", "do not hash to"},
		{"last entry bundle", "/tile/entries/005", "do not hash to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := w.handler(st)
			lying := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, tc.path) {
					h.ServeHTTP(rw, r)
					return
				}
				b := record(h, r).Body.Bytes()
				b[len(b)-1] ^= 1
				rw.Write(b)
			})
			dir := w.primedAt(step0)
			_, err := w.client(dir, serve(t, lying)).Fetch(ctx, "late")
			if err == nil || !strings.Contains(err.Error(), tc.text) || strings.Count(err.Error(), "\n") != 1 {
				t.Fatalf("got %v, want one line saying %q", err, tc.text)
			}
			// Nothing of it was kept: an honest mirror is asked for
			// everything after the primed state.
			honest := &requests{}
			if _, err := w.client(dir, serve(t, honest.wrap(w.handler(st)))).Fetch(ctx, "late"); err != nil {
				t.Fatal(err)
			}
			if honest.count("/tile/entries/000") != 1 {
				t.Errorf("the first bundle was not fetched again: %v", honest.paths)
			}
		})
	}
}
