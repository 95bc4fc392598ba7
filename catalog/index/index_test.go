package index_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/catalog/index/indextest"
)

func bundleLeaf(id string, rev uint64) *catalog.Leaf {
	return &catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: rev, Digest: sha256.Sum256([]byte(fmt.Sprint(id, rev)))}
}

func retraction(id string, rev uint64) *catalog.Leaf {
	return &catalog.Leaf{Kind: catalog.KindRetraction, ID: id, Revision: rev, Time: time.Unix(1700000000, 0).UTC()}
}

func statement(v uint64) *catalog.Leaf {
	return &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: v, Digest: sha256.Sum256([]byte("statement"))}
}

func mirrors(v uint64) *catalog.Leaf {
	return &catalog.Leaf{Kind: catalog.KindMirrorList, Version: v, Digest: sha256.Sum256([]byte("mirrors"))}
}

// model is the plain map that the index must agree with.
type model map[string]index.Value

func (m model) apply(from int64, leaves []*catalog.Leaf) {
	for i, l := range leaves {
		if l.Kind == catalog.KindBundle || l.Kind == catalog.KindRetraction {
			m[l.ID] = index.Value{Leaf: from + int64(i), Hash: catalog.LeafHash(l.Encode())}
		}
	}
}

// checkAgainst checks that every id of m proves its value under x's root,
// and that each id in absent proves absent.
func checkAgainst(t *testing.T, x *index.Index, log []*catalog.Leaf, m model, absent []string) {
	t.Helper()
	ctx := context.Background()
	root := x.Root()
	for id, want := range m {
		p, err := x.Prove(ctx, id, index.LeafSlice(log))
		if err != nil {
			t.Fatalf("Prove(%q): %v", id, err)
		}
		got, ok, err := index.Verify(root, id, p.Encode())
		if err != nil || !ok || got != want {
			t.Fatalf("Verify(%q) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
		if l := p.Leaf(); l == nil || !bytes.Equal(l.Encode(), log[want.Leaf].Encode()) {
			t.Fatalf("proof of %q carries leaf %+v, want leaf %d %+v", id, l, want.Leaf, log[want.Leaf])
		}
		if v, ok, err := x.Lookup(ctx, id); err != nil || !ok || v != want {
			t.Fatalf("Lookup(%q) = %+v, %v, %v; want %+v", id, v, ok, err, want)
		}
	}
	for _, id := range absent {
		if _, ok := m[id]; ok {
			continue
		}
		p, err := x.Prove(ctx, id, index.LeafSlice(log))
		if err != nil {
			t.Fatalf("Prove(%q): %v", id, err)
		}
		if p.Leaf() != nil {
			t.Fatalf("proof of absent %q carries a leaf", id)
		}
		if _, ok, err := index.Verify(root, id, p.Encode()); err != nil || ok {
			t.Fatalf("Verify(absent %q) = %v, %v; want absent", id, ok, err)
		}
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		leaves []*catalog.Leaf
		want   map[string]int64 // id -> newest leaf index
	}{
		{"empty log", nil, map[string]int64{}},
		{"statement only", []*catalog.Leaf{statement(1)}, map[string]int64{}},
		{"one article", []*catalog.Leaf{statement(1), bundleLeaf("a", 1)}, map[string]int64{"a": 1}},
		{"new revision", []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("b", 1), bundleLeaf("a", 2)}, map[string]int64{"a": 2, "b": 1}},
		{"retraction", []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("b", 1), retraction("a", 1), mirrors(1)}, map[string]int64{"a": 2, "b": 1}},
		{"revision after retraction", []*catalog.Leaf{bundleLeaf("a", 1), retraction("a", 1), bundleLeaf("a", 5)}, map[string]int64{"a": 2}},
		{"batch repeats an id", []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("a", 2), bundleLeaf("b", 1), bundleLeaf("a", 3)}, map[string]int64{"a": 3, "b": 2}},
		{"mixed", []*catalog.Leaf{statement(1), bundleLeaf("x.y_z-0", 1), mirrors(1), bundleLeaf("q", 3), statement(2), retraction("q", 3)}, map[string]int64{"x.y_z-0": 1, "q": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := index.New()
			if err := x.Apply(context.Background(), 0, tt.leaves); err != nil {
				t.Fatal(err)
			}
			if x.Size() != int64(len(tt.leaves)) {
				t.Errorf("size %d, want %d", x.Size(), len(tt.leaves))
			}
			m := model{}
			for id, n := range tt.want {
				m[id] = index.Value{Leaf: n, Hash: catalog.LeafHash(tt.leaves[n].Encode())}
			}
			checkAgainst(t, x, tt.leaves, m, []string{"a", "b", "q", "absent", "x.y_z-0", "zzz"})
			if len(tt.want) == 0 && x.Root() != index.EmptyRoot() {
				t.Errorf("root %s of an index without articles, want the empty root %s", x.Root(), index.EmptyRoot())
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		from   int64
		leaves []*catalog.Leaf
		want   string
	}{
		{"gap", 2, []*catalog.Leaf{bundleLeaf("c", 1)}, "applied to an index of size 1"},
		{"overlap", 0, []*catalog.Leaf{bundleLeaf("c", 1)}, "applied to an index of size 1"},
		{"nil leaf", 1, []*catalog.Leaf{bundleLeaf("c", 1), nil}, "leaf 2 is missing"},
		{"unknown kind", 1, []*catalog.Leaf{{Kind: 9}}, "unknown kind 9"},
		{"bad id", 1, []*catalog.Leaf{bundleLeaf("c", 1), bundleLeaf("Upper", 1)}, "article id"},
		{"empty id", 1, []*catalog.Leaf{retraction("", 1)}, "article id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := index.New()
			if err := x.Apply(ctx, 0, []*catalog.Leaf{bundleLeaf("a", 1)}); err != nil {
				t.Fatal(err)
			}
			root := x.Root()
			err := x.Apply(ctx, tt.from, tt.leaves)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "index: ") {
				t.Fatalf("Apply = %v, want an error containing %q", err, tt.want)
			}
			if x.Root() != root || x.Size() != 1 {
				t.Errorf("a refused Apply changed the index")
			}
			if _, ok, _ := x.Lookup(ctx, "c"); ok {
				t.Errorf("a refused Apply indexed c")
			}
		})
	}
}

