package store_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// checkFixture is a store with a log of a dozen leaves: articles a..e,
// some at revision 2, one retracted.
func checkFixture(t *testing.T) (f *fixture, current map[string][]byte) {
	f = newFixture(t)
	a, b := f.init()
	current = map[string][]byte{"a": a, "b": b}
	for i, id := range []string{"c", "d", "e"} {
		raw, l := f.bundle(id, 1, "<p>"+id+"</p>", bundle.File{Name: "i.png", Type: "image/png", Data: []byte{byte(i)}})
		u := f.next(l)
		u.Bundles = [][]byte{raw}
		f.apply(u)
		current[id] = raw
	}
	for _, id := range []string{"a", "c"} {
		raw, l := f.bundle(id, 2, "<p>"+id+" again</p>")
		u := f.next(l)
		u.Bundles = [][]byte{raw}
		f.apply(u)
		current[id] = raw
	}
	f.apply(f.next(retraction("d", 1, f.now)))
	delete(current, "d")
	f.checkClean()
	return f, current
}

// editDB changes the store's database directly.
func (f *fixture) editDB(fn func(pb *bolt.Bucket) error) {
	f.t.Helper()
	f.withDB(func(db *bolt.DB) {
		if err := db.Update(func(tx *bolt.Tx) error { return fn(pubBucket(tx, f.id())) }); err != nil {
			f.t.Fatal(err)
		}
	})
}

