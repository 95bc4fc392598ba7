package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish"
)

// newServerOn starts an HTTP server on addr (a loopback address of the
// test's choosing), closed when the test ends.
func newServerOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestFollowLinksRefusesPrivateAddresses is a hostile feed whose items
// link to a page on the publisher's own network (another loopback
// address, as an intranet or 169.254.169.254 would be), directly and
// through a redirect from the feed's server: --follow-links must not
// fetch it and sign it into a public bundle. The feed's own server stays
// reachable for its own pages; a feed read from a file reaches none.
func TestFollowLinksRefusesPrivateAddresses(t *testing.T) {
	ctx := context.Background()
	var internalHits atomic.Int32
	internal := newServerOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html lang=en><head><title>Admin</title></head><body><article><p>INTERNAL-SECRET of the newsroom's own network, never to be published.</p></article></body></html>")
	}))
	var srv *httptest.Server
	srv = newServerOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed":
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprintf(w, testFeedHead, srv.URL+"/")
			fmt.Fprint(w, rssItem("own", srv.URL+"/own", "Own", "<p>summary</p>"))
			fmt.Fprint(w, rssItem("direct", internal.URL+"/admin", "Direct", "<p>summary</p>"))
			fmt.Fprint(w, rssItem("redirected", srv.URL+"/go", "Redirected", "<p>summary</p>"))
			fmt.Fprint(w, "</channel></rss>")
		case "/own":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!DOCTYPE html><html lang=en><head><title>Own</title></head><body><article><p>The newsroom's own article, from its page.</p></article></body></html>")
		case "/go":
			http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))

	keyDir, st := testKeyDir(t), filepath.Join(t.TempDir(), "store")
	code, stdout, stderr := runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--follow-links", "--feed", srv.URL+"/feed")
	lines := outLines(t, stdout)
	if code != exitFailed || len(lines) != 1 || !strings.HasPrefix(lines[0], "own ") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, id := range []string{"direct", "redirected"} {
		if !strings.Contains(stderr, id+": following ") || !strings.Contains(stderr, "127.0.0.2 is not a public address") {
			t.Errorf("stderr does not say %s was refused:\n%s", id, stderr)
		}
	}

	// The same feed from a file: no address is the feed's own.
	body, _, _, _, err := get(ctx, feedClient(), srv.URL+"/feed", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "feed.rss")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", filepath.Join(t.TempDir(), "store2"), "--follow-links", "--feed", file)
	if code != exitFailed || strings.TrimSpace(stdout) != "" || !strings.Contains(stderr, "127.0.0.1 is not a public address") {
		t.Errorf("feed from a file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal server was fetched %d times", n)
	}
}

// TestFeedItemsPublishedInBatches is a feed whose items' articles add up
// to more than feedItems may hold (heldBudget, lowered here from
// maxHeldBytes): they must reach flush in several batches, each within
// the budget and one article, not all at once at the end. A hostile feed
// of MaxItems items with fetched images otherwise held tens of GiB.
func TestFeedItemsPublishedInBatches(t *testing.T) {
	const items, pageText = 12, 4 << 10
	old := heldBudget
	heldBudget = 3 * pageText
	t.Cleanup(func() { heldBudget = old })
	var srv *httptest.Server
	srv = newServerOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/feed" {
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprintf(w, testFeedHead, srv.URL+"/")
			for i := range items {
				fmt.Fprint(w, rssItem(fmt.Sprintf("i%d", i), fmt.Sprintf("%s/p/%d", srv.URL, i), fmt.Sprintf("Item %d", i), "<p>summary</p>"))
			}
			fmt.Fprint(w, "</channel></rss>")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!DOCTYPE html><html lang=en><head><title>%s</title></head><body><article><p>%s</p></article></body></html>", r.URL.Path, strings.Repeat("word ", pageText/5))
	}))
	ctx := context.Background()
	f, _, addr, err := readFeed(ctx, feedClient(), srv.URL+"/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	var batches [][]publish.Item
	failed, _ := feedItems(ctx, pageClient(addr), f, feedOptions{followLinks: true}, map[string]bool{}, func(b []publish.Item) {
		batches = append(batches, b)
	})
	if len(failed) > 0 {
		t.Fatalf("failed: %v", failed)
	}
	n := 0
	for i, b := range batches {
		n += len(b)
		var held, largest int64
		for _, it := range b {
			var size int64
			for _, fl := range it.Files {
				size += int64(len(fl.Data))
			}
			held, largest = held+size, max(largest, size)
		}
		if held > heldBudget+largest {
			t.Errorf("batch %d holds %d bytes, more than the budget %d and one article", i, held, heldBudget)
		}
	}
	if n != items || len(batches) < items/4 {
		t.Errorf("%d items in %d batches; want %d items in at least %d batches", n, len(batches), items, items/4)
	}
}

