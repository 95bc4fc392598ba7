package static_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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
