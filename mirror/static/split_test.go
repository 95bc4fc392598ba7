package static_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/static"
)

// readSplit reads id's split proof from an export in out at cp, joins it
// and verifies it against cp's index root.
func (f *fixture) readSplit(out string, cp *catalog.Checkpoint, id string) (index.Value, bool, error) {
	f.t.Helper()
	pub := filepath.Join(out, "p", f.alpha.ID(), "index")
	raw, err := os.ReadFile(filepath.Join(pub, "t", strconv.FormatInt(cp.Size, 10), index.BucketOf(cp.Size, id).String()))
	if err != nil {
		return index.Value{}, false, err
	}
	top, err := index.ParseTop(raw)
	if err != nil {
		return index.Value{}, false, err
	}
	var bottom *index.Bottom
	if node, ok := top.Node(); ok {
		raw, err := os.ReadFile(filepath.Join(pub, "n", hex.EncodeToString(node[:]), id))
		if err != nil {
			return index.Value{}, false, err
		}
		if bottom, err = index.ParseBottom(raw); err != nil {
			return index.Value{}, false, err
		}
	}
	p, err := index.Join(cp.Size, id, top, bottom)
	if err != nil {
		return index.Value{}, false, err
	}
	return p.Verify(cp.Index, id)
}

// TestExportSplitProofs checks that an export holds a top part for every
// bucket at the checkpoint's size and a bottom part for every article,
// which join into a proof of the article's leaf; that a re-export writes
// the new size's top parts and only the bottom parts that changed; and
// that the split proofs of the size before the previous one go, once
// the new checkpoint is in place, but those the previous size names stay.
func TestExportSplitProofs(t *testing.T) {
	f := newFixture(t)
	out := t.TempDir()
	f.exportDir(out)
	pub := filepath.Join(out, "p", f.alpha.ID())
	cp := f.checkpoint(filepath.Join(pub, "checkpoint"))
	ids := []string{"hostile", "plain", "farsi", "withdrawn"}
	check := func(cp *catalog.Checkpoint, ids ...string) {
		t.Helper()
		for _, id := range ids {
			v, ok, err := f.readSplit(out, cp, id)
			a, aerr := f.st.Article(f.alpha.ID(), id)
			if err != nil || !ok || aerr != nil || v.Leaf != a.Leaf {
				t.Errorf("split proof of %s at size %d: %+v, %v, %v; want leaf %d", id, cp.Size, v, ok, err, a.Leaf)
			}
		}
	}
	check(cp, ids...)
	tops, _ := os.ReadDir(filepath.Join(pub, "index", "t", strconv.FormatInt(cp.Size, 10)))
	if len(tops) != 1<<index.CutDepth(cp.Size) {
		t.Errorf("%d top parts at size %d, want one per bucket, %d", len(tops), cp.Size, 1<<index.CutDepth(cp.Size))
	}
	// An absent id's bucket: its top part is there; the bottom part,
	// unless the bucket is empty, is not (an export cannot know which ids
	// readers will ask for).
	if _, _, err := f.readSplit(out, cp, "never-published"); err != nil && !os.IsNotExist(err) {
		t.Errorf("never-published: %v", err)
	}

	sink, err := static.NewDir(out)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []*catalog.Checkpoint{cp}
	all := ids
	for round := 1; round <= 4; round++ {
		id := "new" + strconv.Itoa(round)
		all = append(all, id)
		f.publish(item(id, "text/plain", "news", "en", "New article"))
		rec := &recorder{Sink: sink}
		f.export(rec)
		cp := f.checkpoint(filepath.Join(pub, "checkpoint"))
		prev := sizes[len(sizes)-1]
		sizes = append(sizes, cp)
		check(cp, all...)
		// The previous checkpoint's readers still find theirs.
		check(prev, all[:len(all)-1]...)
		// Written: every top part of the new size, and the bottom parts of
		// the new article's bucket only (all of them when the cut depth
		// changed with the size).
		var tops, bottoms int
		for _, name := range rec.puts {
			switch {
			case strings.HasPrefix(name, "p/"+f.alpha.ID()+"/index/t/"):
				tops++
			case strings.HasPrefix(name, "p/"+f.alpha.ID()+"/index/n/"):
				bottoms++
			}
		}
		want := 0
		for _, other := range all {
			if index.BucketOf(cp.Size, other) == index.BucketOf(cp.Size, id) {
				want++
			}
		}
		moved := index.CutDepth(cp.Size) != index.CutDepth(prev.Size)
		if moved {
			// Those below a node that was a bucket root before too stay.
			want = max(want, bottoms)
		}
		if tops != 1<<index.CutDepth(cp.Size) || bottoms != want || bottoms > len(all) {
			t.Errorf("round %d (size %d, cut depth %d): wrote %d top parts and %d bottom parts, want %d and %d", round, cp.Size, index.CutDepth(cp.Size), tops, bottoms, 1<<index.CutDepth(cp.Size), want)
		}
	}
	// The size before the previous one: its top parts are gone.
	old := sizes[len(sizes)-3]
	if _, err := os.Stat(filepath.Join(pub, "index", "t", strconv.FormatInt(old.Size, 10))); !os.IsNotExist(err) {
		t.Errorf("top parts of size %d are still there: %v", old.Size, err)
	}
	// Every bottom part left is named by the current or previous size.
	keep := map[string]bool{}
	for _, cp := range sizes[len(sizes)-2:] {
		entries, _ := os.ReadDir(filepath.Join(pub, "index", "t", strconv.FormatInt(cp.Size, 10)))
		for _, e := range entries {
			raw, _ := os.ReadFile(filepath.Join(pub, "index", "t", strconv.FormatInt(cp.Size, 10), e.Name()))
			top, err := index.ParseTop(raw)
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := top.Node(); ok {
				keep[hex.EncodeToString(n[:])] = true
			}
		}
	}
	nodes, _ := os.ReadDir(filepath.Join(pub, "index", "n"))
	for _, n := range nodes {
		if !keep[n.Name()] {
			t.Errorf("bottom parts below %s, a bucket root of no kept size", n.Name())
		}
	}
}
