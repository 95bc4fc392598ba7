package reader_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDamagedIndex: an index.db damaged on disk (a crash, a bad disk,
// someone's hand), 16 bytes at a time across the whole file, never makes
// the reader panic (bbolt asserts on the pages it reads): it rebuilds the
// index from the leaves, or says the index is damaged, in one line.
func TestDamagedIndex(t *testing.T) {
	w := newWorld(t)
	dir := w.primedAt(honest...)
	idx := filepath.Join(dir, w.pub.ID(), "index.db")
	orig, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(orig); off += 256 {
		b := append([]byte(nil), orig...)
		for i := off; i < min(off+16, len(b)); i++ {
			b[i] ^= 0xa5
		}
		if err := os.WriteFile(idx, b, 0o600); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("index damaged at %d: panic: %v", off, r)
				}
			}()
			a, err := w.client(dir).Article("b")
			if err == nil && (a == nil || a.Revision != 1) {
				t.Errorf("index damaged at %d: article b is %+v", off, a)
			}
		}()
	}
}

// TestDamagedIndexFetch: a fetch that extends a state whose index.db is
// damaged on disk never panics either, when it reads the index or when
// it writes the new leaves' articles to it.
func TestDamagedIndexFetch(t *testing.T) {
	w := newWorld(t)
	mirror := serve(t, w.handler(w.store(honest...)))
	size := 0
	for off := 0; size == 0 || off < size; off += 1024 {
		dir := w.primedAt(step0, step1)
		idx := filepath.Join(dir, w.pub.ID(), "index.db")
		b, err := os.ReadFile(idx)
		if err != nil {
			t.Fatal(err)
		}
		size = len(b)
		for i := off; i < min(off+16, len(b)); i++ {
			b[i] ^= 0xa5
		}
		if err := os.WriteFile(idx, b, 0o600); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("index damaged at %d: panic: %v", off, r)
				}
			}()
			w.client(dir, mirror).List(ctx)
		}()
	}
}
