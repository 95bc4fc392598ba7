package static_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/publish"
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

// byteCounter is a Sink that counts the bytes put under names with a
// prefix.
type byteCounter struct {
	static.Sink
	prefixes []string
	n        atomic.Int64
}

func (c *byteCounter) Put(ctx context.Context, o static.Object, data []byte) error {
	for _, p := range c.prefixes {
		if strings.HasPrefix(o.Name, p) {
			c.n.Add(int64(len(data)))
		}
	}
	return c.Sink.Put(ctx, o, data)
}

// TestExportStateShards: with 1,000 articles, a re-export after one
// changed article rewrites the shards of the export state that hold the
// records it changed, not the whole state; a state of version 1 (one file) is still read, so no page
// is written again.
func TestExportStateShards(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 1000; {
		var items []publish.Item
		for ; i < 1000 && len(items) < 500; i++ {
			items = append(items, item(fmt.Sprintf("bulk-%04d", i), "text/plain", "words", "en", fmt.Sprintf("Bulk %d", i)))
		}
		f.publish(items...)
	}
	dir := t.TempDir()
	d, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	bc := &byteCounter{Sink: d, prefixes: []string{static.StateName, static.StateShards}}
	f.export(bc)
	whole := bc.n.Load()
	f.publish(item("one-more", "text/plain", "news", "en", "One more"))
	bc.n.Store(0)
	f.export(bc)
	changed := bc.n.Load()
	t.Logf("export state: %d bytes in all, %d written after one change", whole, changed)
	// One change touches the records of some 20 to 30 pages and
	// summaries, hence as many of the 256 shards: about a tenth.
	if whole < 100_000 || changed > whole/6 {
		t.Errorf("export state of %d bytes: %d rewritten after one change, want at most a sixth", whole, changed)
	}

	// The same records as one version-1 file: read, and no page written.
	tr := tree(t, dir)
	v1 := map[string]any{"version": 1, "pages": map[string]string{}, "summaries": map[string]json.RawMessage{}}
	var root struct {
		IndexNodes json.RawMessage `json:"index_nodes"`
	}
	if err := json.Unmarshal(tr[static.StateName], &root); err != nil {
		t.Fatal(err)
	}
	v1["index_nodes"] = root.IndexNodes
	for name, data := range tr {
		if !strings.HasPrefix(name, static.StateShards) {
			continue
		}
		var sh struct {
			Pages     map[string]string          `json:"pages"`
			Summaries map[string]json.RawMessage `json:"summaries"`
		}
		if err := json.Unmarshal(data, &sh); err != nil {
			t.Fatal(err)
		}
		maps.Copy(v1["pages"].(map[string]string), sh.Pages)
		maps.Copy(v1["summaries"].(map[string]json.RawMessage), sh.Summaries)
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, static.StateName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	pages := &byteCounter{Sink: d, prefixes: []string{"p/", "index.html", "lang-"}}
	stats := f.export(pages)
	if pages.n.Load() != 0 {
		t.Errorf("after a version-1 state, %d bytes of pages written again (%d files)", pages.n.Load(), stats.Written)
	}
}
