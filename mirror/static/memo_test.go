package static_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/static"
)

// listCounter is a Sink that counts the listings and reads it is asked
// for.
type listCounter struct {
	static.Sink
	lists, gets atomic.Int64
}

func (c *listCounter) List(ctx context.Context) (map[string]bool, error) {
	c.lists.Add(1)
	return c.Sink.List(ctx)
}

func (c *listCounter) Get(ctx context.Context, name string, max int64) ([]byte, error) {
	c.gets.Add(1)
	return c.Sink.Get(ctx, name, max)
}

// tree reads every file under dir, by its slash-separated name.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExportMemo: an export that starts from the last one's Memo neither
// lists the sink nor reads its state file, writes only what changed, and
// leaves the same files, byte for byte, as an export that read the sink;
// a Memo serves one export only.
func TestExportMemo(t *testing.T) {
	f := newFixture(t)
	memoDir, plainDir := t.TempDir(), t.TempDir()
	sink := func(dir string) *listCounter {
		d, err := static.NewDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return &listCounter{Sink: d}
	}
	ms, ps := sink(memoDir), sink(plainDir)
	first := f.export(ms)
	f.export(ps)
	if first.Memo == nil {
		t.Fatal("a completed export left no Memo")
	}
	for round, id := range []string{"memo-1", "memo-2"} {
		f.publish(item(id, "text/html", "<p>News "+id+"</p>", "en", "Title "+id))
		lists, gets := ms.lists.Load(), ms.gets.Load()
		next, err := static.Export(context.Background(), f.st, ms, &static.Options{Memo: first.Memo})
		if err != nil {
			t.Fatal(err)
		}
		if ms.lists.Load() != lists || ms.gets.Load() != gets {
			t.Errorf("round %d: the export with a Memo listed the sink %d times and read %d objects", round, ms.lists.Load()-lists, ms.gets.Load()-gets)
		}
		plain := f.export(ps)
		if next.Written != plain.Written || next.Bytes != plain.Bytes || next.Deleted != plain.Deleted {
			t.Errorf("round %d: with a Memo %d files (%d bytes, %d removed) written, without %d (%d, %d)",
				round, next.Written, next.Bytes, next.Deleted, plain.Written, plain.Bytes, plain.Deleted)
		}
		a, b := tree(t, memoDir), tree(t, plainDir)
		if len(a) != len(b) {
			t.Errorf("round %d: %d files with a Memo, %d without", round, len(a), len(b))
		}
		for name, data := range b {
			if !bytes.Equal(a[name], data) {
				t.Errorf("round %d: %s differs with a Memo", round, name)
			}
		}
		first = next
	}
	// Unchanged: nothing written, nothing removed, and every top part
	// kept (this size's and the one before) names a bottom part in place.
	checkBottoms := func(dir string) {
		t.Helper()
		tops, err := filepath.Glob(filepath.Join(dir, "p", "*", "index", "t", "*", "*"))
		if err != nil || len(tops) == 0 {
			t.Fatalf("no top parts in %s: %v", dir, err)
		}
		for _, name := range tops {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			top, err := index.ParseTop(b)
			if err != nil {
				t.Fatal(err)
			}
			node, below := top.Node()
			if !below {
				continue
			}
			pub := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(name))))
			if _, err := os.Stat(filepath.Join(pub, "index", "n", hex.EncodeToString(node[:]))); err != nil {
				t.Errorf("%s names bucket root %x, whose bottom parts are gone", name, node[:])
			}
		}
	}
	again, err := static.Export(context.Background(), f.st, ms, &static.Options{Memo: first.Memo})
	if err != nil {
		t.Fatal(err)
	}
	if again.Written != 0 || again.Deleted != 0 {
		t.Errorf("an unchanged store exported from a Memo: %d written, %d removed", again.Written, again.Deleted)
	}
	if plainAgain := f.export(ps); plainAgain.Written != 0 || plainAgain.Deleted != 0 {
		t.Errorf("an unchanged store exported again: %d written, %d removed", plainAgain.Written, plainAgain.Deleted)
	}
	checkBottoms(memoDir)
	checkBottoms(plainDir)
}
