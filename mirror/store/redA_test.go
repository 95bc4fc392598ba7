package store_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/mirror/store"

	"github.com/samizdat-news/samizdat/catalog/index"
)

// Red team, fourth session (issue 10): what anyone can make a dynamic
// mirror spend on split index proofs. Figures in BENCHMARKS.md, "Red team,
// fourth session: light path, split proofs, exports".

// historyLog is a log of n leaves followed by IndexHistorySizes Applies of
// one leaf each, so that the index history is full.
func historyLog(t *testing.T, n int) *indexedLog {
	l := newIndexedLog(t)
	for l.size < int64(n) {
		l.add(min(10000, n-int(l.size)), shortID)
	}
	for range store.IndexHistorySizes {
		l.add(1, shortID)
	}
	return l
}

// randomNode returns a hash that is no bucket root of the log.
func randomNode(i int) tlog.Hash {
	return tlog.Hash(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("not a node"), uint64(i))))
}

// TestIndexBottomMissCost: a request for the bottom part below a bucket
// root the mirror does not hold (a random node) cost up to
// IndexHistorySizes+1 proofs against the index history, 17.6 ms of CPU at
// 100,000 articles where a full proof costs 53 µs: anyone could make a
// mirror spend 380 times a proof's work per request. IndexBottom now
// proves once per distinct root of the id's bucket; the test bounds a
// miss at 10 times a full proof's CPU (it was over 60 at 20,000 articles).
func TestIndexBottomMissCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a log of 20,000 articles")
	}
	l := historyLog(t, 20000)
	const n = 200
	c0 := cpuTime(t)
	for i := range n {
		if _, _, err := l.st.IndexProof(l.pub.ID(), shortID(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	full := (cpuTime(t) - c0) / n
	c0 = cpuTime(t)
	for i := range n {
		if _, err := l.st.IndexBottom(l.pub.ID(), randomNode(i), shortID(int64(i))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("random node: %v, want ErrNotFound", err)
		}
	}
	miss := (cpuTime(t) - c0) / n
	t.Logf("size %d, %d sizes kept: full proof %v CPU, bottom part of an unknown node %v CPU (%.1fx)", l.size, store.IndexHistorySizes+1, full, miss, float64(miss)/float64(full))
	if miss > 10*full {
		t.Errorf("a bottom part of an unknown node costs %v of CPU, %.0f times a full proof (%v)", miss, float64(miss)/float64(full), full)
	}
}

// TestIndexBottomEveryHistorySize: the bottom part below the root of an
// id's bucket at each size of the history is found, whether the Applies
// in between changed that bucket or not, and joins with the top part of
// that size into the proof IndexProofAt gives.
func TestIndexBottomEveryHistorySize(t *testing.T) {
	l := newIndexedLog(t)
	l.add(300, shortID)
	var sizes []int64
	for range 40 {
		sizes = append(sizes, l.size)
		l.add(1+int(l.size)%3, shortID)
	}
	sizes = append(sizes, l.size)
	ids := []string{shortID(0), shortID(7), shortID(299), shortID(310), shortID(int64(l.size - 1)), "absent", "other"}
	for _, size := range sizes {
		for _, id := range ids {
			raw, err := l.st.IndexTop(l.pub.ID(), size, index.BucketOf(size, id))
			if err != nil {
				t.Fatal(err)
			}
			top, err := index.ParseTop(raw)
			if err != nil {
				t.Fatal(err)
			}
			var bottom *index.Bottom
			if node, ok := top.Node(); ok {
				rb, err := l.st.IndexBottom(l.pub.ID(), node, id)
				if err != nil {
					t.Fatalf("size %d, %q: %v", size, id, err)
				}
				if bottom, err = index.ParseBottom(rb); err != nil {
					t.Fatal(err)
				}
			}
			p, err := index.Join(size, id, top, bottom)
			if err != nil {
				t.Fatalf("size %d, %q: %v", size, id, err)
			}
			full, err := l.st.IndexProofAt(l.pub.ID(), id, size)
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Encode()) != string(full) {
				t.Errorf("size %d, %q: the joined proof is not IndexProofAt's", size, id)
			}
		}
	}
}

// TestIndexOldestSizeCost logs what a top part and a full proof at the
// oldest size the history keeps cost, against the checkpoint's: each
// record read there looks through the saved records of every later Apply.
func TestIndexOldestSizeCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a log of 20,000 articles")
	}
	l := historyLog(t, 20000)
	oldest := l.size - store.IndexHistorySizes
	const n = 200
	for _, size := range []int64{l.size, oldest} {
		c0 := cpuTime(t)
		for i := range n {
			if _, err := l.st.IndexProofAt(l.pub.ID(), shortID(int64(i)), size); err != nil {
				t.Fatal(err)
			}
		}
		proof := (cpuTime(t) - c0) / n
		c0 = cpuTime(t)
		for i := range n {
			if _, err := l.st.IndexTop(l.pub.ID(), size, index.BucketOf(size, shortID(int64(i)))); err != nil {
				t.Fatal(err)
			}
		}
		top := (cpuTime(t) - c0) / n
		t.Logf("size %d (checkpoint %d): full proof %v CPU, top part %v CPU", size, l.size, proof, top)
	}
}
