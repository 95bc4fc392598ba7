package static_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/static"
)

// TestExportIndexProofs checks that an export holds, for every article,
// its index proof at the checkpoint's size, which verifies against the
// checkpoint's index root and names the article's leaf; and that a
// re-export after a new article removes the proofs of the old size once
// the new checkpoint is in place.
func TestExportIndexProofs(t *testing.T) {
	f := newFixture(t)
	out := t.TempDir()
	f.exportDir(out)
	pub := "p/" + f.alpha.ID() + "/"
	cp := f.checkpoint(filepath.Join(out, pub, "checkpoint"))
	if cp.Index == ([32]byte{}) {
		t.Fatal("the fixture's checkpoint carries no article index")
	}
	dir := filepath.Join(out, pub, "index", strconv.FormatInt(cp.Size, 10))
	for _, id := range []string{"hostile", "plain", "farsi", "withdrawn"} {
		proof, err := os.ReadFile(filepath.Join(dir, id))
		if err != nil {
			t.Fatalf("no index proof of %s: %v", id, err)
		}
		v, present, err := index.Verify(cp.Index, id, proof)
		a, aerr := f.st.Article(f.alpha.ID(), id)
		if err != nil || !present || aerr != nil || v.Leaf != a.Leaf {
			t.Errorf("index proof of %s: %+v, present %v, %v; want leaf %d", id, v, present, err, a.Leaf)
		}
	}
	// The previous size's proofs stay for one export more, for readers
	// holding the previous checkpoint.
	f.publish(item("new", "text/plain", "news", "en", "New article"))
	if stats := f.exportDir(out); stats.Deleted != 0 {
		t.Errorf("%d files removed, want none: the previous size's proofs stay", stats.Deleted)
	}
	if _, err := os.Stat(filepath.Join(dir, "hostile")); err != nil {
		t.Errorf("the previous size's proofs are gone: %v", err)
	}
	f.publish(item("new2", "text/plain", "news", "en", "New article"))
	stats := f.exportDir(out)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the proofs of the size before the previous are still there: %v", err)
	}
	if stats.Deleted < 4 {
		t.Errorf("%d files removed, want at least the 4 oldest proofs (and the oldest split proofs)", stats.Deleted)
	}
	cp2 := f.checkpoint(filepath.Join(out, pub, "checkpoint"))
	if _, err := os.Stat(filepath.Join(out, pub, "index", strconv.FormatInt(cp2.Size-1, 10), "new")); err != nil {
		t.Errorf("the previous size's proofs are gone: %v", err)
	}
	proof, err := os.ReadFile(filepath.Join(out, pub, "index", strconv.FormatInt(cp2.Size, 10), "new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, present, err := index.Verify(cp2.Index, "new", proof); err != nil || !present {
		t.Errorf("index proof of new: present %v, %v", present, err)
	}
}

func (f *fixture) checkpoint(file string) *catalog.Checkpoint {
	f.t.Helper()
	trust, err := f.st.Trust(f.alpha.Root.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	cp, err := catalog.OpenCheckpoint([]byte(mustRead(f.t, file)), trust)
	if err != nil {
		f.t.Fatal(err)
	}
	return cp
}

// TestExportSomeIndexProofs checks Options.IndexProofs: proofs for the
// most recently changed articles only, or none.
func TestExportSomeIndexProofs(t *testing.T) {
	f := newFixture(t)
	pub := "p/" + f.alpha.ID() + "/"
	for _, tc := range []struct {
		n    int
		want []string
	}{{2, []string{"withdrawn", "farsi"}}, {-1, nil}} {
		out := t.TempDir()
		sink, err := static.NewDir(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := static.Export(context.Background(), f.st, sink, &static.Options{IndexProofs: tc.n}); err != nil {
			t.Fatal(err)
		}
		cp := f.checkpoint(filepath.Join(out, pub, "checkpoint"))
		entries, _ := os.ReadDir(filepath.Join(out, pub, "index", strconv.FormatInt(cp.Size, 10)))
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("IndexProofs %d: proofs of %q, want %q", tc.n, got, want)
		}
	}
}
