package static_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/verifier"
)

// TestExportDir checks what an export to a directory holds: the reader's
// files under the dynamic mirror's paths, the pages with a strict meta
// policy and relative links only, the entries under safe names, and the
// verifier page at the root.
func TestExportDir(t *testing.T) {
	f := newFixture(t)
	out := t.TempDir()
	stats := f.exportDir(out)
	if stats.Publishers != 1 || stats.Written == 0 {
		t.Fatalf("stats %+v", stats)
	}
	pub := "p/" + f.alpha.ID() + "/"
	hostile := f.digest("hostile")
	for _, name := range []string{
		pub + "checkpoint", pub + "key-statement", pub + "mirrors", pub + "tile/0/000.p/7", pub + "tile/entries/000.p/7",
		pub + "index.html", pub + "feed.atom", pub + "a/hostile/index.html", pub + "a/withdrawn/index.html",
		"b/" + hostile.String(), "e/" + hostile.String() + "/img/photo.png", "e/" + hostile.String() + "/evil.html.png",
		"index.html", "static/style.css", static.VerifierName,
	} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("export lacks %s: %v", name, err)
		}
	}
	stored, err := f.st.Publisher(f.alpha.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(out, pub, "checkpoint")); got != string(stored.Checkpoint) {
		t.Errorf("checkpoint %q, want the store's %q", got, stored.Checkpoint)
	}
	// Every file's extension gives a type a browser will not run: only
	// the pages are HTML, and no SVG, XML or script is written.
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		rel = filepath.ToSlash(rel)
		ext := strings.ToLower(filepath.Ext(rel))
		switch {
		case rel == static.VerifierName:
			if mustRead(t, p) != string(verifier.Page()) {
				t.Errorf("%s is not the verifier page", rel)
			}
		case ext == ".html":
			if strings.HasPrefix(rel, "e/") || strings.HasPrefix(rel, "b/") {
				t.Errorf("%s: an entry written as HTML", rel)
			}
			checkPage(t, rel, mustRead(t, p))
		case ext == ".svg" || ext == ".xml" || ext == ".js" || ext == ".htm" || ext == ".xhtml":
			t.Errorf("%s written with a risky extension", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	page := mustRead(t, filepath.Join(out, pub, "a/hostile/index.html"))
	if !strings.Contains(page, `src="../../../../e/`+hostile.String()+`/img/photo.png"`) || !strings.Contains(page, `src="../../../../e/`+hostile.String()+`/evil.html.png"`) {
		t.Errorf("hostile page does not link its images under their safe names:\n%s", page)
	}
	if strings.Contains(page, "evil.svg") {
		t.Errorf("hostile page links the SVG entry, which is not written")
	}
	if !slices.ContainsFunc(stats.Left, func(s string) bool { return strings.Contains(s, "img/evil.svg") }) {
		t.Errorf("the SVG entry left out is not reported: %q", stats.Left)
	}
}

var (
	absLink   = regexp.MustCompile(`(?i)(href|src)="(/|[a-z]+:)`)
	metaCSP   = `<meta http-equiv="Content-Security-Policy" content="` + html.EscapeString(static.PageCSP) + `">`
	anyScript = regexp.MustCompile(`(?i)<script|\son[a-z]+=|javascript:`)
)

// checkPage checks an exported page: the meta policy before anything it
// governs, no script, and links relative to the page (the export works
// under any path prefix), but for the publisher's canonical link.
func checkPage(t *testing.T, name, page string) {
	t.Helper()
	i := strings.Index(page, metaCSP)
	if i < 0 || i > strings.Index(page, "<link") {
		t.Errorf("%s: no meta Content-Security-Policy before the style sheet", name)
	}
	if m := anyScript.FindString(page); m != "" {
		t.Errorf("%s: holds %q", name, m)
	}
	for _, m := range absLink.FindAllStringIndex(page, -1) {
		ctx := page[m[0]:min(len(page), m[1]+60)]
		if !strings.Contains(ctx, "https://news.example/") {
			t.Errorf("%s: absolute link %q", name, ctx)
		}
	}
}

// TestExportCheckpointLast checks the order of writes: each
// publisher's checkpoint after a sync that follows every other file, and
// the index proofs (full and split) of the size before the previous one
// removed only after it.
func TestExportCheckpointLast(t *testing.T) {
	f := newFixture(t)
	sink, err := static.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		if round > 0 {
			f.publish(item(fmt.Sprintf("new%d", round), "text/plain", "news", "en", "New article"))
		}
		rec := &recorder{Sink: sink}
		f.export(rec)
		cp := slices.Index(rec.puts, "p/"+f.alpha.ID()+"/checkpoint")
		if cp < 1 || rec.puts[cp-1] != "(sync)" {
			t.Fatalf("round %d: the checkpoint is not put right after a sync: %q", round, rec.puts)
		}
		deleted := 0
		for _, name := range rec.puts[:cp] {
			if strings.HasPrefix(name, "(delete)") {
				t.Errorf("round %d: %s before the checkpoint", round, name)
			}
		}
		for _, name := range rec.puts[cp+1:] {
			switch {
			case strings.HasPrefix(name, "(delete) p/"+f.alpha.ID()+"/index/7/"):
				deleted++
			case strings.HasPrefix(name, "(delete) p/"+f.alpha.ID()+"/index/t/7/"), strings.HasPrefix(name, "(delete) p/"+f.alpha.ID()+"/index/n/"):
				// Split proofs of the size before the previous one.
			case name != "(sync)" && name != static.StateName && !strings.HasPrefix(name, static.StateShards):
				t.Errorf("round %d: %s after the checkpoint", round, name)
			}
		}
		if want := 4 * (round / 2); deleted != want {
			t.Errorf("round %d: %d old index proofs removed, want %d", round, deleted, want)
		}
	}
}