// TestFeedFetchTimeBounded is a hostile feed whose items' pages trickle
// in a byte at a time: --follow-links must give up on the feed's pages
// once feedFetchTime (lowered here from maxFeedFetchTime) is spent and
// publish the later items from the feed's content, instead of spending
// fetchTimeout on every one of up to maxFollowedPages pages.
func TestFeedFetchTimeBounded(t *testing.T) {
	old := feedFetchTime
	feedFetchTime = time.Second
	t.Cleanup(func() { feedFetchTime = old })
	var slowHits atomic.Int32
	var srv *httptest.Server
	srv = newServerOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/feed" {
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprintf(w, testFeedHead, srv.URL+"/")
			for i := range 3 {
				fmt.Fprint(w, rssItem(fmt.Sprintf("slow%d", i), fmt.Sprintf("%s/slow/%d", srv.URL, i), "Slow", "<p>The feed's own text of this item.</p>"))
			}
			fmt.Fprint(w, "</channel></rss>")
			return
		}
		slowHits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 100 { // at most 10 s a page
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
		}
	}))
	keyDir, st := testKeyDir(t), filepath.Join(t.TempDir(), "store")
	code, stdout, stderr := runCode(t, context.Background(), "publish", "-k", keyDir, "-s", st, "--follow-links", "--feed", srv.URL+"/feed")
	lines := outLines(t, stdout)
	if n := slowHits.Load(); n != 1 {
		t.Errorf("%d pages fetched, want 1: the feed's time was spent on the first", n)
	}
	if code != exitFailed || len(lines) != 2 || !strings.Contains(stderr, "slow0: following") || !strings.Contains(stderr, "2 items not followed to their pages, their images not fetched: the time limit of 1s for one feed is spent") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestHugeValidatorsNotKept is a feed server answering with a 2 MB ETag
// and Last-Modified: follow must not keep them for its state file, which
// it reads back within maxStateSize (one such feed made the whole file,
// every feed's validators, be ignored at the next start).
func TestHugeValidatorsNotKept(t *testing.T) {
	big := strings.Repeat("e", 2<<20)
	srv := newServerOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+big+`"`)
		w.Header().Set("Last-Modified", big)
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprintf(w, testFeedHead, "https://news.example/")
		fmt.Fprint(w, "</channel></rss>")
	}))
	_, _, _, next, err := get(context.Background(), feedClient(), srv.URL+"/feed", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(next.ETag) + len(next.LastModified); n > 2*maxValidatorLen {
		t.Errorf("validators of %d bytes kept", n)
	}
}