// TestAbsentBesideOnlyChild proves absence of an id on the empty side of
// a root with one child. torchwood v0.6.1's Lookup gives a one-node proof
// there that its own verifier refuses; Prove adds the empty node.
func TestAbsentBesideOnlyChild(t *testing.T) {
	ctx := context.Background()
	// Find ids whose keys start with bit 0 and bit 1.
	var zero, one []string
	for i := 0; len(zero) < 3 || len(one) < 3; i++ {
		id := fmt.Sprintf("id%d", i)
		if k := index.Key(id); k[0]&0x80 == 0 {
			zero = append(zero, id)
		} else {
			one = append(one, id)
		}
	}
	for _, tc := range []struct{ present, absent []string }{{zero[:1], one}, {one[:1], zero}, {zero, one}, {one, zero}} {
		x := index.New()
		m := model{}
		var leaves []*catalog.Leaf
		for _, id := range tc.present {
			leaves = append(leaves, bundleLeaf(id, 1))
		}
		if err := x.Apply(ctx, 0, leaves); err != nil {
			t.Fatal(err)
		}
		m.apply(0, leaves)
		checkAgainst(t, x, leaves, m, tc.absent)
		checkAgainst(t, x, leaves, m, tc.present[:0])
	}
}

// TestOrderFree checks that the root depends only on the map: two logs
// that end with the same newest leaf at the same index for every id give
// the same root, whatever the order and batching.
func TestOrderFree(t *testing.T) {
	ctx := context.Background()
	var leaves []*catalog.Leaf
	for i := range 200 {
		leaves = append(leaves, bundleLeaf(fmt.Sprintf("a%d", i), 1))
	}
	one := index.New()
	if err := one.Apply(ctx, 0, leaves); err != nil {
		t.Fatal(err)
	}
	// Leaf by leaf.
	each := index.New()
	for i, l := range leaves {
		if err := each.Apply(ctx, int64(i), []*catalog.Leaf{l}); err != nil {
			t.Fatal(err)
		}
	}
	if each.Root() != one.Root() {
		t.Errorf("leaf by leaf: root %s, in one batch %s", each.Root(), one.Root())
	}
	// Uneven batches.
	batches := index.New()
	for n := 0; n < len(leaves); {
		k := min(len(leaves)-n, 1+n%17)
		if err := batches.Apply(ctx, int64(n), leaves[n:n+k]); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	if batches.Root() != one.Root() {
		t.Errorf("in batches: root %s, in one batch %s", batches.Root(), one.Root())
	}
	if one.Root() == index.EmptyRoot() {
		t.Error("root of a full index is the empty root")
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	s := index.NewMemoryStore()
	x, err := index.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	first := []*catalog.Leaf{statement(1), bundleLeaf("a", 1), bundleLeaf("b", 1)}
	if err := x.Apply(ctx, 0, first); err != nil {
		t.Fatal(err)
	}
	y, err := index.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if y.Size() != 3 || y.Root() != x.Root() {
		t.Fatalf("reopened: size %d root %s; want 3, %s", y.Size(), y.Root(), x.Root())
	}
	if err := y.Apply(ctx, 3, []*catalog.Leaf{bundleLeaf("a", 2)}); err != nil {
		t.Fatal(err)
	}
	m := model{}
	m.apply(0, first)
	m.apply(3, []*catalog.Leaf{bundleLeaf("a", 2)})
	checkAgainst(t, y, append(first, bundleLeaf("a", 2)), m, []string{"c"})
	// Records per leaf: one value, the leaf node, and at most one new
	// inner node per new id; a store never holds more.
	if n := s.Len(); n > 1+2+3*len(m) {
		t.Errorf("%d records for %d ids", n, len(m))
	}
}

// brokenStore serves a stored record with some bytes changed.
type brokenStore struct {
	*index.MemoryStore
	key    byte
	mangle func([]byte) []byte
}

func (b brokenStore) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	v, ok, err := b.MemoryStore.Get(ctx, key)
	if ok && key[0] == b.key {
		v = b.mangle(append([]byte(nil), v...))
	}
	return v, ok, err
}

// TestBrokenStore checks that a damaged store gives errors, not panics.
func TestBrokenStore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		key    byte
		mangle func([]byte) []byte
	}{
		{"short node", 'n', func(b []byte) []byte { return b[:len(b)/2] }},
		{"long node", 'n', func(b []byte) []byte { return append(b, 0) }},
		{"bad label", 'n', func(b []byte) []byte {
			if len(b) > 34 {
				b[32], b[33] = 0x7f, 0xff
			}
			return b
		}},
		{"short value", 'v', func(b []byte) []byte { return b[:39] }},
		{"negative leaf", 'v', func(b []byte) []byte { b[0] = 0x80; return b }},
		{"short size", 's', func(b []byte) []byte { return b[:7] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := index.NewMemoryStore()
			x, err := index.Open(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			leaves := []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("b", 1), bundleLeaf("c", 1)}
			if err := x.Apply(ctx, 0, leaves); err != nil {
				t.Fatal(err)
			}
			b := brokenStore{s, tc.key, tc.mangle}
			y, err := index.Open(ctx, b)
			if err != nil {
				return // refused at open
			}
			_, errP := y.Prove(ctx, "a", index.LeafSlice(leaves))
			errA := y.Apply(ctx, 3, []*catalog.Leaf{bundleLeaf("d", 1)})
			if errP == nil && errA == nil {
				t.Error("a damaged store went unnoticed")
			}
		})
	}
}

