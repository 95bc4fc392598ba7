package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// mirrorList signs version v of a mirror list with the fixture's key, and
// returns it with the leaf that records it.
func (f *fixture) mirrorList(v uint64, urls ...string) (signed, leaf []byte) {
	f.t.Helper()
	m := &catalog.MirrorList{Version: v, Time: f.now, URLs: urls}
	signed, err := m.Sign(f.pub.Signer, f.id())
	if err != nil {
		f.t.Fatal(err)
	}
	return signed, (&catalog.Leaf{Kind: catalog.KindMirrorList, Version: v, Digest: sha256.Sum256(signed)}).Encode()
}

func (f *fixture) storedMirrorList() []byte {
	f.t.Helper()
	b, err := f.st.MirrorList(f.id())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func TestMirrorListApply(t *testing.T) {
	f := newFixture(t)
	f.init()
	if _, err := f.st.MirrorList(f.id()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MirrorList of a log without one: %v", err)
	}
	if _, err := f.st.MirrorList("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MirrorList of an unknown publisher: %v", err)
	}

	// Version 1, with its leaf.
	ml1, leaf1 := f.mirrorList(1, "https://a.example/")
	u := f.next(leaf1)
	u.MirrorList = ml1
	if res := f.apply(u); !res.MirrorList {
		t.Error("Result.MirrorList is false for a new list")
	}
	if got := f.storedMirrorList(); !bytes.Equal(got, ml1) {
		t.Fatalf("stored list\n%s\nwant\n%s", got, ml1)
	}
	f.checkClean()

	// The same list again, alone: nothing changes.
	if res := f.apply(&store.Update{MirrorList: ml1}); res.MirrorList {
		t.Error("the stored list again is reported as new")
	}

	// Version 2's leaf without its list (a mirror in the middle of a
	// sync): the superseded list is dropped.
	f.tick()
	ml2, leaf2 := f.mirrorList(2, "https://a.example/", "h3://b.example:443")
	f.apply(f.next(leaf2))
	if got := f.storedMirrorList(); got != nil {
		t.Fatalf("store kept the superseded list\n%s", got)
	}
	f.checkClean()
	// Version 1 is no longer the latest.
	if _, err := f.st.Apply(f.pub.Root.Public(), &store.Update{MirrorList: ml1}); err == nil || !strings.Contains(err.Error(), "newest mirror-list leaf") {
		t.Fatalf("Apply of a superseded list: %v", err)
	}
	// Then the list arrives, alone.
	if res := f.apply(&store.Update{MirrorList: ml2}); !res.MirrorList {
		t.Error("Result.MirrorList is false for the list arriving after its leaf")
	}
	if got := f.storedMirrorList(); !bytes.Equal(got, ml2) {
		t.Fatalf("stored list\n%s\nwant\n%s", got, ml2)
	}
	// Other leaves leave the list alone.
	f.apply(f.next(retraction("a", 1, f.now)))
	if got := f.storedMirrorList(); !bytes.Equal(got, ml2) {
		t.Fatal("a retraction removed the mirror list")
	}
	f.checkClean()
}

func TestMirrorListApplyRefuses(t *testing.T) {
	f := newFixture(t)
	f.init()
	ml1, leaf1 := f.mirrorList(1, "https://a.example/")
	other := testkeys.New(t, "other")
	foreign, err := (&catalog.MirrorList{Version: 1, Time: f.now}).Sign(other.Signer, f.id())
	if err != nil {
		t.Fatal(err)
	}
	ml2, _ := f.mirrorList(2, "https://b.example/")
	flipped := bytes.Replace(ml1, []byte("a.example"), []byte("b.example"), 1)
	before := f.snapshot()
	for _, tc := range []struct {
		name string
		u    *store.Update
		want string
	}{
		{"list without a leaf", &store.Update{MirrorList: ml1}, "log records none"},
		{"list not the leaf's", func() *store.Update { u := f.next(leaf1); u.MirrorList = ml2; return u }(), "newest mirror-list leaf"},
		{"list by another key", func() *store.Update { u := f.next(leaf1); u.MirrorList = foreign; return u }(), "not signed by any signing key"},
		{"edited list", func() *store.Update { u := f.next(leaf1); u.MirrorList = flipped; return u }(), "signature"},
		{"garbage", func() *store.Update { u := f.next(leaf1); u.MirrorList = []byte("x"); return u }(), "mirror list"},
	} {
		_, err := f.st.Apply(f.pub.Root.Public(), tc.u)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Apply = %v, want one line with %q", tc.name, err, tc.want)
		}
	}
	if after := f.snapshot(); after != before {
		t.Error("a refused update changed the store")
	}
}

// TestMirrorListCheck damages the stored list and expects Check to say so.
func TestMirrorListCheck(t *testing.T) {
	f := newFixture(t)
	f.init()
	ml1, leaf1 := f.mirrorList(1, "https://a.example/")
	u := f.next(leaf1)
	u.MirrorList = ml1
	f.apply(u)
	f.checkClean()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"edited", bytes.Replace(ml1, []byte("a.example"), []byte("b.example"), 1), "signature"},
		{"another version", func() []byte { b, _ := f.mirrorList(7); return b }(), "newest mirror-list leaf"},
	} {
		f.withDB(func(db *bolt.DB) {
			if err := db.Update(func(tx *bolt.Tx) error { return pubBucket(tx, f.id()).Put([]byte("mirror-list"), tc.data) }); err != nil {
				t.Fatal(err)
			}
		})
		probs := f.check()
		if len(probs) != 1 || probs[0].What != "mirror list" || !strings.Contains(probs[0].Err.Error(), tc.want) {
			t.Errorf("%s: Check found\n%s", tc.name, problems(probs))
		}
	}
}
