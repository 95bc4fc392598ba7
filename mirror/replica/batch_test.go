package replica

import (
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// TestBatchBytes syncs bundles of which only a few fit in BatchBytes:
// every store.Apply takes at most BatchBytes of bundles (or one bundle
// alone), the first one, which carries the checkpoint, included, and a
// pull holds at most twice BatchBytes of fetched bundles not yet stored,
// and one more. The store is slow, as a disk is, so that fetched bundles
// pile up if nothing bounds them.
func TestBatchBytes(t *testing.T) {
	const (
		articles   = 24
		image      = 32 << 10 // bytes of each article's image: about 33 KiB a bundle
		batchBytes = 100 << 10
		parallel   = 4
	)
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	ps := newPubStore(t, pub)
	ps.publishSized("big", articles, image)
	paddr := serve(t, newNode(t, ps.st, nil, nil))

	tests := []struct {
		name  string
		batch int
		// whether the bundles may come with the checkpoint: not when
		// there are more than Batch of them
		withCheckpoint bool
	}{
		{"bundles with the checkpoint", 0, true},
		{"bundles after the checkpoint", 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			rec := &recStore{Store: st, delay: 2 * time.Millisecond}
			n := newNode(t, rec, []*keys.PublicKey{root}, &Config{Batch: tc.batch, BatchBytes: batchBytes, Parallel: parallel})
			if err := n.SyncWith(testContext(t), dial(t, paddr, nil)); err != nil {
				t.Fatal(err)
			}
			if !sameLog(ps.st, st, pub.ID()) {
				t.Fatal("incomplete sync")
			}
			check(t, st, root)
			largest, bundles := 0, 0
			for i, a := range rec.calls() {
				t.Logf("Apply %d: %d bundles, %d bytes, checkpoint %v, err %v", i, a.bundles, a.bytes, a.checkpoint, a.err)
				if a.bundles > 1 && a.bytes > batchBytes {
					t.Errorf("Apply %d took %d bundles of %d bytes, more than BatchBytes %d", i, a.bundles, a.bytes, batchBytes)
				}
				if a.checkpoint && tc.withCheckpoint && a.bundles == 0 {
					t.Errorf("Apply %d took the checkpoint without bundles", i)
				}
				largest = max(largest, a.largest)
				bundles += a.bundles
			}
			if bundles != articles {
				t.Errorf("%d bundles given to the store, want %d", bundles, articles)
			}
			// Requests in flight count as the largest bundle seen, so
			// past the first answers (parallel*largest < 2*batchBytes)
			// a pull holds at most one bundle more than its budget.
			held, bound := n.heldPeak.Load(), int64(2*batchBytes+largest)
			t.Logf("at most %d bytes of fetched bundles held at once; bound %d", held, bound)
			if held > bound {
				t.Errorf("held %d bytes of fetched bundles at once, more than %d", held, bound)
			}
		})
	}
}

var _ Store = (*recStore)(nil)
