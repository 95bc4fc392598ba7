package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// checkIndex checks the store's index proofs of ids against the checkpoint
// it holds, and against the fixture's own log: a present id's value is
// its newest leaf, an absent id is proven absent.
func (f *fixture) checkIndex(ids ...string) {
	f.t.Helper()
	size := int64(len(f.log.leaves))
	cp := f.cps[size]
	if cp == nil || cp.Index == (tlog.Hash{}) {
		f.t.Fatalf("no indexed checkpoint of size %d applied", size)
	}
	if want := f.log.index(f.t, size); cp.Index != want {
		f.t.Fatalf("checkpoint's index %s, reference %s", cp.Index, want)
	}
	for _, id := range ids {
		got, proof, err := f.st.IndexProof(f.id(), id)
		if err != nil || got != size {
			f.t.Fatalf("IndexProof(%q) = size %d, %v; want size %d", id, got, err, size)
		}
		v, ok, err := index.Verify(cp.Index, id, proof)
		if err != nil {
			f.t.Fatalf("proof of %q does not verify: %v", id, err)
		}
		newest := int64(-1)
		for n, raw := range f.log.leaves {
			if l, err := catalog.ParseLeaf(raw); err == nil && l.ID == id {
				newest = int64(n)
			}
		}
		switch {
		case newest < 0 && ok:
			f.t.Errorf("%q: proven present at leaf %d, but the log has no leaf of it", id, v.Leaf)
		case newest >= 0 && !ok:
			f.t.Errorf("%q: proven absent, but leaf %d is its newest", id, newest)
		case newest >= 0 && (v.Leaf != newest || v.Hash != catalog.LeafHash(f.log.leaves[newest])):
			f.t.Errorf("%q: proven newest leaf %d, want %d", id, v.Leaf, newest)
		}
	}
}

func TestIndexFollowsTheLog(t *testing.T) {
	f := newFixture(t)
	f.init()
	ids := []string{"a", "b", "c", "ghost"}
	f.checkIndex(ids...)
	a2, la2 := f.bundle("a", 2, "<p>a, revision 2</p>")
	c1, lc1 := f.bundle("c", 1, "<p>c</p>")
	u := f.next(la2, lc1)
	u.Bundles = [][]byte{a2, c1}
	f.apply(u)
	f.checkIndex(ids...)
	f.apply(f.next(retraction("b", 1, f.now)))
	f.checkIndex(ids...)
	// A refresh: same log, later time, same index.
	f.apply(&store.Update{Checkpoint: f.signCP(f.log, int64(len(f.log.leaves)), f.tick())})
	f.checkIndex(ids...)
	// The index survives a restart.
	f.withDB(func(*bolt.DB) {})
	f.checkIndex(ids...)
}

// TestIndexRefusesFalseRoot is the audit: a checkpoint whose log is right
// but whose article index root is not the log's (the publisher's key
// signed a false index, say to hide an article from light readers) is
// refused as a fork, with both checkpoints as evidence, and nothing of
// its update is stored.
func TestIndexRefusesFalseRoot(t *testing.T) {
	f := newFixture(t)
	f.init()
	before := f.snapshot()
	have := f.cps[int64(len(f.log.leaves))]
	b2, lb2 := f.bundle("b", 2, "<p>b, revision 2</p>")
	next := f.log.with(t, lb2)
	size := int64(len(next.leaves))
	// The index of the log without the new leaf: "b is still at revision 1".
	stale := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: size, Root: next.root(t, size), Time: f.tick(), Index: have.Index}
	forged := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: size, Root: next.root(t, size), Time: f.tick(), Index: tlog.Hash{1}}
	for name, cp := range map[string]*catalog.Checkpoint{"stale index": stale, "forged index": forged} {
		signed, err := cp.Sign(f.pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.st.Apply(f.pub.Root.Public(), &store.Update{Leaves: [][]byte{lb2}, Checkpoint: signed, Bundles: [][]byte{b2}})
		var fe *catalog.ForkError
		if !errors.As(err, &fe) || !errors.Is(err, store.ErrFalseIndex) || string(fe.Got) != string(signed) || len(fe.Have) == 0 {
			t.Fatalf("%s: Apply = %v, want a fork with both checkpoints", name, err)
		}
		if got := f.snapshot(); got != before {
			t.Fatalf("%s: the store changed:\n%s\nwant\n%s", name, got, before)
		}
	}
	// A refresh of the stored log with another index root.
	size = int64(len(f.log.leaves))
	refresh := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: size, Root: f.log.root(t, size), Time: f.tick(), Index: tlog.Hash{2}}
	signed, err := refresh.Sign(f.pub.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Apply(f.pub.Root.Public(), &store.Update{Checkpoint: signed}); !errors.As(err, new(*catalog.ForkError)) {
		t.Fatalf("refresh with another index root: Apply = %v, want a fork", err)
	}
	// The true one is taken.
	u := f.next(lb2)
	u.Bundles = [][]byte{b2}
	f.apply(u)
	f.checkIndex("a", "b")
}

// TestIndexNotDropped: once the store holds a checkpoint with an index,
// one without is refused, however new.
func TestIndexNotDropped(t *testing.T) {
	f := newFixture(t)
	f.init()
	f.legacy = true
	_, la2 := f.bundle("a", 2, "<p>a 2</p>")
	if _, err := f.st.Apply(f.pub.Root.Public(), f.next(la2)); !errors.Is(err, catalog.ErrIndexDropped) {
		t.Fatalf("Apply of a checkpoint without index = %v, want ErrIndexDropped", err)
	}
}

