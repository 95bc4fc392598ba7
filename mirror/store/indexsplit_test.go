package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// TestIndexSplit serves split proofs at the current size and at sizes of
// the index's history: each top part and bottom part join into the proof
// IndexProofAt gives, and a bottom part is found by its bucket root alone.
func TestIndexSplit(t *testing.T) {
	f := newFixture(t)
	f.init()
	var sizes []int64
	var leaves [][]byte
	for i := range 40 {
		_, l := f.bundle(fmt.Sprint("x", i), 1, "<p>x</p>")
		leaves = append(leaves, l)
		if i%10 == 9 {
			f.apply(f.next(leaves...))
			leaves = nil
			sizes = append(sizes, int64(len(f.log.leaves)))
		}
	}
	ids := []string{"a", "b", "x0", "x7", "x33", "x39", "ghost", "never"}
	for _, size := range sizes {
		cp := f.cps[size]
		for _, id := range ids {
			full, err := f.st.IndexProofAt(f.id(), id, size)
			if err != nil {
				t.Fatal(err)
			}
			want, wantOK, err := index.Verify(cp.Index, id, full)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := f.st.IndexTop(f.id(), size, index.BucketOf(size, id))
			if err != nil {
				t.Fatalf("IndexTop(%d, %q): %v", size, id, err)
			}
			top, err := index.ParseTop(raw)
			if err != nil {
				t.Fatal(err)
			}
			var bottom *index.Bottom
			if node, ok := top.Node(); ok {
				rb, err := f.st.IndexBottom(f.id(), node, id)
				if err != nil {
					t.Fatalf("IndexBottom(%x, %q) at size %d: %v", node[:4], id, size, err)
				}
				if bottom, err = index.ParseBottom(rb); err != nil {
					t.Fatal(err)
				}
			}
			p, err := index.Join(size, id, top, bottom)
			if err != nil {
				t.Fatalf("size %d, %q: %v", size, id, err)
			}
			if !bytes.Equal(p.Encode(), full) {
				t.Errorf("size %d, %q: joined proof differs from IndexProofAt's", size, id)
			}
			if got, ok, err := p.Verify(cp.Index, id); err != nil || ok != wantOK || got != want {
				t.Errorf("size %d, %q: %+v, %v, %v", size, id, got, ok, err)
			}
		}
	}
	// IndexTops gives the current size's, bucket by bucket.
	size, tops, err := f.st.IndexTops(f.id())
	if err != nil || size != sizes[len(sizes)-1] {
		t.Fatalf("IndexTops: size %d, %v", size, err)
	}
	i := 0
	for b := range index.Buckets(size) {
		raw, err := f.st.IndexTop(f.id(), size, b)
		if err != nil || !bytes.Equal(raw, tops[i].Encode()) {
			t.Errorf("bucket %s: IndexTops and IndexTop differ (%v)", b, err)
		}
		i++
	}
	if i != len(tops) {
		t.Errorf("%d top parts for %d buckets", len(tops), i)
	}
	// Unknown bucket roots, sizes and publishers are not found.
	if _, err := f.st.IndexBottom(f.id(), tlog.Hash{1}, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IndexBottom of an unknown bucket root: %v", err)
	}
	if _, err := f.st.IndexTop(f.id(), 5, index.BucketOf(5, "a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IndexTop of a size never a checkpoint's: %v", err)
	}
	if _, err := f.st.IndexTop("nobody", size, index.BucketOf(size, "a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IndexTop of an unknown publisher: %v", err)
	}
	if _, err := f.st.IndexTop(f.id(), size, index.BucketOf(3, "a")); err == nil {
		t.Error("IndexTop of a bucket of another cut depth succeeded")
	}
}