// TestFetchListHoldsNoBundles lists a publisher whose articles are large
// (images of several MiB each) from a real mirror on loopback: fetch
// fetches each bundle for its title and date, and must not hold them all
// until the list is printed. The live heap, sampled after each garbage
// collection, stays under what the bundles add up to.
func TestFetchListHoldsNoBundles(t *testing.T) {
	const articles, imageSize = 24, 4 << 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	pub, stDir, st, pb := newPublisherStore(t, dir)
	rnd := rand.NewChaCha8([32]byte{1})
	for i := range articles {
		img := make([]byte, imageSize) // incompressible, as photos are
		rnd.Read(img)
		copy(img, "\x89PNG\r\n\x1a\n")
		it := publish.Item{Meta: bundle.Metadata{ID: fmt.Sprintf("big-%d", i), Title: fmt.Sprintf("Big %d", i), Language: "en"}, Files: []bundle.File{
			{Type: "text/html", Data: []byte(`<p>A large article.</p><img src="photo.png">`)},
			{Name: "photo.png", Type: "image/png", Data: img},
		}}
		if _, err := pb.Publish([]publish.Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	m := serveStore(t, ctx, pub, stDir, st)

	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	code, stdout, stderr := runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", "http://"+m.HTTPAddr(), "-n", "0")
	close(done)
	<-stopped
	if code != exitOK || strings.Count(stdout, "\tBig ") != articles {
		t.Fatalf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("live heap grew by %d MiB at most, for %d MiB of bundles", grew>>20, articles*imageSize>>20)
	if grew > articles*imageSize/2 {
		t.Errorf("the live heap grew by %d MiB listing %d bundles of %d MiB: they are held", grew>>20, articles, imageSize>>20)
	}
}

// trickle is a body sent in small pieces, each after a pause: a hostile
// mirror keeping just above the reader's minimum rate.
type trickle struct {
	r     io.ReadCloser
	piece int
	pause time.Duration
}

func (t *trickle) Read(p []byte) (int, error) {
	time.Sleep(t.pause) // the hostile mirror's pace, not a wait for an event
	return t.r.Read(p[:min(len(p), t.piece)])
}
func (t *trickle) Close() error { return t.r.Close() }

// TestFetchListTimeBounded lists a publisher through a hostile mirror
// that relays an honest one but sends bundles (/b/) at just above the
// reader's minimum rate: the list must stop fetching bundles for titles
// once listBundleTime (lowered here from maxListBundleTime) is spent,
// instead of spending reader.DefaultTimeout on every four of them.
func TestFetchListTimeBounded(t *testing.T) {
	old := listBundleTime
	listBundleTime = time.Second
	t.Cleanup(func() { listBundleTime = old })
	const articles = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	pub, stDir, st, pb := newPublisherStore(t, dir)
	rnd := rand.NewChaCha8([32]byte{2})
	for i := range articles {
		img := make([]byte, 64<<10)
		rnd.Read(img)
		copy(img, "\x89PNG\r\n\x1a\n")
		it := publish.Item{Meta: bundle.Metadata{ID: fmt.Sprintf("a-%d", i), Title: fmt.Sprintf("Article %d", i), Language: "en"}, Files: []bundle.File{
			{Type: "text/html", Data: []byte(`<p>An article.</p><img src="photo.png">`)},
			{Name: "photo.png", Type: "image/png", Data: img},
		}}
		if _, err := pb.Publish([]publish.Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	m := serveStore(t, ctx, pub, stDir, st)
	up, err := url.Parse("http://" + m.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	var bundles atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.ModifyResponse = func(r *http.Response) error {
		if strings.HasPrefix(r.Request.URL.Path, "/b/") {
			bundles.Add(1)
			r.Body = &trickle{r: r.Body, piece: 4 << 10, pause: 100 * time.Millisecond} // 40 KiB/s
		}
		return nil
	}
	hostile := newServerOn(t, "127.0.0.1:0", rp)

	code, stdout, stderr := runExit(ctx, "fetch", "-t", pub, "--no-state", "-m", hostile.URL)
	if code != exitOK || strings.Count(stdout, "\t-\t-\n") == 0 || !strings.Contains(stderr, "the 1s a list may spend fetching them is spent") {
		t.Errorf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := bundles.Load(); n > listBundlesAtOnce {
		t.Errorf("%d bundles fetched from a slow mirror, want at most %d: the list's time was spent", n, listBundlesAtOnce)
	}
}
