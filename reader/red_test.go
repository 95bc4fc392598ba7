package reader_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/reader"
)

// TestSyncLookahead: a hostile mirror that holds back the first entry
// bundle while it answers every other one at once cannot make the reader
// hold the whole log's bundles in memory: the reader fetches only a few
// bundles ahead of the first it has not appended.
func TestSyncLookahead(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(40 * 256)
	h := w.handler(st)
	limit := int64(2 * reader.MaxParallel)
	var ahead atomic.Int64
	var released, tripped atomic.Bool
	enough := make(chan struct{})
	mirror := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/tile/entries/000"):
			// Held until the reader has fetched more bundles ahead than
			// it should, or a second has gone by.
			select {
			case <-enough:
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			released.Store(true)
		case strings.Contains(p, "/tile/entries/") && !released.Load():
			if ahead.Add(1) > limit && tripped.CompareAndSwap(false, true) {
				close(enough)
			}
		}
		h.ServeHTTP(rw, r)
	})
	r, err := w.client(t.TempDir(), serve(t, mirror)).Fetch(ctx, "late")
	if err != nil || r.Bundle == nil {
		t.Fatalf("fetch: %v", err)
	}
	if tripped.Load() {
		t.Errorf("more than %d entry bundles fetched while the first was held back", limit)
	}
}

// TestMeasureHeldBundle (SAMIZDAT_RED_MEASURE=N) measures the reader's
// peak heap while a mirror holds back entry bundle 0 of a log of N
// bundles and answers every other one at once with the largest bundle
// there can be.
func TestMeasureHeldBundle(t *testing.T) {
	bundles, _ := strconv.Atoi(os.Getenv("SAMIZDAT_RED_MEASURE"))
	if bundles <= 0 {
		t.Skip("set SAMIZDAT_RED_MEASURE to a number of entry bundles")
	}
	w := newWorld(t)
	st := w.bigLog(bundles*catalog.TileWidth - 10)
	h := w.handler(st)
	leaf := make([]byte, catalog.MaxLeafSize)
	var big []byte
	for range catalog.TileWidth {
		big = catalog.AppendEntryBundle(big, leaf)
	}
	var served atomic.Int64
	mirror := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/tile/entries/000"):
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		case strings.Contains(p, "/tile/entries/") && !strings.Contains(p, ".p/"):
			served.Add(1)
			rw.Write(big)
			return
		}
		h.ServeHTTP(rw, r)
	})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	start := time.Now()
	_, err := w.client(t.TempDir(), serve(t, mirror)).Fetch(ctx, "late")
	close(stop)
	<-sampled
	t.Logf("fetch: %v after %v; %d max-size bundles served; peak heap in use %.1f MiB above the %.1f MiB before",
		err, time.Since(start).Round(time.Millisecond), served.Load(), float64(peak.Load()-base.HeapInuse)/(1<<20), float64(base.HeapInuse)/(1<<20))
}

// TestForkProvenByHashTiles: a reader that kept a log forked from the
// honest one (a stolen signing key) and meets the honest, longer log
// through hash tiles that hash to its signed checkpoint has proof of the
// fork, and raises the alarm with the evidence, instead of blaming the
// honest mirror for altered leaves and refusing it forever.
func TestForkProvenByHashTiles(t *testing.T) {
	w := newWorld(t)
	dir := w.primedAt(step0, step1)
	_, err := w.client(dir, serve(t, w.handler(w.bigLog(1500)))).Fetch(ctx, "late")
	if !errors.Is(err, reader.ErrFork) {
		t.Fatalf("fetch of the other history: %v", err)
	}
	var re *reader.Error
	var fe *catalog.ForkError
	if !errors.As(err, &re) || len(re.Forks()) != 1 || !errors.As(re.Forks()[0].Err, &fe) || len(fe.Have) == 0 || len(fe.Got) == 0 {
		t.Fatalf("fork %v: want both checkpoints as evidence", err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, w.pub.ID(), "forks")); err != nil || len(ents) != 1 {
		t.Errorf("evidence kept: %v, %v", ents, err)
	}
}