func TestCheckDetects(t *testing.T) {
	flip := func(path string, at int) func(t *testing.T) {
		return func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if at < 0 {
				at += len(b)
			}
			b[at] ^= 0x20
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		damage func(f *fixture, cur map[string][]byte, t *testing.T)
		want   []string // the What of each problem, in order
	}{
		{"flipped byte in a bundle's body", func(f *fixture, cur map[string][]byte, t *testing.T) {
			flip(f.bundlePath(cur["a"]), -2)(t)
		}, []string{`article "a"`}},
		{"flipped byte in a bundle's manifest", func(f *fixture, cur map[string][]byte, t *testing.T) {
			flip(f.bundlePath(cur["c"]), len(bundle.Magic)+100)(t)
		}, []string{`article "c"`}},
		{"truncated bundle file", func(f *fixture, cur map[string][]byte, t *testing.T) {
			if err := os.Truncate(f.bundlePath(cur["e"]), 10); err != nil {
				t.Fatal(err)
			}
		}, []string{`article "e"`}},
		{"deleted bundle file", func(f *fixture, cur map[string][]byte, t *testing.T) {
			if err := os.Remove(f.bundlePath(cur["b"])); err != nil {
				t.Fatal(err)
			}
		}, []string{`article "b"`}},
		{"two damaged bundles", func(f *fixture, cur map[string][]byte, t *testing.T) {
			flip(f.bundlePath(cur["a"]), -1)(t)
			os.Remove(f.bundlePath(cur["e"]))
		}, []string{`article "a"`, `article "e"`}},
		{"modified leaf: digest", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				lb := pb.Bucket([]byte("leaves"))
				v := append([]byte(nil), lb.Get(u64(4))...)
				v[len(v)-1] ^= 1
				return lb.Put(u64(4), v)
			})
		}, []string{"leaf 4"}},
		{"modified leaf: revision of a superseded article", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				lb := pb.Bucket([]byte("leaves"))
				l, err := catalog.ParseLeaf(lb.Get(u64(1)))
				if err != nil || l.ID != "a" {
					t.Fatalf("leaf 1 is %+v, %v", l, err)
				}
				l.Digest[0] ^= 1
				return lb.Put(u64(1), l.Encode())
			})
		}, []string{"leaf 1"}},
		{"modified leaf: unparsable", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				return pb.Bucket([]byte("leaves")).Put(u64(8), []byte{7, 7, 7})
			})
		}, []string{"leaf 8"}},
		{"modified leaf hash", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				hb := pb.Bucket([]byte("hashes"))
				// Stored hash 0 is the hash of leaf 0.
				v := append([]byte(nil), hb.Get(u64(0))...)
				v[0] ^= 1
				return hb.Put(u64(0), v)
			})
		}, []string{"tree hashes"}},
		{"modified inner hash", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				hb := pb.Bucket([]byte("hashes"))
				// Stored hash 2 is the hash of leaves 0 and 1.
				v := append([]byte(nil), hb.Get(u64(2))...)
				v[31] ^= 1
				return hb.Put(u64(2), v)
			})
		}, []string{"tree hashes"}},
		{"deleted hash", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error { return pb.Bucket([]byte("hashes")).Delete(u64(5)) })
		}, []string{"tree hashes"}},
		{"modified article index", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				ab := pb.Bucket([]byte("articles"))
				v := append([]byte(nil), ab.Get([]byte("e"))...)
				v[7]++ // the revision
				return ab.Put([]byte("e"), v)
			})
		}, []string{`article "e"`}},
		{"article missing from the index", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error { return pb.Bucket([]byte("articles")).Delete([]byte("b")) })
		}, []string{`article "b"`}},
		{"retracted article's bundle back", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				a := pb.Bucket([]byte("articles")).Get([]byte("d"))
				return pb.Tx().Bucket([]byte("bundles")).Put(a[8:40], []byte(f.id()))
			})
		}, []string{`article "d"`}},
		{"checkpoint replaced by one of another size", func(f *fixture, cur map[string][]byte, t *testing.T) {
			cp := f.signCP(f.log, 3, f.tick())
			f.editDB(func(pb *bolt.Bucket) error { return pb.Put([]byte("checkpoint"), cp) })
		}, []string{"checkpoint"}},
		{"checkpoint of another size and a modified leaf", func(f *fixture, cur map[string][]byte, t *testing.T) {
			cp := f.signCP(f.log, 3, f.tick())
			f.editDB(func(pb *bolt.Bucket) error {
				lb := pb.Bucket([]byte("leaves"))
				v := append([]byte(nil), lb.Get(u64(4))...)
				v[len(v)-1] ^= 1
				return errors.Join(pb.Put([]byte("checkpoint"), cp), lb.Put(u64(4), v))
			})
		}, []string{"checkpoint", "leaf 4"}},
		{"checkpoint with another root", func(f *fixture, cur map[string][]byte, t *testing.T) {
			c := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: int64(len(f.log.leaves)), Root: tlog.Hash{1}, Time: f.tick()}
			cp, err := c.Sign(f.pub.Signer)
			if err != nil {
				t.Fatal(err)
			}
			f.editDB(func(pb *bolt.Bucket) error { return pb.Put([]byte("checkpoint"), cp) })
		}, []string{"checkpoint"}},
		{"damaged checkpoint", func(f *fixture, cur map[string][]byte, t *testing.T) {
			f.editDB(func(pb *bolt.Bucket) error {
				cp := append([]byte(nil), pb.Get([]byte("checkpoint"))...)
				cp[len(cp)-5] ^= 1
				return pb.Put([]byte("checkpoint"), cp)
			})
		}, []string{"checkpoint"}},
		{"key statement replaced", func(f *fixture, cur map[string][]byte, t *testing.T) {
			other := f.pub.Sign(t, 1, []keys.Delegation{testkeys.Delegate(f.pub.Signer)}, testkeys.Key(t, "extra", keys.RoleSigning).Public())
			f.editDB(func(pb *bolt.Bucket) error { return pb.Put([]byte("statement"), other) })
		}, []string{"key statement"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cur := checkFixture(t)
			tt.damage(f, cur, t)
			probs := f.check()
			var got []string
			for _, p := range probs {
				got = append(got, p.What)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Check found:\n%swant problems with %q", problems(probs), tt.want)
			}
			for _, p := range probs {
				if p.Err == nil || !strings.Contains(p.String(), p.What+": ") {
					t.Errorf("problem %#v does not say what is wrong", p)
				}
			}
		})
	}
}

func TestCheckUnknownPublisher(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.Check(f.pub.Root.Public(), nil); err == nil {
		t.Error("Check of an unknown publisher ran")
	}
}

