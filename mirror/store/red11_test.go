package store_test

import (
	"testing"
	"time"
)

// TestApplyManyLeavesNotQuadratic (red team, issue 10): one Apply of k
// leaves of new articles (a sync from a peer is one Apply of up to
// replica.Config.MaxLeaves = 1<<20 leaves) costs O(k log k), not O(k²).
// Its index records and articles were put in a map's random order, and
// bbolt, which splits pages only at commit, moved the keys after each
// one: 65,536 leaves took 113 s against 7.6 s in key order. The test
// compares k and 8k leaves, each the faster of two runs, so that the
// machine's load cancels out: linear is about 8 to 10 times, quadratic
// 25 or more; it fails above 16.
func TestApplyManyLeavesNotQuadratic(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 18,432 leaves")
	}
	const k = 1024
	cost := func(n int) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 2 {
			l := newIndexedLog(t)
			l.add(1, shortID)
			t0 := time.Now()
			l.add(n, shortID)
			best = min(best, time.Since(t0))
		}
		return best
	}
	small, big := cost(k), cost(8*k)
	ratio := float64(big) / float64(small)
	t.Logf("Apply of %d leaves: %v; of %d: %v; ratio %.1f", k, small, 8*k, big, ratio)
	if ratio > 16 {
		t.Errorf("8 times the leaves cost %.1f times the time: quadratic", ratio)
	}
}