// TestForkedProgress: a hostile mirror with a stolen signing key makes a
// reader keep a sync in progress on a forked log (it fails a bundle on
// purpose). The honest, longer log then proves the fork through its hash
// tiles: the reader raises the alarm with the forked anchor as evidence,
// rather than calling every honest mirror a liar.
func TestForkedProgress(t *testing.T) {
	w := newWorld(t)
	forked := w.store(step0, step1)
	w.grow(forked, 1500, t1)
	honest := w.bigLog(3000)
	for _, primed := range []bool{false, true} {
		t.Run(fmt.Sprintf("primed=%v", primed), func(t *testing.T) {
			dir := t.TempDir()
			if primed {
				dir = w.primedAt(step0)
			}
			forkedProgress(t, w, dir, forked, honest)
		})
	}
}

func forkedProgress(t *testing.T, w *world, dir string, forked, honest *store.Store) {
	breaking := &requests{broken: func(p string) bool { return strings.HasSuffix(p, "/tile/entries/004") }}
	if _, err := w.client(dir, serve(t, breaking.wrap(w.handler(forked)))).List(ctx); err == nil || !strings.Contains(err.Error(), "entry bundle 4") {
		t.Fatalf("through the forked mirror that fails bundle 4: %v", err)
	}
	_, err := w.client(dir, serve(t, w.handler(honest))).Fetch(ctx, "late")
	var re *reader.Error
	var fe *catalog.ForkError
	if !errors.Is(err, reader.ErrFork) || !errors.As(err, &re) || len(re.Forks()) != 1 || !errors.As(re.Forks()[0].Err, &fe) || len(fe.Have) == 0 || len(fe.Got) == 0 {
		t.Fatalf("the honest log after progress on a fork: %v", err)
	}
	if cp, err := catalog.ParseUnverified(fe.Have); err != nil || cp.Size <= 1500 {
		t.Errorf("evidence kept: %v, %v; want the forked sync's anchor", cp, err)
	}
}

// TestHostileTileShapes: entry bundles with an extra or a missing leaf,
// trailing bytes or no end, hash tiles too long, and a leaf of a bundle
// that breaks the leaf rules, from a mirror of a long sync: each is
// refused in one line, raises no fork alarm, and leaves nothing that
// stops an honest mirror.
func TestHostileTileShapes(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(1500)
	h := w.handler(st)
	bad := catalog.AppendEntryBundle(nil, []byte{0xff, 1, 2})
	cases := []struct {
		name, path string
		alter      func(b []byte) []byte
		endless    bool
	}{
		{"extra leaf", "/tile/entries/002", func(b []byte) []byte { return append(b, bad...) }, false},
		{"missing leaf", "/tile/entries/002", func(b []byte) []byte {
			leaves, err := catalog.ParseEntryBundle(b, catalog.TileWidth)
			if err != nil {
				return nil
			}
			return catalog.AppendEntryBundle(nil, leaves[:len(leaves)-1]...)
		}, false},
		{"cut short", "/tile/entries/002", func(b []byte) []byte { return b[:len(b)-1] }, false},
		{"trailing byte", "/tile/entries/002", func(b []byte) []byte { return append(b, 0) }, false},
		{"leaf breaking the rules", "/tile/entries/002", func(b []byte) []byte {
			l := int(b[0])<<8 | int(b[1])
			return append(append([]byte(nil), bad...), b[2+l:]...)
		}, false},
		{"endless entry bundle", "/tile/entries/003", nil, true},
		{"long hash tile", "/tile/0/", func(b []byte) []byte { return append(b, make([]byte, 32)...) }, false},
		{"endless hash tile", "/tile/1/", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lying := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, tc.path) {
					h.ServeHTTP(rw, r)
					return
				}
				if tc.endless {
					chunk := make([]byte, 64<<10)
					for r.Context().Err() == nil {
						if _, err := rw.Write(chunk); err != nil {
							return
						}
					}
					return
				}
				rw.Write(tc.alter(record(h, r).Body.Bytes()))
			})
			dir := w.primedAt(step0)
			_, err := w.client(dir, serve(t, lying)).Fetch(ctx, "late")
			if err == nil || errors.Is(err, reader.ErrFork) || strings.Count(err.Error(), "\n") != 1 {
				t.Fatalf("got %v, want one line, no fork", err)
			}
			t.Log(strings.TrimSpace(err.Error()[strings.Index(err.Error(), "\n"):]))
			if _, err := w.client(dir, serve(t, h)).Fetch(ctx, "late"); err != nil {
				t.Fatalf("an honest mirror after it: %v", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, w.pub.ID(), "forks")); len(ents) != 0 {
				t.Errorf("fork evidence kept: %v", ents)
			}
		})
	}
}
