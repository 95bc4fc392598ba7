package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCrashFirstStart kills a mirror's very first start, while it makes its
// store and node key, at moments spread over that start, and starts it
// again on the same directory: it must start, and stop cleanly.
func TestCrashFirstStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds samizdat and runs 40 mirror processes; skipped with -short")
	}
	// This test found that store.Open made its folders before store.db
	// (a kill in between left a directory no mirror would open again) and
	// that node.key could be left empty; both are fixed.
	const trials = 20
	bin := buildSamizdat(t)
	dir := t.TempDir()
	pub := newCrashPublisher(t, dir)

	// How long a first start takes, to the log line that says it is done.
	m := startCrashMirror(t, bin, filepath.Join(dir, "first"), pub)
	if !m.waitFor(10*time.Second, func(s *procState) bool { return s.startedAt > 0 }) {
		t.Fatalf("the mirror did not start:\n%s", m.stderr())
	}
	startup := m.state().startedAt
	m.kill(t)
	t.Logf("a first start takes %v", startup.Round(time.Millisecond))

	for i := range trials {
		storeDir := filepath.Join(dir, "store", string(rune('a'+i)))
		delay := startup * time.Duration(i) / trials
		m := startCrashMirror(t, bin, storeDir, pub)
		time.Sleep(time.Until(m.start.Add(delay)))
		m.kill(t)
		left, _ := os.ReadDir(storeDir)
		m = startCrashMirror(t, bin, storeDir, pub)
		if !m.waitFor(10*time.Second, func(s *procState) bool { return s.startedAt > 0 }) {
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			t.Fatalf("killed %v into its first start, leaving %v, the mirror does not start again:\n%s", delay, names, m.stderr())
		}
		if err := m.stop(); err != nil {
			t.Fatalf("SIGTERM: %v\n%s", err, m.stderr())
		}
		m.failOnProblems(t, "restart")
	}
}