// TestIndexBuiltForOldStore: a store written before the index existed
// (checkpoints without the index line, no index bucket) gets its index
// built when opened; its checkpoint carries none, so there is no proof
// to give until the publisher signs one that does.
func TestIndexBuiltForOldStore(t *testing.T) {
	f := newFixture(t)
	f.legacy = true
	f.init()
	c1, lc1 := f.bundle("c", 1, "<p>c</p>")
	u := f.next(lc1, retraction("a", 1, f.now))
	u.Bundles = [][]byte{c1}
	f.apply(u)
	if _, _, err := f.st.IndexProof(f.id(), "a"); !errors.Is(err, store.ErrNoIndex) {
		t.Fatalf("IndexProof under a checkpoint without index = %v, want ErrNoIndex", err)
	}
	f.withDB(func(db *bolt.DB) {
		err := db.Update(func(tx *bolt.Tx) error { return pubBucket(tx, f.id()).DeleteBucket([]byte("index")) })
		if err != nil {
			t.Fatal(err)
		}
	})
	f.legacy = false
	f.apply(&store.Update{Checkpoint: f.signCP(f.log, int64(len(f.log.leaves)), f.tick())})
	f.checkIndex("a", "b", "c", "ghost")
}

func TestIndexProofRefuses(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.st.IndexProof(f.id(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IndexProof of a publisher not stored = %v, want ErrNotFound", err)
	}
	f.init()
	for _, id := range []string{"", "A", "../a", "a/b"} {
		if _, _, err := f.st.IndexProof(f.id(), id); err == nil {
			t.Errorf("IndexProof(%q) gave a proof", id)
		}
	}
}

// TestIndexHistory proves articles against the checkpoints a store held
// lately, not only its current one (caches in front of a mirror serve
// those for a while), and forgets them by age and by count.
func TestIndexHistory(t *testing.T) {
	f := newFixture(t)
	// The store's own clock dates the history, not the checkpoints'.
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.st, err = store.Open(f.dir, &store.Options{Create: true, Now: func() time.Time { return clock }}); err != nil {
		t.Fatal(err)
	}
	f.init()
	ids := []string{"a", "b", "c", "d", "ghost"}
	var sizes []int64
	step := func(leaves ...[]byte) {
		sizes = append(sizes, int64(len(f.log.leaves)))
		f.apply(f.next(leaves...))
	}
	_, la2 := f.bundle("a", 2, "<p>a 2</p>")
	_, lc1 := f.bundle("c", 1, "<p>c</p>")
	_, ld1 := f.bundle("d", 1, "<p>d</p>")
	step(la2)
	step(lc1, retraction("b", 1, f.now))
	step(ld1)
	for _, size := range append(sizes, int64(len(f.log.leaves))) {
		cp := f.cps[size]
		for _, id := range ids {
			proof, err := f.st.IndexProofAt(f.id(), id, size)
			if err != nil {
				t.Fatalf("IndexProofAt(%q, %d): %v", id, size, err)
			}
			v, ok, err := index.Verify(cp.Index, id, proof)
			if err != nil {
				t.Fatalf("size %d, %q: %v", size, id, err)
			}
			var want int64 = -1
			for n := range size {
				if l, _ := catalog.ParseLeaf(f.log.leaves[n]); l != nil && l.ID == id {
					want = n
				}
			}
			if ok != (want >= 0) || ok && v.Leaf != want {
				t.Errorf("size %d, %q: proven %v at leaf %d, want leaf %d", size, id, ok, v.Leaf, want)
			}
		}
	}
	// A size that was never a checkpoint's, or beyond the log, has no index.
	for _, size := range []int64{1, sizes[1] + 1, int64(len(f.log.leaves)) + 1, -5} {
		if _, err := f.st.IndexProofAt(f.id(), "a", size); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("IndexProofAt size %d: %v, want ErrNotFound", size, err)
		}
	}
	// After IndexHistoryAge by the store's clock, only the current size
	// is provable. (The checkpoints' own times hardly move.)
	clock = clock.Add(store.IndexHistoryAge)
	_, le1 := f.bundle("e", 1, "<p>e</p>")
	last := int64(len(f.log.leaves))
	f.apply(f.next(le1))
	if _, err := f.st.IndexProofAt(f.id(), "a", sizes[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("size %d, superseded %v ago: %v, want ErrNotFound", sizes[0], store.IndexHistoryAge, err)
	}
	if _, err := f.st.IndexProofAt(f.id(), "a", last); err != nil {
		t.Errorf("the size superseded just now: %v", err)
	}
	if n := store.IndexUndoRecords(f.st, f.id()); n == 0 || n > 40 {
		t.Errorf("%d saved records for one size of history", n)
	}
	// By count: a burst of updates keeps the newest IndexHistorySizes.
	for i := range store.IndexHistorySizes + 3 {
		_, l := f.bundle(fmt.Sprintf("burst-%d", i), 1, "<p>burst</p>")
		next := f.log.with(t, l)
		f.now = f.now.Add(time.Second)
		f.apply(&store.Update{Leaves: [][]byte{l}, Checkpoint: f.signCP(next, int64(len(next.leaves)), f.now)})
	}
	kept := 0
	for size := last; size < int64(len(f.log.leaves)); size++ {
		if _, err := f.st.IndexProofAt(f.id(), "a", size); err == nil {
			kept++
		}
	}
	if kept != store.IndexHistorySizes {
		t.Errorf("%d older sizes provable after a burst, want %d", kept, store.IndexHistorySizes)
	}
}