func TestCheckLeaf(t *testing.T) {
	ctx := context.Background()
	leaves := []*catalog.Leaf{bundleLeaf("a", 1), statement(1), retraction("a", 1)}
	x := index.New()
	if err := x.Apply(ctx, 0, leaves); err != nil {
		t.Fatal(err)
	}
	v, _, _ := x.Lookup(ctx, "a")
	l, err := v.CheckLeaf("a", leaves[2].Encode())
	if err != nil || l.Kind != catalog.KindRetraction {
		t.Fatalf("CheckLeaf of the retraction: %v, %v", l, err)
	}
	for _, tc := range []struct {
		id   string
		leaf []byte
	}{
		{"a", leaves[0].Encode()},    // an older leaf
		{"b", leaves[2].Encode()},    // another id
		{"a", leaves[1].Encode()},    // not the hash
		{"a", []byte{0xff, 1, 2, 3}}, // not a leaf
	} {
		if _, err := v.CheckLeaf(tc.id, tc.leaf); err == nil {
			t.Errorf("CheckLeaf(%q, %x) accepted", tc.id, tc.leaf)
		}
	}
	// A key statement leaf with the value's hash is still refused.
	sv := index.Value{Leaf: 1, Hash: catalog.LeafHash(leaves[1].Encode())}
	if _, err := sv.CheckLeaf("a", leaves[1].Encode()); err == nil {
		t.Error("CheckLeaf accepted a key statement leaf")
	}
}

