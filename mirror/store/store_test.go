package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	if _, err := store.Open(dir, nil); !errors.Is(err, store.ErrNotStore) {
		t.Fatalf("Open of a missing store = %v, want ErrNotStore", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open without Create made the directory")
	}
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Dir() != dir {
		t.Errorf("Dir() = %q", st.Dir())
	}
	if ids, err := st.Publishers(); err != nil || len(ids) != 0 {
		t.Errorf("Publishers() = %v, %v", ids, err)
	}
	if _, err := st.Publisher("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Publisher(nobody) = %v", err)
	}
	// A second opener fails while the first holds the store.
	if _, err := store.Open(dir, nil); err == nil {
		t.Error("the store opened twice")
	}
	st.Close()
	st, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

func TestApply(t *testing.T) {
	f := newFixture(t)
	a, la := f.bundle("a", 1, "<p>a</p>")
	bb, lb := f.bundle("b", 1, "<p>b</p>", bundle.File{Name: "x.png", Type: "image/png", Data: []byte("png")})
	u := f.next(keyLeaf(1, f.pub.Statement), la, lb)
	u.Statement = f.pub.Statement
	u.Bundles = [][]byte{a, bb}
	res := f.apply(u)
	want := store.Result{Size: 3, LeavesAdded: 3, BundlesAdded: 2, Statement: true, Checkpoint: true}
	if *res != want {
		t.Errorf("Result = %+v, want %+v", *res, want)
	}
	if ids, _ := f.st.Publishers(); !slices.Equal(ids, []string{f.id()}) {
		t.Errorf("Publishers() = %v", ids)
	}
	p, err := f.st.Publisher(f.id())
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 3 || !bytes.Equal(p.Statement, f.pub.Statement) || !bytes.Equal(p.Checkpoint, u.Checkpoint) || !p.Root.Equal(f.pub.Root.Public()) {
		t.Errorf("Publisher() = %+v", p)
	}
	leaves, err := f.st.Leaves(f.id(), 0, 3)
	if err != nil || !reflect.DeepEqual(leaves, u.Leaves) {
		t.Errorf("Leaves = %x, %v", leaves, err)
	}
	if _, err := f.st.Leaves(f.id(), 0, 4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Leaves beyond the log: %v", err)
	}
	art, err := f.st.Article(f.id(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if want := (catalog.Article{ID: "b", Revision: 1, Digest: sha256.Sum256(bb), Leaf: 2}); *art != want {
		t.Errorf("Article(b) = %+v, want %+v", *art, want)
	}
	if _, err := f.st.Article(f.id(), "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Article(zz): %v", err)
	}
	arts, err := f.st.Articles(f.id())
	if err != nil || len(arts) != 2 || arts[0].ID != "b" || arts[1].ID != "a" {
		t.Errorf("Articles() = %+v, %v; want b then a", arts, err)
	}
	for _, raw := range [][]byte{a, bb} {
		d := bundle.Digest(sha256.Sum256(raw))
		if !f.st.HasBundle(d) {
			t.Errorf("HasBundle(%s) = false", d)
		}
		if got, err := f.st.Bundle(d); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("Bundle(%s): %v", d, err)
		}
	}
	if _, err := f.st.Bundle(bundle.Digest{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Bundle(zero): %v", err)
	}
	tr, err := f.st.Trust(f.pub.Root.Public())
	if err != nil || tr.Statement().Version != 1 {
		t.Errorf("Trust: %v", err)
	}
	if _, err := f.st.Trust(testkeys.New(t, "other").Root.Public()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Trust of an unknown publisher: %v", err)
	}
	f.checkClean()

	// The same update again changes nothing.
	before := f.snapshot()
	res, err = f.st.Apply(f.pub.Root.Public(), &store.Update{Statement: u.Statement, Checkpoint: u.Checkpoint, Bundles: u.Bundles})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if want := (store.Result{Size: 3}); *res != want {
		t.Errorf("replay Result = %+v, want %+v", *res, want)
	}
	if after := f.snapshot(); after != before {
		t.Errorf("replay changed the store:\n%s\n---\n%s", before, after)
	}

	// A later checkpoint of the same log refreshes the stored one.
	fresh := f.signCP(f.log, 3, f.tick())
	res, err = f.st.Apply(f.pub.Root.Public(), &store.Update{Checkpoint: fresh})
	if err != nil || !res.Checkpoint {
		t.Fatalf("refresh: %+v, %v", res, err)
	}
	if p, _ := f.st.Publisher(f.id()); !bytes.Equal(p.Checkpoint, fresh) {
		t.Error("refreshed checkpoint not stored")
	}
	f.checkClean()
}

// TestApplyBundlesLater applies leaves first and their bundles in a later
// update, as a mirror that syncs the log before the bundles does.
func TestApplyBundlesLater(t *testing.T) {
	f := newFixture(t)
	a, la := f.bundle("a", 1, "<p>a</p>")
	u := f.next(keyLeaf(1, f.pub.Statement), la)
	u.Statement = f.pub.Statement
	f.apply(u)
	if f.st.HasBundle(sha256.Sum256(a)) {
		t.Fatal("bundle present before it was given")
	}
	res := f.apply(&store.Update{Bundles: [][]byte{a, a}})
	if res.BundlesAdded != 1 {
		t.Errorf("BundlesAdded = %d, want 1", res.BundlesAdded)
	}
	if !f.st.HasBundle(sha256.Sum256(a)) {
		t.Fatal("bundle not stored")
	}
	f.checkClean()
}

// TestApplySameBundleTwice gives one bundle twice in the update that adds
// its leaf.
func TestApplySameBundleTwice(t *testing.T) {
	f := newFixture(t)
	a, la := f.bundle("a", 1, "<p>a</p>")
	u := f.next(keyLeaf(1, f.pub.Statement), la)
	u.Statement = f.pub.Statement
	u.Bundles = [][]byte{a, a}
	if res := f.apply(u); res.BundlesAdded != 1 {
		t.Errorf("BundlesAdded = %d, want 1", res.BundlesAdded)
	}
	if !f.st.HasBundle(sha256.Sum256(a)) {
		t.Fatal("a bundle given twice was not stored")
	}
	f.checkClean()
}

func TestApplyRefusesAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	a1, b1 := f.init()
	// Revision 2 of a supersedes revision 1.
	a2, la2 := f.bundle("a", 2, "<p>article a, revision 2</p>")
	u := f.next(la2)
	u.Bundles = [][]byte{a2}
	f.apply(u)
	if f.st.HasBundle(sha256.Sum256(a1)) {
		t.Fatal("revision 1 still stored")
	}
	oldCP := u.Checkpoint
	size := int64(len(f.log.leaves))
	root := f.pub.Root.Public()

	other := testkeys.New(t, "other")
	otherBundle, _ := buildBundle(t, other, "a", 3, f.now, "<p>other</p>")
	ghost, ghostLeaf := f.bundle("ghost", 1, "<p>not in the log</p>")
	c3, lc3 := f.bundle("c", 1, "<p>c</p>")
	// Bundles the publisher's keys signed for the current revision of an
	// article, but not the ones its leaf records: only the check that a
	// bundle's digest is its leaf's refuses them.
	a2other, _ := f.bundle("a", 2, "<p>article a, revision 2, another text</p>")
	c3other, _ := f.bundle("c", 1, "<p>c, another text</p>")
	tampered := bytes.Clone(c3)
	tampered[len(tampered)-3] ^= 1
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(f.pub.Signer)})
	stmt2b := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(f.pub.Signer), testkeys.Delegate(testkeys.Key(t, "extra", keys.RoleSigning))})
	undelegated := testkeys.Key(t, "pub-undelegated", keys.RoleSigning)

	// Move the store to key statement version 2, for the rollback case,
	// and retract b.
	u2 := f.next(keyLeaf(2, stmt2), retraction("b", 1, f.now))
	u2.Statement = stmt2
	f.apply(u2)
	size += 2

	withTree := func(leaves ...[]byte) *store.Update { return f.next(leaves...) }
	forkRoot := func(at time.Time) []byte {
		c := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: size, Root: tlog.Hash{1, 2, 3}, Time: at}
		b, err := c.Sign(f.pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongLeaves := func() *store.Update {
		// A checkpoint over leaf c, offered with leaf ghost.
		u := f.next(lc3)
		u.Leaves = [][]byte{ghostLeaf}
		return u
	}
	signedBy := func(k *keys.PrivateKey, leaves ...[]byte) *store.Update {
		l := f.log.with(t, leaves...)
		c := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: int64(len(l.leaves)), Root: l.root(t, int64(len(l.leaves))), Time: f.tick()}
		b, err := c.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		return &store.Update{Leaves: leaves, Checkpoint: b}
	}
	with := func(u *store.Update, fn func(u *store.Update)) *store.Update { fn(u); return u }

	tests := []struct {
		name  string
		root  *keys.PublicKey
		u     *store.Update
		stale bool // want ErrStale
		fork  bool // want *ForkError
		rule  bool // want catalog.ErrRule
	}{
		{name: "tampered bundle with its leaf", u: with(withTree(lc3), func(u *store.Update) { u.Bundles = [][]byte{tampered} })},
		{name: "tampered bundle alone", u: &store.Update{Bundles: [][]byte{func() []byte { b := bytes.Clone(a2); b[len(b)-1] ^= 1; return b }()}}},
		{name: "good leaf, good bundle, tampered bundle", u: with(withTree(lc3), func(u *store.Update) { u.Bundles = [][]byte{c3, tampered} })},
		{name: "bundle of another publisher", u: &store.Update{Bundles: [][]byte{otherBundle}}},
		{name: "bundle not in the log", u: &store.Update{Bundles: [][]byte{ghost}}},
		{name: "good leaf with a bundle not in the log", u: with(withTree(lc3), func(u *store.Update) { u.Bundles = [][]byte{c3, ghost} })},
		{name: "bundle of the current revision, not the one its leaf records", u: &store.Update{Bundles: [][]byte{a2other}}},
		{name: "bundle of a new leaf's revision, not the one the leaf records", u: with(withTree(lc3), func(u *store.Update) { u.Bundles = [][]byte{c3other} })},
		{name: "bundle of a superseded revision", u: &store.Update{Bundles: [][]byte{a1}}},
		{name: "bundle of a retracted article", u: &store.Update{Bundles: [][]byte{b1}}},
		{name: "bundle of a retracted article with a new leaf", u: with(withTree(lc3), func(u *store.Update) { u.Bundles = [][]byte{c3, b1} })},
		{name: "older checkpoint", u: &store.Update{Checkpoint: oldCP}, stale: true},
		{name: "older checkpoint with a leaf", u: &store.Update{Checkpoint: oldCP, Leaves: [][]byte{lc3}}, stale: true},
		{name: "same log, earlier time", u: &store.Update{Checkpoint: f.signCP(f.log, size, start)}, stale: true},
		{name: "fork: same size, other root", u: &store.Update{Checkpoint: forkRoot(f.now.Add(time.Hour))}, fork: true},
		{name: "fork: same size, other root, earlier time", u: &store.Update{Checkpoint: forkRoot(start)}, fork: true},
		{name: "fork: leaves do not match the root", u: wrongLeaves(), fork: true},
		{name: "leaves without a checkpoint", u: &store.Update{Leaves: [][]byte{lc3}, Bundles: [][]byte{c3}}},
		{name: "checkpoint does not cover the leaves", u: with(withTree(lc3), func(u *store.Update) { u.Leaves = nil })},
		{name: "checkpoint short of the leaves", u: with(withTree(lc3), func(u *store.Update) { u.Leaves = append(u.Leaves, ghostLeaf) })},
		{name: "key statement with a lower version", u: &store.Update{Statement: f.pub.Statement}},
		{name: "key statement with a lower version and new leaves", u: with(withTree(lc3), func(u *store.Update) { u.Statement = f.pub.Statement; u.Bundles = [][]byte{c3} })},
		{name: "another key statement with the same version", u: &store.Update{Statement: stmt2b}},
		{name: "key statement of another publisher", u: &store.Update{Statement: other.Statement}},
		{name: "checkpoint by an undelegated key", u: signedBy(undelegated, lc3)},
		{name: "checkpoint by another publisher", u: &store.Update{Checkpoint: func() []byte {
			c := &catalog.Checkpoint{Origin: catalog.Origin(other.ID()), Size: size, Root: f.log.root(t, size), Time: f.tick()}
			b, _ := c.Sign(other.Signer)
			return b
		}()}},
		{name: "revision does not grow", u: withTree(func() []byte { _, l := f.bundle("a", 2, "<p>again</p>"); return l }()), rule: true},
		{name: "retraction of an older revision", u: withTree(retraction("a", 1, f.now)), rule: true},
		{name: "key statement leaf version does not grow", u: withTree(keyLeaf(2, stmt2b)), rule: true},
		{name: "key statement leaf for a version not given", u: withTree(keyLeaf(3, stmt2b))},
		{name: "key statement leaf for another statement of the given version", u: with(withTree(keyLeaf(3, stmt2b)), func(u *store.Update) {
			u.Statement = f.pub.Sign(t, 3, []keys.Delegation{testkeys.Delegate(f.pub.Signer)})
		})},
		{name: "unparsable leaf", u: withTree([]byte{9, 9, 9})},
		{name: "another root key", root: other.Root.Public(), u: &store.Update{Checkpoint: oldCP}},
		{name: "first update without a statement", root: other.Root.Public(), u: &store.Update{Bundles: [][]byte{otherBundle}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot()
			r := root
			if tt.root != nil {
				r = tt.root
			}
			res, err := f.st.Apply(r, tt.u)
			if err == nil {
				t.Fatalf("Apply accepted it: %+v", res)
			}
			t.Log(err)
			if got := errors.Is(err, store.ErrStale); got != tt.stale {
				t.Errorf("errors.Is(err, ErrStale) = %v, want %v", got, tt.stale)
			}
			if got := errors.Is(err, catalog.ErrRollback); got != tt.stale {
				t.Errorf("errors.Is(err, catalog.ErrRollback) = %v, want %v", got, tt.stale)
			}
			var fe *catalog.ForkError
			if got := errors.As(err, &fe); got != tt.fork {
				t.Errorf("error is a *catalog.ForkError: %v, want %v", got, tt.fork)
			} else if got && (!strings.Contains(err.Error(), f.id()) || fe.Got == nil || fe.Have == nil || fe.Size < size) {
				t.Errorf("ForkError lacks data: %v %+v", err, fe)
			}
			if got := errors.Is(err, catalog.ErrRule); got != tt.rule {
				t.Errorf("errors.Is(err, catalog.ErrRule) = %v, want %v", got, tt.rule)
			}
			if after := f.snapshot(); after != before {
				t.Errorf("the refused update changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	f.checkClean()
	// The store still takes a good update.
	u = f.next(lc3)
	u.Bundles = [][]byte{c3}
	f.apply(u)
	f.checkClean()
}

func TestSupersedeAndRetract(t *testing.T) {
	f := newFixture(t)
	a1, b1 := f.init()
	a2, la2 := f.bundle("a", 2, "<p>a, revision 2</p>")
	u := f.next(la2)
	u.Bundles = [][]byte{a2}
	if res := f.apply(u); res.BundlesAdded != 1 || res.LeavesAdded != 1 {
		t.Errorf("Result = %+v", res)
	}
	if _, err := os.Stat(f.bundlePath(a1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("revision 1's bundle file is still there: %v", err)
	}
	if f.st.HasBundle(sha256.Sum256(a1)) {
		t.Error("HasBundle(revision 1) = true")
	}
	if _, err := os.Stat(f.bundlePath(a2)); err != nil {
		t.Errorf("revision 2's bundle file: %v", err)
	}
	if a, _ := f.st.Article(f.id(), "a"); a.Revision != 2 || a.Digest != sha256.Sum256(a2) {
		t.Errorf("Article(a) = %+v", a)
	}
	f.checkClean()

	// Retraction: the payload goes, the leaves stay.
	at := f.now.Add(30 * time.Second)
	sizeBefore := len(f.log.leaves)
	f.apply(f.next(retraction("b", 1, at)))
	if _, err := os.Stat(f.bundlePath(b1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("retracted bundle file is still there: %v", err)
	}
	if f.st.HasBundle(sha256.Sum256(b1)) {
		t.Error("HasBundle(retracted) = true")
	}
	a, err := f.st.Article(f.id(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if want := (catalog.Article{ID: "b", Revision: 1, Digest: sha256.Sum256(b1), Leaf: int64(sizeBefore), Retracted: true, Time: at.UTC()}); *a != want {
		t.Errorf("Article(b) = %+v, want %+v", *a, want)
	}
	leaves, err := f.st.Leaves(f.id(), 0, int64(len(f.log.leaves)))
	if err != nil || !reflect.DeepEqual(leaves, f.log.leaves) {
		t.Errorf("the leaves changed after a retraction: %v", err)
	}
	f.checkClean()
	entries, _ := os.ReadDir(filepath.Join(f.dir, "tmp"))
	if len(entries) != 0 {
		t.Errorf("tmp/ holds %d files", len(entries))
	}

	// A retracted article may come back as a new revision.
	b2, lb2 := f.bundle("b", 2, "<p>b is back</p>")
	u = f.next(lb2)
	u.Bundles = [][]byte{b2}
	f.apply(u)
	if a, _ := f.st.Article(f.id(), "b"); a.Retracted || a.Revision != 2 {
		t.Errorf("Article(b) = %+v", a)
	}
	f.checkClean()
}

func TestReopen(t *testing.T) {
	f := newFixture(t)
	f.init()
	before := f.snapshot()
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.st, err = store.Open(f.dir, nil); err != nil {
		t.Fatal(err)
	}
	if after := f.snapshot(); after != before {
		t.Errorf("reopening changed the store:\n%s\n---\n%s", before, after)
	}
	f.checkClean()
}

func TestOpenCleansUp(t *testing.T) {
	f := newFixture(t)
	a1, _ := f.init()
	a2, la2 := f.bundle("a", 2, "<p>a2</p>")
	u := f.next(la2)
	u.Bundles = [][]byte{a2}
	f.apply(u)
	want := f.snapshot()

	// Leftovers of a crash: a temporary file, and a superseded bundle
	// whose garbage entry was committed but whose file was not deleted.
	tmp := filepath.Join(f.dir, "tmp", "abc.123")
	if err := os.WriteFile(tmp, []byte("half a bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.bundlePath(a1), a1, 0o644); err != nil {
		t.Fatal(err)
	}
	d1 := sha256.Sum256(a1)
	// withDB closes the store, records the garbage entry, and opens the
	// store again: that Open must clean up.
	f.withDB(func(db *bolt.DB) {
		err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("garbage")).Put(d1[:], nil) })
		if err != nil {
			t.Fatal(err)
		}
	})
	for _, p := range []string{tmp, f.bundlePath(a1)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after Open: %v", p, err)
		}
	}
	if got := f.snapshot(); got != want {
		t.Errorf("after Open:\n%s\nwant:\n%s", got, want)
	}
	f.checkClean()
}

func TestNextRoot(t *testing.T) {
	f := newFixture(t)
	if n, h, err := f.st.NextRoot(f.id(), nil); err != nil || n != 0 || h != (tlog.Hash{}) {
		t.Errorf("NextRoot of an empty log = %d, %v, %v", n, h, err)
	}
	var leaves [][]byte
	for i := range 3 {
		_, l := f.bundle("a", uint64(i+1), "x")
		leaves = append(leaves, l)
	}
	n, h, err := f.st.NextRoot(f.id(), leaves)
	if want := f.log.with(t, leaves...).root(t, 3); err != nil || n != 3 || h != want {
		t.Errorf("NextRoot of a new log = %d, %v, %v; want 3, %v", n, h, err, want)
	}
	f.init()
	for round := range 12 {
		var batch, bundles [][]byte
		for j := range round % 4 {
			raw, l := f.bundle(fmt.Sprintf("x%d", j), uint64(round+1), "x")
			batch, bundles = append(batch, l), append(bundles, raw)
		}
		n, h, err := f.st.NextRoot(f.id(), batch)
		if err != nil {
			t.Fatal(err)
		}
		u := f.next(batch...)
		u.Bundles = bundles
		f.apply(u)
		p, _ := f.st.Publisher(f.id())
		c := f.cps[p.Size]
		if n != p.Size || h != c.Root {
			t.Fatalf("round %d: NextRoot gave %d %v; after Apply the log is %d %v", round, n, h, p.Size, c.Root)
		}
		if n, h, _ := f.st.NextRoot(f.id(), nil); n != p.Size || h != c.Root {
			t.Fatalf("round %d: NextRoot(nil) = %d %v, want %d %v", round, n, h, p.Size, c.Root)
		}
	}
	f.checkClean()
}

func TestProofs(t *testing.T) {
	f := newFixture(t)
	f.init()
	for i := range 30 {
		var batch [][]byte
		for j := range i%3 + 1 {
			_, l := f.bundle("p", uint64(i*10+j+1), "x")
			batch = append(batch, l)
		}
		f.apply(f.next(batch...))
	}
	p, _ := f.st.Publisher(f.id())
	var sizes []int64
	for s := range f.cps {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	if len(sizes) != 31 || sizes[len(sizes)-1] != p.Size {
		t.Fatalf("checkpoints at sizes %v", sizes)
	}
	for _, size := range sizes {
		c := f.cps[size]
		for n := range size {
			proof, err := f.st.InclusionProof(f.id(), n, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := catalog.CheckInclusion(c, n, f.log.leaves[n], proof); err != nil {
				t.Fatalf("leaf %d in size %d: %v", n, size, err)
			}
		}
		for _, older := range sizes {
			if older >= size {
				break
			}
			proof, err := f.st.ConsistencyProof(f.id(), older, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := catalog.CheckConsistency(f.cps[older], c, proof); err != nil {
				t.Fatalf("%d -> %d: %v", older, size, err)
			}
		}
	}
	for _, bad := range [][2]int64{{-1, p.Size}, {p.Size, p.Size}, {0, p.Size + 1}} {
		if _, err := f.st.InclusionProof(f.id(), bad[0], bad[1]); err == nil {
			t.Errorf("InclusionProof(%d, %d) made a proof", bad[0], bad[1])
		}
	}
	for _, bad := range [][2]int64{{0, p.Size}, {3, 2}, {1, p.Size + 1}} {
		if _, err := f.st.ConsistencyProof(f.id(), bad[0], bad[1]); err == nil {
			t.Errorf("ConsistencyProof(%d, %d) made a proof", bad[0], bad[1])
		}
	}
	if _, err := f.st.InclusionProof("nobody", 0, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InclusionProof of an unknown publisher: %v", err)
	}
}

// TestKeyRotation revokes the signing key that signed the stored
// checkpoint and its bundles, and goes on with a new one.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	f.init()
	newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public())
	old := f.pub.Signer
	f.pub.Signer = newKey
	defer func() { f.pub.Signer = old }()

	// Revision 2 of a, signed with the new key; b stays at revision 1,
	// signed by the revoked key.
	a2, la2 := f.bundle("a", 2, "<p>a2</p>")
	u := f.next(keyLeaf(2, stmt2), la2)
	u.Statement = stmt2
	u.Bundles = [][]byte{a2}
	res := f.apply(u)
	if !res.Statement || !res.Checkpoint || res.BundlesAdded != 1 {
		t.Errorf("Result = %+v", res)
	}
	// Check reports b's bundle, whose key the publisher revoked, and
	// nothing else.
	probs := f.check()
	if len(probs) != 1 || probs[0].What != `article "b"` {
		t.Errorf("Check found:\n%s; want one problem with article b", problems(probs))
	}
	// A new bundle signed by the revoked key is refused.
	f.pub.Signer = old
	d1, ld1 := f.bundle("d", 1, "<p>d</p>")
	f.pub.Signer = newKey
	u = f.next(ld1)
	u.Bundles = [][]byte{d1}
	if _, err := f.st.Apply(f.pub.Root.Public(), u); err == nil {
		t.Error("a bundle signed by a revoked key was accepted")
	}
	b2, lb2 := f.bundle("b", 2, "<p>b2</p>")
	u = f.next(lb2)
	u.Bundles = [][]byte{b2}
	f.apply(u)
	f.checkClean()
}

// TestKeyRotationWithoutCheckpoint applies a key statement that revokes
// the stored checkpoint's key on its own, before any new checkpoint.
func TestKeyRotationWithoutCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.init()
	newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public())
	f.apply(&store.Update{Statement: stmt2})
	f.pub.Signer = newKey
	c, lc := f.bundle("c", 1, "<p>c</p>")
	u := f.next(keyLeaf(2, stmt2), lc)
	u.Bundles = [][]byte{c}
	f.apply(u)
}

// TestApplyKeyLeafMustMatchStatement gives a key statement leaf whose
// digest is not that of the statement of its version.
func TestApplyKeyLeafMustMatchStatement(t *testing.T) {
	f := newFixture(t)
	f.init()
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(f.pub.Signer)})
	u := f.next(keyLeaf(2, []byte("some other statement")))
	u.Statement = stmt2
	before := f.snapshot()
	if _, err := f.st.Apply(f.pub.Root.Public(), u); err == nil {
		t.Fatal("a key statement leaf that records another statement was accepted")
	}
	if after := f.snapshot(); after != before {
		t.Error("the refused update changed the store")
	}
	f.checkClean()
}

// TestApplyStatementEncoding gives the stored key statement again with a
// non-canonical signature encoding: the same statement, other bytes.
func TestApplyStatementEncoding(t *testing.T) {
	f := newFixture(t)
	f.init()
	s := f.pub.Statement
	i := bytes.LastIndexByte(s, '=') - 1
	alt := bytes.Clone(s)
	alt[i] ^= 1 // flips a padding bit of the last base64 digit
	before := f.snapshot()
	if _, err := f.st.Apply(f.pub.Root.Public(), &store.Update{Statement: alt}); err == nil {
		t.Error("a statement with a non-canonical signature encoding was accepted")
	}
	if after := f.snapshot(); after != before {
		t.Error("the refused update changed the store")
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	f.init()
	others := []*fixture{}
	for _, name := range []string{"p1", "p2"} {
		o := &fixture{t: t, dir: f.dir, st: f.st, pub: testkeys.New(t, name), log: &memLog{}, now: start, cps: map[int64]*catalog.Checkpoint{}}
		others = append(others, o)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	// Writers: the fixture's publisher and two others, each applying its
	// own updates.
	var writers sync.WaitGroup
	for i, w := range append([]*fixture{f}, others...) {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for j := range 15 {
				raw, l := w.bundle("w", uint64(j+1), "<p>writer</p>")
				var u *store.Update
				if i > 0 && j == 0 {
					u = w.next(keyLeaf(1, w.pub.Statement), l)
					u.Statement = w.pub.Statement
				} else {
					u = w.next(l)
				}
				u.Bundles = [][]byte{raw}
				if _, err := w.st.Apply(w.pub.Root.Public(), u); err != nil {
					errs <- err
					return
				}
				w.log = w.log.with(t, u.Leaves...)
			}
		}()
	}
	// Readers.
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := f.st.Publisher(f.id())
				if err != nil {
					errs <- err
					return
				}
				if _, err := f.st.Leaves(f.id(), 0, p.Size); err != nil {
					errs <- err
					return
				}
				if _, err := f.st.InclusionProof(f.id(), p.Size-1, p.Size); err != nil {
					errs <- err
					return
				}
				if _, err := f.st.Articles(f.id()); err != nil {
					errs <- err
					return
				}
				if _, _, err := f.st.NextRoot(f.id(), nil); err != nil {
					errs <- err
					return
				}
				f.st.Publishers()
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, w := range append([]*fixture{f}, others...) {
		probs, err := f.st.Check(w.pub.Root.Public(), nil)
		if err != nil || len(probs) > 0 {
			t.Errorf("publisher %s: Check: %v\n%s", w.pub.Root.Name(), err, problems(probs))
		}
		if a, err := f.st.Article(w.id(), "w"); err != nil || a.Revision != 15 {
			t.Errorf("publisher %s: article w: %+v, %v", w.pub.Root.Name(), a, err)
		}
	}
	if ids, _ := f.st.Publishers(); len(ids) != 3 {
		t.Errorf("Publishers() = %v", ids)
	}
}

func TestOpenCreateRefusesFolderOfOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dir, &store.Options{Create: true}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Open(Create) in a folder of other files = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "store.db")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the refused Open left a store.db behind")
	}
	// An empty existing folder is fine.
	st, err := store.Open(t.TempDir(), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

func TestOpenReadOnly(t *testing.T) {
	f := newFixture(t)
	f.init()
	want := f.snapshot()
	f.st.Close()
	if _, err := store.Open(filepath.Join(t.TempDir(), "none"), &store.Options{ReadOnly: true, Create: true}); !errors.Is(err, store.ErrNotStore) {
		t.Errorf("read-only Open of a missing store = %v, want ErrNotStore", err)
	}
	ro, err := store.Open(f.dir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f.st = ro
	f.checkClean()
	if _, err := ro.Apply(f.pub.Root.Public(), &store.Update{Statement: f.pub.Statement}); err == nil {
		t.Error("Apply on a read-only store succeeded")
	}
	if got := f.snapshot(); got != want {
		t.Errorf("read-only use changed the store:\n%s\nwant:\n%s", got, want)
	}
}

// TestOpenRemovesIntendedFiles: Open removes the files that the intents
// of an interrupted Apply name and no record holds, keeps those a record
// holds, and forgets the intents. It lists no folder of bundles: a file
// no intent names stays (a store of this version never leaves one), so
// Open's time does not grow with the store.
func TestOpenRemovesIntendedFiles(t *testing.T) {
	f := newFixture(t)
	a, _ := f.init()
	orphan, _ := f.bundle("c", 1, "<p>never committed</p>")
	unwritten, _ := f.bundle("d", 1, "<p>never written</p>")
	stray, _ := f.bundle("e", 1, "<p>named by no intent</p>")
	for _, raw := range [][]byte{orphan, stray} {
		if err := os.WriteFile(f.bundlePath(raw), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// withDB records the intents of an Apply that wrote orphan and
	// stopped before writing unwritten, as a crash leaves them, and
	// opens the store again: that Open must clean up.
	f.withDB(func(db *bolt.DB) {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, raw := range [][]byte{a, orphan, unwritten} {
				d := sha256.Sum256(raw)
				if err := tx.Bucket([]byte("intents")).Put(d[:], nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(f.bundlePath(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unrecorded file an intent names is still there after Open: %v", err)
	}
	if _, err := os.Stat(f.bundlePath(a)); err != nil {
		t.Errorf("a recorded bundle an intent names was removed: %v", err)
	}
	if _, err := os.Stat(f.bundlePath(stray)); err != nil {
		t.Errorf("Open removed a file no intent names, so it lists the bundles: %v", err)
	}
	f.withDB(func(db *bolt.DB) {
		db.View(func(tx *bolt.Tx) error {
			if n := tx.Bucket([]byte("intents")).Stats().KeyN; n != 0 {
				t.Errorf("%d intents left after Open", n)
			}
			return nil
		})
	})
	f.checkClean()
}

// TestOpenSweepsEarlierVersion: a store of an earlier version has no
// intents bucket, and its interrupted writes left files that no intent
// names: the first Open lists the bundle files once and removes those no
// record holds; later ones do not list them.
func TestOpenSweepsEarlierVersion(t *testing.T) {
	f := newFixture(t)
	a, _ := f.init()
	orphan, _ := f.bundle("c", 1, "<p>never committed</p>")
	if err := os.WriteFile(f.bundlePath(orphan), orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	f.withDB(func(db *bolt.DB) {
		if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("intents")) }); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(f.bundlePath(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unrecorded bundle file of an earlier version still there after Open: %v", err)
	}
	if _, err := os.Stat(f.bundlePath(a)); err != nil {
		t.Errorf("a recorded bundle was removed: %v", err)
	}
	f.checkClean()
	// Swept once: the next Open lists nothing.
	if err := os.WriteFile(f.bundlePath(orphan), orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	f.withDB(func(*bolt.DB) {})
	if _, err := os.Stat(f.bundlePath(orphan)); err != nil {
		t.Errorf("a second Open listed the bundle files again: %v", err)
	}
}

// TestApplyWriteFails: when a bundle file cannot be written, Apply fails,
// removes the files it wrote and forgets their intents: the store is as
// before, and takes the update once the disk is fixed.
func TestApplyWriteFails(t *testing.T) {
	f := newFixture(t)
	f.init()
	var raws, leaves [][]byte
	prefixes := map[string]bool{}
	for i := 0; len(raws) < 3; i++ {
		raw, l := f.bundle(fmt.Sprintf("c%d", i), 1, fmt.Sprintf("<p>article c%d</p>", i))
		if p := filepath.Base(filepath.Dir(f.bundlePath(raw))); !prefixes[p] {
			prefixes[p] = true
			raws, leaves = append(raws, raw), append(leaves, l)
		}
	}
	// A folder where the last bundle's file goes: its write fails.
	if err := os.Mkdir(f.bundlePath(raws[2]), 0o755); err != nil {
		t.Fatal(err)
	}
	before := f.snapshot()
	u := f.next(leaves...)
	u.Bundles = raws
	if _, err := f.st.Apply(f.pub.Root.Public(), u); err == nil {
		t.Fatal("Apply succeeded with a bundle it could not write")
	}
	if after := f.snapshot(); after != before {
		t.Errorf("the failed Apply left:\n%s\nwant the store from before:\n%s", after, before)
	}
	os.Remove(f.bundlePath(raws[2]))
	f.apply(u)
	f.checkClean()
}

func TestQuota(t *testing.T) {
	f := newFixture(t)
	a, b := f.init()
	used := int64(len(a) + len(b))
	if p, err := f.st.Publisher(f.id()); err != nil || p.Bytes != used {
		t.Fatalf("Bytes = %v, %v; want %d", p, err, used)
	}
	want := f.snapshot() // (snapshot reopens the store with default options)
	f.st.Close()
	var err error
	if f.st, err = store.Open(f.dir, &store.Options{Quota: used + 100}); err != nil {
		t.Fatal(err)
	}
	// A third article that does not fit is refused, and nothing stored.
	noise := make([]byte, 500) // stored as is: images are not compressed
	for i := range noise {
		noise[i] = byte(i*7919 + i*i)
	}
	big, lbig := f.bundle("c", 1, "<p>c</p>", bundle.File{Name: "c.png", Type: "image/png", Data: noise})
	u := f.next(lbig)
	u.Bundles = [][]byte{big}
	if _, err := f.st.Apply(f.pub.Root.Public(), u); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Apply over quota = %v, want ErrQuota", err)
	}
	if got := f.snapshot(); got != want {
		t.Errorf("a refused update changed the store:\n%s\nwant:\n%s", got, want)
	}
	// A new revision of a that is no larger fits: the old one is freed.
	a2, la2 := f.bundle("a", 2, "<p>a2</p>")
	u = f.next(la2)
	u.Bundles = [][]byte{a2}
	f.apply(u)
	if p, _ := f.st.Publisher(f.id()); p.Bytes != int64(len(a2)+len(b)) {
		t.Errorf("Bytes = %d after superseding, want %d", p.Bytes, len(a2)+len(b))
	}
	f.checkClean()
	// Check notices a byte count that does not match the bundles held.
	f.withDB(func(db *bolt.DB) {
		if err := db.Update(func(tx *bolt.Tx) error { return pubBucket(tx, f.id()).Put([]byte("bytes"), u64(1)) }); err != nil {
			t.Fatal(err)
		}
	})
	if probs := f.check(); len(probs) != 1 || probs[0].What != "bundle byte count" {
		t.Errorf("Check = %s, want one bundle byte count problem", problems(probs))
	}
}

func TestMissingBundles(t *testing.T) {
	f := newFixture(t)
	f.init()
	if miss, err := f.st.MissingBundles(f.id()); err != nil || len(miss) != 0 {
		t.Fatalf("MissingBundles = %v, %v; want none", miss, err)
	}
	// Leaves first, bundles later, as a mirror syncs: c is missing until
	// its bundle comes.
	c, lc := f.bundle("c", 1, "<p>c</p>")
	f.apply(f.next(lc))
	miss, err := f.st.MissingBundles(f.id())
	if err != nil || len(miss) != 1 || miss[0] != bundle.Digest(sha256.Sum256(c)) {
		t.Fatalf("MissingBundles = %v, %v; want c's digest", miss, err)
	}
	f.apply(&store.Update{Bundles: [][]byte{c}})
	if miss, _ := f.st.MissingBundles(f.id()); len(miss) != 0 {
		t.Errorf("MissingBundles after storing c = %v", miss)
	}
	// A retracted article is not missing.
	f.apply(f.next(retraction("a", 1, f.tick())))
	if miss, _ := f.st.MissingBundles(f.id()); len(miss) != 0 {
		t.Errorf("MissingBundles after retracting a = %v", miss)
	}
	if _, err := f.st.MissingBundles("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MissingBundles(nobody) = %v", err)
	}
}

func TestOnChange(t *testing.T) {
	f := newFixture(t)
	f.st.Close()
	var got []string
	st, err := store.Open(f.dir, &store.Options{OnChange: func(id string) { got = append(got, id) }})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	f.init()
	if len(got) != 1 || got[0] != f.id() {
		t.Fatalf("OnChange calls = %q, want one for %s", got, f.id())
	}
	// The same statement again changes nothing, and says nothing.
	if _, err := f.st.Apply(f.pub.Root.Public(), &store.Update{Statement: f.pub.Statement}); err != nil {
		t.Fatal(err)
	}
	// A refused update neither.
	if _, err := f.st.Apply(f.pub.Root.Public(), &store.Update{Bundles: [][]byte{[]byte("junk")}}); err == nil {
		t.Fatal("junk bundle accepted")
	}
	if len(got) != 1 {
		t.Errorf("OnChange calls = %q after updates that changed nothing", got)
	}
}

// TestRecentArticles pages through a log with superseded revisions, a
// retraction and a key statement leaf, and checks every page size against
// Articles; ArticleLeaves against it too.
func TestRecentArticles(t *testing.T) {
	f := newFixture(t)
	f.init() // leaves: key statement, a, b
	var leaves [][]byte
	var bundles [][]byte
	for _, id := range []string{"c", "d", "e"} {
		raw, l := f.bundle(id, 1, "<p>"+id+"</p>")
		leaves = append(leaves, l)
		if id != "d" { // retracted below, in the same update
			bundles = append(bundles, raw)
		}
	}
	a2, la2 := f.bundle("a", 2, "<p>a again</p>")
	u := f.next(append(leaves, la2, retraction("d", 1, f.now))...)
	u.Bundles = append(bundles, a2)
	f.apply(u)
	e2, le2 := f.bundle("e", 2, "<p>e again</p>")
	u = f.next(le2)
	u.Bundles = [][]byte{e2}
	f.apply(u)

	all, err := f.st.Articles(f.id())
	if err != nil || len(all) != 5 {
		t.Fatalf("Articles = %v, %v", all, err)
	}
	size := int64(len(f.log.leaves))
	for n := 1; n <= len(all)+1; n++ {
		var got []catalog.Article
		for before := size + 3; ; { // beyond the log: from the end
			page, err := f.st.RecentArticles(f.id(), before, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > n {
				t.Fatalf("n=%d: page of %d", n, len(page))
			}
			got = append(got, page...)
			if len(page) < n {
				break
			}
			before = page[len(page)-1].Leaf
		}
		if !slices.Equal(got, all) {
			t.Errorf("n=%d: pages = %v, want %v", n, got, all)
		}
	}
	if page, err := f.st.RecentArticles(f.id(), all[2].Leaf, 1); err != nil || len(page) != 1 || page[0] != all[3] {
		t.Errorf("RecentArticles(before the third) = %v, %v; want %v", page, err, all[3])
	}
	if page, err := f.st.RecentArticles(f.id(), size, 0); err != nil || page != nil {
		t.Errorf("RecentArticles(n=0) = %v, %v", page, err)
	}
	if page, err := f.st.RecentArticles(f.id(), 1, 10); err != nil || len(page) != 0 {
		t.Errorf("RecentArticles(before the first article) = %v, %v", page, err)
	}
	if _, err := f.st.RecentArticles("nobody", size, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecentArticles(nobody) = %v", err)
	}

	ls, retracted, err := f.st.ArticleLeaves(f.id())
	var want []int64
	for _, a := range all {
		want = append(want, a.Leaf)
	}
	if err != nil || !slices.Equal(ls, want) || retracted != 1 {
		t.Errorf("ArticleLeaves = %v, %d, %v; want %v, 1", ls, retracted, err, want)
	}
	if _, _, err := f.st.ArticleLeaves("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ArticleLeaves(nobody) = %v", err)
	}
}

// copyDir copies the files of a store directory, as a crash would leave
// them on disk (store.db is read as it is: no transaction is running).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashBeforeCommit looks at the store as a crash leaves it after an
// update's bundle files are written under their final names and made
// durable, but before the transaction that records them commits. It must
// open, verify, and be the store from before the update once Open has
// removed the files no record names; the update then applies again.
func TestCrashBeforeCommit(t *testing.T) {
	f := newFixture(t)
	f.init()
	a2, la2 := f.bundle("a", 2, "<p>a, revised</p>")
	c1, lc1 := f.bundle("c", 1, "<p>article c</p>")
	u := f.next(la2, lc1)
	u.Bundles = [][]byte{a2, c1}
	before := f.snapshot()

	crashDir := filepath.Join(t.TempDir(), "crashed")
	var written []string
	store.SetBeforeCommit(func(*store.Store) {
		copyDir(t, f.dir, crashDir)
		for _, raw := range [][]byte{a2, c1} {
			rel, _ := filepath.Rel(f.dir, f.bundlePath(raw))
			if data, err := os.ReadFile(filepath.Join(crashDir, rel)); err != nil || !bytes.Equal(data, raw) {
				t.Errorf("before the commit, %s is not written whole: %v", rel, err)
			}
			written = append(written, filepath.Join(crashDir, rel))
		}
	})
	t.Cleanup(func() { store.SetBeforeCommit(nil) })
	f.apply(u)
	store.SetBeforeCommit(nil)
	f.checkClean()
	if len(written) != 2 {
		t.Fatalf("the window before the commit was not reached (%d files)", len(written))
	}

	// Read-only, as `samizdat check` sees it: whole and unchanged, the
	// files no record names not counted.
	ro, err := store.Open(crashDir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the crashed store does not open: %v", err)
	}
	if probs, err := ro.Check(f.pub.Root.Public(), nil); err != nil || len(probs) > 0 {
		t.Errorf("Check of the crashed store: %v\n%s", err, problems(probs))
	}
	for _, raw := range [][]byte{a2, c1} {
		if ro.HasBundle(sha256.Sum256(raw)) {
			t.Errorf("the crashed store holds a bundle whose record never committed")
		}
	}
	ro.Close()

	// Opened for writing, it removes them and is the store from before.
	g := *f
	g.dir = crashDir
	if g.st, err = store.Open(crashDir, nil); err != nil {
		t.Fatal(err)
	}
	defer func() { g.st.Close() }()
	for _, p := range written {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after Open: %v", p, err)
		}
	}
	if got := g.snapshot(); got != before {
		t.Errorf("the crashed store after Open:\n%s\nwant the store before the update:\n%s", got, before)
	}
	if _, err := g.st.Apply(f.pub.Root.Public(), u); err != nil {
		t.Fatalf("applying the update again: %v", err)
	}
	g.checkClean()
}

// TestApplyOverwritesStray: a file left under a bundle's name by a write
// that never committed (and was not removed) is overwritten whole when the
// bundle is stored.
func TestApplyOverwritesStray(t *testing.T) {
	f := newFixture(t)
	f.init()
	c1, lc1 := f.bundle("c", 1, "<p>article c, long enough to be cut short</p>")
	if err := os.WriteFile(f.bundlePath(c1), c1[:len(c1)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	u := f.next(lc1)
	u.Bundles = [][]byte{c1}
	f.apply(u)
	if data, err := os.ReadFile(f.bundlePath(c1)); err != nil || !bytes.Equal(data, c1) {
		t.Errorf("the stray file was not overwritten whole: %v", err)
	}
	f.checkClean()
}