// TestExportIncremental checks that exporting again writes nothing when
// nothing changed, and after a new article only what changed: never an
// immutable file again.
func TestExportIncremental(t *testing.T) {
	f := newFixture(t)
	out := t.TempDir()
	first := f.exportDir(out)
	pub := "p/" + f.alpha.ID() + "/"
	immutable := []string{"b/" + f.digest("plain").String(), "e/" + f.digest("hostile").String() + "/img/photo.png", pub + "tile/0/000.p/7"}
	ids := map[string]string{}
	for _, name := range append(immutable, pub+"a/plain/index.html") {
		ids[name] = fileID(t, filepath.Join(out, name))
	}
	again := f.exportDir(out)
	if again.Written != 0 || again.Skipped == 0 || first.Written == 0 {
		t.Errorf("second export wrote %d files and kept %d, want none written", again.Written, again.Skipped)
	}
	f.publish(item("new", "text/plain", "news", "en", "New article"))
	rec := &recorder{}
	sink, err := static.NewDir(out)
	if err != nil {
		t.Fatal(err)
	}
	rec.Sink = sink
	f.export(rec)
	for _, name := range rec.puts {
		if slices.Contains(immutable, name) || name == pub+"a/plain/index.html" {
			t.Errorf("re-export wrote %s again", name)
		}
	}
	for name, id := range ids {
		if got := fileID(t, filepath.Join(out, name)); got != id && name != pub+"tile/0/000.p/7" {
			t.Errorf("%s was replaced", name)
		}
	}
	for _, want := range []string{pub + "a/new/index.html", "b/" + f.digest("new").String(), pub + "tile/0/000.p/8", pub + "checkpoint", pub + "index.html", "index.html"} {
		if !slices.Contains(rec.puts, want) {
			t.Errorf("re-export did not write %s; wrote %q", want, rec.puts)
		}
	}
}