// TestAuditPending checks that a bundle not fetched yet is pending, not
// damage, while a bundle file that is present but corrupt stays a problem,
// and that Check still reports the pending one, marked ErrPending.
func TestAuditPending(t *testing.T) {
	f, cur := checkFixture(t)
	root := f.pub.Root.Public()
	// Leaves first, bundles later, as a mirror syncs.
	g, lg := f.bundle("g", 1, "<p>g</p>")
	h, lh := f.bundle("h", 1, "<p>h</p>")
	f.apply(f.next(lg))
	f.apply(f.next(lh))

	r, err := f.st.Audit(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 0 {
		t.Errorf("Audit of a store missing two bundles found damage:\n%s", problems(r.Problems))
	}
	var pending []string
	for _, a := range r.Pending {
		pending = append(pending, a.ID)
	}
	slices.Sort(pending)
	if strings.Join(pending, ",") != "g,h" {
		t.Errorf("Pending = %q, want g and h", pending)
	}
	probs, err := f.st.Check(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 2 {
		t.Fatalf("Check found:\n%swant the two pending bundles", problems(probs))
	}
	for _, p := range probs {
		if !errors.Is(p.Err, store.ErrPending) || !errors.Is(p.Err, store.ErrNotFound) {
			t.Errorf("Check: %v, want it to wrap ErrPending and ErrNotFound", p)
		}
	}

	// One arrives; a stored one is damaged: that is a problem, not pending.
	f.apply(&store.Update{Bundles: [][]byte{g}})
	b, err := os.ReadFile(f.bundlePath(cur["a"]))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 0x20
	if err := os.WriteFile(f.bundlePath(cur["a"]), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = f.st.Audit(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || r.Problems[0].What != `article "a"` || errors.Is(r.Problems[0].Err, store.ErrPending) {
		t.Errorf("Audit found:\n%swant the damaged bundle of a", problems(r.Problems))
	}
	if len(r.Pending) != 1 || r.Pending[0].ID != "h" {
		t.Errorf("Pending = %v, want h", r.Pending)
	}
	// Once every bundle is there, nothing is pending.
	f.apply(&store.Update{Bundles: [][]byte{h}})
	if r, err := f.st.Audit(root, nil); err != nil || len(r.Pending) != 0 {
		t.Errorf("Audit of a complete store: %v, pending %v", err, r.Pending)
	}
}

// TestAuditOrder: Audit verifies bundles on several goroutines, and
// reports damage and pending bundles in the order of the article index
// (most recently changed first), the same on one core as on many.
func TestAuditOrder(t *testing.T) {
	f := newFixture(t)
	f.init()
	const n = 48
	var leaves, bundles [][]byte
	raws := map[string][]byte{}
	for i := range n {
		id := fmt.Sprintf("x%02d", i)
		raw, l := f.bundle(id, 1, "<p>"+id+"</p>")
		leaves = append(leaves, l)
		raws[id] = raw
		if i%4 != 3 {
			bundles = append(bundles, raw) // every fourth is not fetched
		}
	}
	u := f.next(leaves...)
	u.Bundles = bundles
	f.apply(u)
	var wantDamaged, wantPending []string
	index, err := f.st.Articles(f.id())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range index {
		var i int
		if _, err := fmt.Sscanf(a.ID, "x%d", &i); err != nil {
			continue
		}
		switch {
		case i%4 == 3:
			wantPending = append(wantPending, a.ID)
		case i%3 == 0:
			p := f.bundlePath(raws[a.ID])
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1] ^= 1
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			wantDamaged = append(wantDamaged, fmt.Sprintf("article %q", a.ID))
		}
	}
	for _, procs := range []int{1, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			r, err := f.st.Audit(f.pub.Root.Public(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var damaged, pending []string
			for _, p := range r.Problems {
				damaged = append(damaged, p.What)
			}
			for _, a := range r.Pending {
				pending = append(pending, a.ID)
			}
			if !slices.Equal(damaged, wantDamaged) {
				t.Errorf("problems %q, want %q", damaged, wantDamaged)
			}
			if !slices.Equal(pending, wantPending) {
				t.Errorf("pending %q, want %q", pending, wantPending)
			}
		})
	}
}
