// Package indextest is the conformance test of index.Store: a store for
// the article index passes it if the index kept in it behaves as one kept
// in memory.
package indextest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// TestStore checks a Store. newStore returns an empty store each time it
// is called.
func TestStore(t *testing.T, newStore func(t *testing.T) index.Store) {
	ctx := context.Background()
	t.Run("records", func(t *testing.T) {
		s := newStore(t)
		if v, ok, err := s.Get(ctx, []byte("nx")); err != nil || ok || v != nil {
			t.Fatalf("Get of a missing key = %x, %v, %v", v, ok, err)
		}
		for i, v := range [][]byte{{1, 2, 3}, {4}, {}} {
			if err := s.Put(ctx, []byte("nx"), v); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, []byte("nx"))
			if err != nil || !ok || !bytes.Equal(got, v) {
				t.Fatalf("Put %d: Get = %x, %v, %v; want %x", i, got, ok, err, v)
			}
		}
		if _, ok, _ := s.Get(ctx, []byte("n")); ok {
			t.Error("Get of a prefix of a key found it")
		}
	})
	t.Run("index", func(t *testing.T) {
		s := newStore(t)
		x, err := index.Open(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		ref := index.New()
		var leaves []*catalog.Leaf
		for i := range 500 {
			id := fmt.Sprintf("a%d", i%300)
			leaves = append(leaves, &catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: uint64(1 + i/300), Digest: sha256.Sum256([]byte(id))})
		}
		for n := 0; n < len(leaves); n += 50 {
			for _, y := range []*index.Index{x, ref} {
				if err := y.Apply(ctx, int64(n), leaves[n:n+50]); err != nil {
					t.Fatal(err)
				}
			}
			if x.Root() != ref.Root() {
				t.Fatalf("root after %d leaves %s, in memory %s", n+50, x.Root(), ref.Root())
			}
		}
		y, err := index.Open(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if y.Root() != ref.Root() || y.Size() != ref.Size() {
			t.Fatalf("reopened: size %d root %s; want %d, %s", y.Size(), y.Root(), ref.Size(), ref.Root())
		}
		// Proofs from many goroutines at once.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < 400; i += 4 {
					id := fmt.Sprintf("a%d", i)
					p, err := y.Prove(ctx, id, index.LeafSlice(leaves))
					if err != nil {
						errs <- err
						return
					}
					want, wantOK, _ := ref.Lookup(ctx, id)
					if v, ok, err := index.Verify(ref.Root(), id, p.Encode()); err != nil || ok != wantOK || v != want {
						errs <- fmt.Errorf("proof of %q: %+v %v %v, want %+v %v", id, v, ok, err, want, wantOK)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