// TestProperty applies random batches of new articles, revisions and
// retractions and checks the index against a plain map after each batch:
// every id's proof verifies to its value, absent ids prove absent, a proof
// does not verify for another id, and every single-bit change to a proof
// or to the root is refused.
func TestProperty(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	rounds, ids := 40, 300
	if testing.Short() {
		rounds = 10
	}
	x := index.New()
	m := model{}
	revs := map[string]uint64{}
	retracted := map[string]bool{}
	var n int64
	var log []*catalog.Leaf
	for round := range rounds {
		var batch []*catalog.Leaf
		for range 1 + rng.IntN(20) {
			id := fmt.Sprintf("art-%d", rng.IntN(ids))
			switch {
			case rng.IntN(10) == 0:
				batch = append(batch, statement(uint64(n+1)))
			case revs[id] > 0 && !retracted[id] && rng.IntN(4) == 0:
				batch = append(batch, retraction(id, revs[id]))
				retracted[id] = true
			default:
				revs[id]++
				retracted[id] = false
				batch = append(batch, bundleLeaf(id, revs[id]))
			}
		}
		if err := x.Apply(ctx, n, batch); err != nil {
			t.Fatal(err)
		}
		m.apply(n, batch)
		log = append(log, batch...)
		n += int64(len(batch))
		var absent []string
		for i := range 20 {
			absent = append(absent, fmt.Sprintf("art-%d", ids+i), fmt.Sprintf("art-%d", rng.IntN(ids)))
		}
		checkAgainst(t, x, log, m, absent)
		if round%8 == 0 {
			checkTamper(t, x, log, m, absent[:4])
		}
	}
	// The whole log in one batch gives the same index.
	y := index.New()
	if err := y.Apply(ctx, 0, log); err != nil {
		t.Fatal(err)
	}
	if y.Root() != x.Root() || y.Size() != x.Size() {
		t.Errorf("in one batch: size %d root %s; batch by batch: size %d root %s", y.Size(), y.Root(), x.Size(), x.Root())
	}
}

// checkTamper flips every bit of some proofs and of the root.
func checkTamper(t *testing.T, x *index.Index, log []*catalog.Leaf, m model, absent []string) {
	t.Helper()
	ctx := context.Background()
	root := x.Root()
	var ids []string
	for id := range m {
		ids = append(ids, id)
		if len(ids) == 3 {
			break
		}
	}
	ids = append(ids, absent...)
	for _, id := range ids {
		p, err := x.Prove(ctx, id, index.LeafSlice(log))
		if err != nil {
			t.Fatal(err)
		}
		enc := p.Encode()
		for i := range len(enc) * 8 {
			b := append([]byte(nil), enc...)
			b[i/8] ^= 1 << (i % 8)
			if v, ok, err := index.Verify(root, id, b); err == nil {
				t.Fatalf("proof for %q with bit %d flipped verifies: %+v %v", id, i, v, ok)
			}
		}
		for i := range 256 {
			r := root
			r[i/8] ^= 1 << (i % 8)
			if _, _, err := index.Verify(r, id, enc); !errors.Is(err, index.ErrMismatch) {
				t.Fatalf("proof for %q verifies under root with bit %d flipped: %v", id, i, err)
			}
		}
		// Another id's proof does not verify for this id.
		for _, other := range ids {
			if other == id {
				continue
			}
			if _, _, err := index.Verify(root, other, enc); err == nil {
				// A proof of absence may be valid for a neighbour
				// that is absent too; it must then say absent.
				if _, in := m[other]; in || p.Present {
					t.Fatalf("proof for %q verifies for %q", id, other)
				}
			}
		}
	}
}

func TestMemoryStore(t *testing.T) {
	indextest.TestStore(t, func(*testing.T) index.Store { return index.NewMemoryStore() })
}

// failStore fails every Put after the first ok ones.
type failStore struct {
	*index.MemoryStore
	ok *int
}

func (f failStore) Put(ctx context.Context, key, value []byte) error {
	if *f.ok == 0 {
		return errors.New("disk full")
	}
	*f.ok--
	return f.MemoryStore.Put(ctx, key, value)
}

// TestStoreFailure checks that an Index whose Store failed in the middle
// of an Apply refuses every later call, rather than build on half a batch.
func TestStoreFailure(t *testing.T) {
	ctx := context.Background()
	ok := 1 << 30
	x, err := index.Open(ctx, failStore{index.NewMemoryStore(), &ok})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Apply(ctx, 0, []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("b", 1)}); err != nil {
		t.Fatal(err)
	}
	ok = 3
	err = x.Apply(ctx, 2, []*catalog.Leaf{bundleLeaf("c", 1), bundleLeaf("d", 1)})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Apply with a failing store: %v", err)
	}
	ok = 1 << 30
	if err := x.Apply(ctx, 2, []*catalog.Leaf{bundleLeaf("c", 1)}); err == nil {
		t.Error("Apply after a store failure succeeded")
	}
	if _, err := x.Prove(ctx, "a", index.LeafSlice([]*catalog.Leaf{bundleLeaf("a", 1)})); err == nil {
		t.Error("Prove after a store failure succeeded")
	}
	if _, _, err := x.Lookup(ctx, "a"); err == nil {
		t.Error("Lookup after a store failure succeeded")
	}
}