func (f *fixture) digest(id string) bundle.Digest {
	f.t.Helper()
	a, err := f.st.Article(f.alpha.ID(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Digest
}

// TestExportReadOverHTTP serves an export with python3 -m http.server
// under a path prefix, and has the reader sync from it and fetch and
// verify an article.
func TestExportReadOverHTTP(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	f.exportDir(filepath.Join(root, "mirrors", "alpha"))
	base := servePython(t, root) + "/mirrors/alpha"
	fetchFrom(t, f, base)
}

// fetchFrom has a new reader fetch the fixture's hostile article from a
// mirror URL and checks it verified.
func fetchFrom(t *testing.T, f *fixture, mirror string) {
	t.Helper()
	c, err := reader.New(&reader.Config{Root: f.alpha.Root.Public(), Mirrors: []string{mirror}, NoDiscovery: true,
		Now: func() time.Time { return f.clock.t.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Fetch(ctx, "hostile")
	if err != nil {
		t.Fatalf("fetch from %s: %v", mirror, err)
	}
	if res.Bundle == nil || res.Bundle.Manifest.ID != "hostile" || res.Bundle.Digest != f.digest("hostile") {
		t.Fatalf("fetched %+v", res)
	}
}

// TestExportListPages checks that a publisher's older list pages stay
// the same as articles are added: a new article rewrites index.html
// only, and the older pages are linked one from the next.
func TestExportListPages(t *testing.T) {
	f := newFixture(t)
	var items []publish.Item
	for i := range 450 {
		items = append(items, item(fmt.Sprintf("filler-%03d", i), "text/plain", "filler", "en", fmt.Sprintf("Filler %d", i)))
	}
	f.publish(items...)
	out := t.TempDir()
	f.exportDir(out)
	pub := "p/" + f.alpha.ID() + "/"
	index := mustRead(t, filepath.Join(out, pub, "index.html"))
	older := mustRead(t, filepath.Join(out, pub, "older-0.html"))
	if _, err := os.Stat(filepath.Join(out, pub, "older-1.html")); err == nil {
		t.Errorf("454 articles make older-1.html, want index.html and older-0.html only")
	}
	if !strings.Contains(index, `href="older-0.html" rel="next"`) || strings.Contains(older, `rel="next"`) {
		t.Errorf("the pages are not linked newest to oldest")
	}
	if !strings.Contains(older, ">hostile<") && !strings.Contains(older, "Hostile") || strings.Contains(older, "filler-449") || strings.Contains(older, `class="fresh`) {
		t.Errorf("older-0.html does not hold the oldest articles alone, without freshness:\n%s", older)
	}
	if !strings.Contains(index, "Filler 449") || !strings.Contains(index, `class="fresh`) {
		t.Errorf("index.html does not hold the newest articles and the log's freshness")
	}
	f.publish(item("new", "text/plain", "news", "en", "New article"))
	sink, err := static.NewDir(out)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Sink: sink}
	f.export(rec)
	if !slices.Contains(rec.puts, pub+"index.html") || slices.Contains(rec.puts, pub+"older-0.html") {
		t.Errorf("after a new article the export wrote %q, want index.html and not older-0.html", rec.puts)
	}
}

// failing is a Sink whose Put fails for one name.
type failing struct {
	*recorder
	name string
}

func (s *failing) Put(ctx context.Context, o static.Object, data []byte) error {
	if o.Name == s.name {
		return errors.New("static: writing " + o.Name + ": disk full")
	}
	return s.recorder.Put(ctx, o, data)
}

// TestExportFailsBeforeCheckpoint checks that an export that cannot
// write a file stops with a one-line error and writes no checkpoint;
// the next export completes it.
func TestExportFailsBeforeCheckpoint(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	sink, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := &failing{recorder: &recorder{Sink: sink}, name: "b/" + f.digest("plain").String()}
	_, err = static.Export(context.Background(), f.st, bad, nil)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("export with a failing write: %v", err)
	}
	for _, name := range bad.puts {
		if strings.HasSuffix(name, "/checkpoint") {
			t.Errorf("the checkpoint was written after a failed write: %q", bad.puts)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p", f.alpha.ID(), "checkpoint")); err == nil {
		t.Errorf("a checkpoint is in the export")
	}
	f.exportDir(dir)
	if _, err := os.Stat(filepath.Join(dir, "b", f.digest("plain").String())); err != nil {
		t.Errorf("the next export did not write what the failed one could not: %v", err)
	}
}
