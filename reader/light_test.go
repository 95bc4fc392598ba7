package reader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// lightBudget is what a new reader's first article may cost beyond its
// bundle (issue 10): response body bytes, and sequential round trips.
const (
	lightBudget = 32 << 10
	lightRounds = 3
)

// counter is an http.RoundTripper that counts a reader's requests, their
// response body bytes and its sequential round trips. It holds each
// request for delay before sending it, as a long link would: requests
// sent together then overlap, and a request that starts after another's
// response ended is one round trip later.
type counter struct {
	next  http.RoundTripper
	delay time.Duration
	mu    sync.Mutex
	spans []span
}

// span is one request: when it started, when its body was read, and its
// path and body size.
type span struct {
	start, end time.Time
	path       string
	bytes      int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	select {
	case <-time.After(c.delay):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.mu.Lock()
	c.spans = append(c.spans, span{start, time.Now(), r.URL.Path, len(body)})
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

// countRequests makes c's requests go through a new counter.
func countRequests(c *reader.Client) *counter {
	ct := &counter{delay: 20 * time.Millisecond}
	reader.SetRoundTripper(c, func(rt http.RoundTripper) http.RoundTripper {
		ct.next = rt
		return ct
	})
	return ct
}

// costs are what a counter saw.
type costs struct {
	requests, rounds int
	bytes, bundle    int // body bytes: all but bundles, bundles
	paths            []string
	sizes            []int
}

func (c *counter) costs() costs {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := slices.Clone(c.spans)
	slices.SortFunc(s, func(a, b span) int { return a.start.Compare(b.start) })
	var out costs
	depth := make([]int, len(s))
	for i, x := range s {
		depth[i] = 1
		for j := range i {
			if !s[j].end.After(x.start) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		out.rounds = max(out.rounds, depth[i])
		out.requests++
		if strings.HasPrefix(x.path, "/b/") {
			out.bundle += x.bytes
		} else {
			out.bytes += x.bytes
		}
		out.paths = append(out.paths, x.path)
		out.sizes = append(out.sizes, x.bytes)
	}
	return out
}

// spans lists each request's path (the part after the publisher's ID)
// and body size.
func (c costs) spans() string {
	var b strings.Builder
	for i, p := range c.paths {
		if i > 0 {
			b.WriteString(", ")
		}
		if _, rest, ok := strings.Cut(strings.TrimPrefix(p, "/p/"), "/"); ok && strings.HasPrefix(p, "/p/") {
			p = rest
		} else if strings.HasPrefix(p, "/b/") {
			p = "b/…"
		}
		fmt.Fprintf(&b, "%s %d B", p, c.sizes[i])
	}
	return b.String()
}

func (c costs) String() string {
	return fmt.Sprintf("%d requests, %d sequential round trips, %d B beyond %d B of bundles", c.requests, c.rounds, c.bytes, c.bundle)
}

// lightClient is a reader that keeps no copy of the log (not Full).
func (w *world) lightClient(stateDir string, mirrors ...string) *reader.Client {
	w.t.Helper()
	return w.newClient(&reader.Config{Mirrors: mirrors, StateDir: stateDir})
}

// fullClient is a reader that verifies the whole log.
func (w *world) fullClient(stateDir string, mirrors ...string) *reader.Client {
	w.t.Helper()
	return w.client(stateDir, mirrors...)
}

// sameArticles fails unless got lists the articles of want, in order.
func sameArticles(t *testing.T, got, want []*catalog.Article) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d articles, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Revision != w.Revision || g.Leaf != w.Leaf || g.Retracted != w.Retracted || !g.Retracted && g.Digest != w.Digest {
			t.Fatalf("article %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestNewestShortLog: a list longer than the log shows every article.
func TestNewestShortLog(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	url := serve(t, m.h)
	full, err := w.fullClient(t.TempDir(), url).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.lightClient(t.TempDir(), url).Newest(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	sameArticles(t, r.Articles(), full.Articles())
}

// TestNewestLyingLeaves: a mirror that alters a leaf at the log's end is
// caught by the hash tiles.
func TestNewestLyingLeaves(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(600)
	_, err := w.lightClient(t.TempDir(), serve(t, lyingLeaves(w.handler(st)))).Newest(ctx, 10)
	if err == nil || !strings.Contains(err.Error(), "do not hash to its checkpoint") {
		t.Fatalf("err = %v, want the hash tiles to refuse the altered leaf", err)
	}
}

// TestNewestReturning: a reader that listed before lists again after one
// more article: the new checkpoint must extend the one it kept (hash
// tiles), and the new article comes first.
func TestNewestReturning(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(3000)
	url := serve(t, w.handler(st))
	dir := t.TempDir()
	if _, err := w.lightClient(dir, url).Newest(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := w.publisher(st, t2).Publish([]publish.Item{item("new", "<p>New.</p>")}); err != nil {
		t.Fatal(err)
	}
	c := w.lightClient(dir, url)
	ct := countRequests(c)
	r, err := c.Newest(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Articles(); len(a) == 0 || a[0].ID != "new" {
		t.Fatalf("newest: %v, want \"new\" first", a)
	}
	co := ct.costs()
	t.Logf("returning: %s: %v", co, co.spans())
	if co.rounds > 2 {
		t.Errorf("returning list: %s: want 2 round trips at most", co)
	}
}

// TestNewestFork: a reader that verified a checkpoint refuses a longer
// one whose tree does not extend it, and keeps both as evidence.
func TestNewestFork(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	if _, err := w.lightClient(dir, serve(t, w.handler(w.store(step0, step1)))).Newest(ctx, 5); err != nil {
		t.Fatal(err)
	}
	forked := w.store(step0, fork1, fork2)
	w.grow(forked, 300, t2)
	c := w.lightClient(dir, serve(t, w.handler(forked)))
	_, err := c.Newest(ctx, 5)
	if !errors.Is(err, reader.ErrFork) {
		t.Fatalf("err = %v, want a fork", err)
	}
	if len(c.ForkEvidence()) != 1 {
		t.Fatalf("evidence %v, want one file", c.ForkEvidence())
	}
}

// TestLightThenFull: a reader that listed by the light path then syncs
// the whole log (read, --full): the log must extend the checkpoint it
// verified, and a forked one is refused.
func TestLightThenFull(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	if _, err := w.lightClient(dir, serve(t, w.handler(w.store(step0, step1)))).Newest(ctx, 5); err != nil {
		t.Fatal(err)
	}
	forked := w.store(step0, fork1, fork2)
	w.grow(forked, 300, t2)
	if _, err := w.fullClient(dir, serve(t, w.handler(forked))).List(ctx); !errors.Is(err, reader.ErrFork) {
		t.Fatalf("full sync of a fork: err = %v, want a fork", err)
	}
	m := w.honestMirror()
	r, err := w.fullClient(dir, serve(t, m.h)).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Articles()) != 4 {
		t.Fatalf("%d articles, want 4", len(r.Articles()))
	}
	if _, err := os.Stat(filepath.Join(dir, w.pub.ID(), "latest")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("latest after a full sync past it: %v, want it gone", err)
	}
	// The full log is kept: the next list syncs what is new.
	r, err = w.lightClient(dir, serve(t, m.h)).Newest(ctx, 2)
	if err != nil || r.Light {
		t.Fatalf("list with a kept log: light %v, err %v: want a sync", r != nil && r.Light, err)
	}
}

// staticTree writes what h serves for a log of size leaves (the
// publisher's key statement, checkpoint and mirror list, every tile, the
// index proofs of ids and the given bundles) as files, laid out like a
// mirror's routes, and returns the directory.
func staticTree(t *testing.T, h http.Handler, pub string, size int64, ids []string, bundles ...string) string {
	t.Helper()
	dir := t.TempDir()
	put := func(path string, must bool) {
		rec := record(h, httptestRequest(path))
		if rec.Code != http.StatusOK {
			if must {
				t.Fatalf("GET %s: %d", path, rec.Code)
			}
			return
		}
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "/")))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := "/p/" + pub
	put(p+"/key-statement", true)
	put(p+"/checkpoint", true)
	put(p+"/mirrors", false)
	for _, tile := range tlog.NewTiles(catalog.TileHeight, 0, size) {
		put(p+"/"+catalog.TilePath(tile), true)
		if tile.L == 0 {
			tile.L = -1
			put(p+"/"+catalog.TilePath(tile), true)
		}
	}
	for _, id := range ids {
		put(fmt.Sprintf("%s/index/%d/%s", p, size, id), false)
	}
	for _, d := range bundles {
		put("/b/"+d, true)
	}
	return dir
}

func httptestRequest(path string) *http.Request {
	r, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://mirror.example"+path, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// serveStatic serves dir's files under the URL prefix /some/prefix, as a
// static host or bucket would, and returns the mirror's URL.
func serveStatic(t *testing.T, dir string) string {
	return serve(t, http.StripPrefix("/some/prefix", http.FileServer(http.Dir(dir)))) + "/some/prefix"
}

// TestNewestStatic: the newest articles from plain files under a prefix.
func TestNewestStatic(t *testing.T) {
	w := newWorld(t)
	st := w.bigLog(700)
	p, err := st.Publisher(w.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	url := serveStatic(t, staticTree(t, w.handler(st), w.pub.ID(), p.Size, nil))
	r, err := w.lightClient(t.TempDir(), url).Newest(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Articles(); len(a) != 3 || a[0].ID != "late" {
		t.Fatalf("newest: %v", a)
	}
	// And the whole log, from the same files.
	if _, err := w.fullClient(t.TempDir(), url).List(ctx); err != nil {
		t.Fatal(err)
	}
}

var _ = store.Options{}

// TestNewestRollback: a reader that keeps no log but the newest
// checkpoint it verified refuses an older one, from the same process and
// from the next.
func TestNewestRollback(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	if _, err := w.lightClient(dir, serve(t, w.honestMirror().h)).Newest(ctx, 5); err != nil {
		t.Fatal(err)
	}
	old := serve(t, w.handler(w.store(step0, step1)))
	if _, err := w.lightClient(dir, old).Newest(ctx, 5); !errors.Is(err, reader.ErrRollback) {
		t.Fatalf("err = %v, want a rollback", err)
	}
}

// TestLightStateKept: what a light fetch keeps (the file latest) bounds
// the next process's fetches, and a damaged one is reported, not ignored:
// ignoring it would drop the protection against rollback it gives.
func TestLightStateKept(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	url := serve(t, w.honestMirror().h)
	if _, err := w.lightClient(dir, url).Newest(ctx, 1); err != nil {
		t.Fatal(err)
	}
	latest := filepath.Join(dir, w.pub.ID(), "latest")
	if _, err := os.Stat(latest); err != nil {
		t.Fatal(err)
	}
	flip(t, latest, -3)
	_, err := w.lightClient(dir, url).Newest(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged latest: err = %v", err)
	}
}
