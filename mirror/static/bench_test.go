package static_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/publish"
)

// TestExportCost measures exports of logs of n real articles (bundles of
// about 1 KB of HTML each) for each n in SAMIZDAT_BENCH_EXPORT (a comma
// list, e.g. 1000,10000,100000): a first export, an export with nothing
// new, the cost of the index proofs, and an export after one new
// article; with SAMIZDAT_BENCH_S3=1, to versitygw on loopback instead
// of a directory. It is skipped unless the variable is set; BENCHMARKS.md
// ("Static export") has its figures.
func TestExportCost(t *testing.T) {
	sizes := os.Getenv("SAMIZDAT_BENCH_EXPORT")
	if sizes == "" {
		t.Skip("set SAMIZDAT_BENCH_EXPORT=1000,10000,100000 to measure exports")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("articles=%d", n), func(t *testing.T) { exportCost(t, n) })
	}
}

func exportCost(t *testing.T, n int) {
	f := newFixture(t)
	body := strings.Repeat("<p>A paragraph of an ordinary article, long enough to be one.</p>\n", 16)
	t0 := time.Now()
	for i := 0; i < n; {
		var items []publish.Item
		for ; i < n && len(items) < 1000; i++ {
			items = append(items, item(fmt.Sprintf("article-%07d", i), "text/html", body, "en", fmt.Sprintf("Article %d", i)))
		}
		f.publish(items...)
	}
	t.Logf("published %d articles in %v", n, time.Since(t0).Round(time.Millisecond))
	out := t.TempDir()
	var opts *static.Options
	var sink static.Sink
	var err error
	if sink, err = static.NewDir(out); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SAMIZDAT_BENCH_S3") == "1" {
		// The same, uploaded to versitygw on loopback.
		sink = startS3(t).sink(t, "mirror")
	}
	exportTo := func() *static.Stats {
		stats, err := static.Export(context.Background(), f.st, sink, opts)
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	run := func(what string) *static.Stats {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		stats := exportTo()
		d := time.Since(start)
		runtime.ReadMemStats(&m1)
		t.Logf("%-28s %8v  written %7d files %10d bytes, unchanged %7d, removed %6d, allocated %5d MB",
			what, d.Round(time.Millisecond), stats.Written, stats.Bytes, stats.Skipped, stats.Deleted, (m1.TotalAlloc-m0.TotalAlloc)>>20)
		return stats
	}
	run("first export")
	run("again, nothing new")

	// The index proofs: what writing them costs at each export (every
	// checkpoint has a new size, so every proof is new).
	p, err := f.st.Publisher(f.alpha.ID())
	if err != nil {
		t.Fatal(err)
	}
	arts, err := f.st.Articles(f.alpha.ID())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var bytes int64
	for _, a := range arts {
		_, proof, err := f.st.IndexProof(f.alpha.ID(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		bytes += int64(len(proof))
	}
	proofTime := time.Since(start)
	proofSink, err := static.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for _, a := range arts {
		_, proof, _ := f.st.IndexProof(f.alpha.ID(), a.ID)
		if err := proofSink.Put(context.Background(), static.Object{Name: "index/" + a.ID}, proof); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("index proofs at size %d: %d proofs, %d bytes (%d a proof), made in %v, made and written in %v",
		p.Size, len(arts), bytes, bytes/int64(len(arts)), proofTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	f.publish(item("new", "text/html", body, "en", "New article"))
	run("after one new article")
	// With index proofs for the 100 most recently changed articles only:
	// the first export removes the old full set, the second shows what
	// every later one costs.
	opts = &static.Options{IndexProofs: 100}
	f.publish(item("new2", "text/html", body, "en", "New article"))
	run("one more, 100 proofs")
	f.publish(item("new3", "text/html", body, "en", "New article"))
	run("and one more, 100 proofs")
	if os.Getenv("SAMIZDAT_BENCH_S3") != "1" {
		var files int
		filepath.WalkDir(out, func(string, os.DirEntry, error) error { files++; return nil })
		t.Logf("export holds %d files and directories", files)
	}
}

// countingSink counts the files and bytes an export writes and removes,
// by kind of index file.
type countingSink struct {
	static.Sink
	mu      sync.Mutex
	files   map[string]int
	bytes   map[string]int64
	deleted int
}

func indexKind(name string) string {
	_, rest, ok := strings.Cut(name, "/index/")
	switch {
	case !ok:
		return "other"
	case strings.HasPrefix(rest, "t/"):
		return "top"
	case strings.HasPrefix(rest, "n/"):
		return "bottom"
	}
	return "full"
}

func (c *countingSink) Put(ctx context.Context, o static.Object, data []byte) error {
	c.mu.Lock()
	c.files[indexKind(o.Name)]++
	c.bytes[indexKind(o.Name)] += int64(len(data))
	c.mu.Unlock()
	return c.Sink.Put(ctx, o, data)
}

func (c *countingSink) Delete(ctx context.Context, names []string) error {
	c.mu.Lock()
	c.deleted += len(names)
	c.mu.Unlock()
	return c.Sink.Delete(ctx, names)
}

// TestSplitExportCost measures what a re-export writes after 1 and after
// 10 changed articles, for logs of n articles for each n in
// SAMIZDAT_BENCH_SPLIT (e.g. 1000,10000,100000): with a full index proof
// for every article (what an export wrote before split proofs, which it
// now writes beside them), with the default (split proofs and
// DefaultIndexProofs full ones), and with split proofs only. It is
// skipped unless the variable is set; BENCHMARKS.md ("Split index
// proofs") has its figures.
func TestSplitExportCost(t *testing.T) {
	sizes := os.Getenv("SAMIZDAT_BENCH_SPLIT")
	if sizes == "" {
		t.Skip("set SAMIZDAT_BENCH_SPLIT=1000,10000,100000 to measure re-exports")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("articles=%d", n), func(t *testing.T) { splitExportCost(t, n) })
	}
}

func splitExportCost(t *testing.T, n int) {
	f := newFixture(t)
	body := strings.Repeat("<p>A paragraph of an ordinary article, long enough to be one.</p>\n", 16)
	id := func(i int) string { return fmt.Sprintf("article-%07d", i) }
	t0 := time.Now()
	for i := 0; i < n; {
		var items []publish.Item
		for ; i < n && len(items) < 1000; i++ {
			items = append(items, item(id(i), "text/html", body, "en", fmt.Sprintf("Article %d", i)))
		}
		f.publish(items...)
	}
	t.Logf("published %d articles in %v", n, time.Since(t0).Round(time.Millisecond))
	dir, err := static.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	export := func(proofs int) *countingSink {
		c := &countingSink{Sink: dir, files: map[string]int{}, bytes: map[string]int64{}}
		if _, err := static.Export(context.Background(), f.st, c, &static.Options{IndexProofs: proofs}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	changed := 0
	change := func(k int) {
		var items []publish.Item
		for range k {
			i := (changed * 7919) % n // spread over the log
			changed++
			items = append(items, item(id(i), "text/html", body+fmt.Sprint(changed), "en", fmt.Sprintf("Article %d, revised", i)))
		}
		f.publish(items...)
	}
	export(n + 1000) // first export
	for _, mode := range []struct {
		name   string
		proofs int
	}{{"full proofs of all", n + 1000}, {"default", 0}, {"split only", -1}} {
		change(1)
		export(mode.proofs) // the change of mode, not measured
		for _, k := range []int{1, 10} {
			change(k)
			start := time.Now()
			c := export(mode.proofs)
			d := time.Since(start)
			total, totalBytes := 0, int64(0)
			for kind, v := range c.files {
				total += v
				totalBytes += c.bytes[kind]
			}
			t.Logf("%d articles, %-18s after %2d changed: %7d files %11d B written (full proofs %6d / %9d B, top parts %5d / %8d B, bottom parts %5d / %8d B, other %4d / %8d B), %6d removed, %v",
				n, mode.name, k, total, totalBytes, c.files["full"], c.bytes["full"], c.files["top"], c.bytes["top"], c.files["bottom"], c.bytes["bottom"], c.files["other"], c.bytes["other"], c.deleted, d.Round(time.Millisecond))
		}
	}
}
