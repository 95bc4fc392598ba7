package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
)

// followWait bounds each wait of the follow tests for an event.
const followWait = 20 * time.Second

// events is a log of lines that tests wait on: a writer for a command's
// stderr, and a record of what a test server did.
type events struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	times   []time.Time
	changed chan struct{} // closed when a line is added
}

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (ev *events) add(line string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.lines = append(ev.lines, line)
	ev.times = append(ev.times, time.Now())
	close(ev.changed)
	ev.changed = make(chan struct{})
}

func (ev *events) Write(p []byte) (int, error) {
	ev.mu.Lock()
	ev.partial = append(ev.partial, p...)
	var done []string
	for {
		i := strings.IndexByte(string(ev.partial), '\n')
		if i < 0 {
			break
		}
		done = append(done, string(ev.partial[:i]))
		ev.partial = ev.partial[i+1:]
	}
	ev.mu.Unlock()
	for _, l := range done {
		ev.add(l)
	}
	return len(p), nil
}

// wait returns the index of the first line at or after from that matches
// re, waiting for it at most followWait.
func (ev *events) wait(t *testing.T, from int, re string) int {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(followWait)
	defer deadline.Stop()
	for {
		ev.mu.Lock()
		for i := from; i < len(ev.lines); i++ {
			if rx.MatchString(ev.lines[i]) {
				ev.mu.Unlock()
				return i
			}
		}
		from = max(from, len(ev.lines))
		changed := ev.changed
		ev.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no line matching %#q within %v; lines:\n%s", re, followWait, ev.String())
		}
	}
}

func (ev *events) String() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return strings.Join(ev.lines, "\n")
}

func (ev *events) len() int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return len(ev.lines)
}

func (ev *events) time(i int) time.Time {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.times[i]
}

// feedServer serves one feed whose content a test changes, answers
// conditional GETs, and fails on demand: each request it serves is an
// event, "200 ETAG", "304 ETAG", "503" or "closed".
type feedServer struct {
	*httptest.Server
	ev *events

	mu    sync.Mutex
	body  string
	etag  string
	fails []string // the next requests' failures: "503" or "close"
}

func newFeedServer(t *testing.T) *feedServer {
	fs := &feedServer{ev: newEvents()}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) set(etag string, items ...string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.etag = `"` + etag + `"`
	fs.body = fmt.Sprintf(testFeedHead, "https://news.example/") + strings.Join(items, "") + "</channel></rss>"
}

func (fs *feedServer) fail(how ...string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fails = append(fs.fails, how...)
}

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	body, etag := fs.body, fs.etag
	var fail string
	if len(fs.fails) > 0 {
		fail, fs.fails = fs.fails[0], fs.fails[1:]
	}
	fs.mu.Unlock()
	switch {
	case fail == "503":
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		fs.ev.add("503")
	case fail == "close":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		fs.ev.add("closed")
	case r.Header.Get("If-None-Match") == etag:
		w.WriteHeader(http.StatusNotModified)
		fs.ev.add("304 " + etag)
	default:
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, body)
		fs.ev.add("200 " + etag)
	}
}

// startFollow runs `samizdat follow` in process until the returned stop
// is called, which waits for it to return and checks it exited 0.
func startFollow(t *testing.T, log *events, args ...string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: log, stderr: log, getenv: func(string) string { return "" }}
	go func() { done <- run(e, append([]string{"follow"}, args...)) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != exitOK {
					t.Errorf("follow exited %d:\n%s", code, log)
				}
			case <-time.After(followWait):
				t.Errorf("follow did not stop within %v of its cancellation", followWait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// mirrorArticle returns an article's revision and title as a mirror's API
// serves them, or 0 when the mirror does not have it.
func mirrorArticle(t *testing.T, m *mirror.Mirror, pub, id string) (uint64, string) {
	t.Helper()
	code, body := httpGet(t, "http://"+m.HTTPAddr()+"/api/p/"+pub+"/a/"+id)
	if code == http.StatusNotFound {
		return 0, ""
	}
	var a struct {
		Revision uint64
		Title    string
	}
	if code != http.StatusOK || json.Unmarshal(body, &a) != nil {
		t.Fatalf("GET %s: %d %s", id, code, body)
	}
	return a.Revision, a.Title
}

// TestFollow runs follow against a feed on loopback HTTP that changes
// during the test, pushing to a mirror on loopback QUIC: new and corrected
// items reach the mirror, unchanged polls are conditional GETs answered
// 304, an outage (503s, then a closed connection) is ridden out with
// growing waits and the next good poll publishes, SIGTERM's cancellation
// stops it cleanly, and a restart polls with the validators it saved.
func TestFollow(t *testing.T) {
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte(testPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := keys.ReadPublicKeyFile(filepath.Join(keyDir, pubFile))
	if err != nil {
		t.Fatal(err)
	}
	pub := root.ID()
	m, err := mirror.Start(context.Background(), &mirror.Config{Store: filepath.Join(dir, "mirror"), Trust: []string{filepath.Join(keyDir, pubFile)},
		HTTP: "127.0.0.1:0", QUIC: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer stopMirror(m)

	srv := newFeedServer(t)
	itemA1 := rssItem("a", "https://news.example/a", "Story A", "<p>A, first version.</p>")
	itemB := rssItem("b", "https://news.example/b", "Story B", "<p>B.</p>")
	srv.set("v1", itemA1, itemB)

	log := newEvents()
	const every = 50 * time.Millisecond
	args := []string{"-k", keyDir, "-s", st, "--passphrase-file", pass, "--feed", srv.URL + "/feed", "--push", "quic://" + m.QUICAddr(), "--every", every.String()}
	stop := startFollow(t, log, args...)

	// The first round publishes both items and pushes them.
	i := log.wait(t, 0, `msg=published .* id=a revision=1`)
	log.wait(t, 0, `msg=published .* id=b revision=1`)
	i = log.wait(t, i, `msg=pushed`)
	if rev, title := mirrorArticle(t, m, pub, "a"); rev != 1 || title != "Story A" {
		t.Fatalf("mirror has a at revision %d, %q", rev, title)
	}
	// Later polls are conditional and answered 304.
	srv.ev.wait(t, 0, `^304 "v1"$`)

	// An item added and an item corrected reach the mirror.
	srv.set("v2", rssItem("a", "https://news.example/a", "Story A, corrected", "<p>A, corrected.</p>"), itemB, rssItem("c", "https://news.example/c", "Story C", "<p>C.</p>"))
	j := log.wait(t, i, `msg=published .* id=a revision=2`)
	log.wait(t, i, `msg=published .* id=c revision=1`)
	j = log.wait(t, j, `msg=pushed`)
	if rev, title := mirrorArticle(t, m, pub, "a"); rev != 2 || title != "Story A, corrected" {
		t.Errorf("mirror has a at revision %d, %q; want the correction", rev, title)
	}
	if rev, _ := mirrorArticle(t, m, pub, "c"); rev != 1 {
		t.Errorf("mirror has c at revision %d", rev)
	}
	if rev, _ := mirrorArticle(t, m, pub, "b"); rev != 1 {
		t.Errorf("mirror has b at revision %d; want it unchanged", rev)
	}

	// An outage: two 503s and a closed connection, each poll after a
	// longer wait; then the next good poll publishes.
	from := srv.ev.len()
	srv.fail("503", "503", "close")
	srv.set("v3", rssItem("a", "https://news.example/a", "Story A, corrected", "<p>A, corrected.</p>"), itemB, rssItem("c", "https://news.example/c", "Story C", "<p>C.</p>"), rssItem("d", "https://news.example/d", "Story D", "<p>D.</p>"))
	f1 := srv.ev.wait(t, from, `^503$`)
	f2 := srv.ev.wait(t, f1+1, `^503$`)
	f3 := srv.ev.wait(t, f2+1, `^closed$`)
	ok := srv.ev.wait(t, f3+1, `^200 "v3"$`)
	for _, gap := range []struct {
		a, b int
		min  time.Duration
	}{{f1, f2, every}, {f2, f3, 2 * every}, {f3, ok, 4 * every}} {
		if d := srv.ev.time(gap.b).Sub(srv.ev.time(gap.a)); d < gap.min {
			t.Errorf("polled again %v after a failure; want at least %v", d, gap.min)
		}
	}
	k := log.wait(t, j, `msg="feed down" .*failures=1 retry_in=50ms`)
	k = log.wait(t, k, `msg="feed down" .*failures=2 retry_in=100ms`)
	k = log.wait(t, k, `msg="feed down" .*failures=3 retry_in=200ms`)
	k = log.wait(t, k, `msg=published .* id=d revision=1`)
	log.wait(t, k, `msg=pushed`)
	if rev, _ := mirrorArticle(t, m, pub, "d"); rev != 1 {
		t.Errorf("after the outage the mirror has d at revision %d", rev)
	}

	// Each round signs a fresh checkpoint, which reaches the mirror with
	// no new item: wait for a push of one signed a second or more after
	// the first round's.
	first := pushedCheckpoint(t, log, log.wait(t, 0, `msg=pushed`))
	for p := k; ; p++ {
		p = log.wait(t, p, `msg=pushed`)
		if cp := pushedCheckpoint(t, log, p); cp.After(first) {
			code, body := httpGet(t, "http://"+m.HTTPAddr()+"/p/"+pub+"/checkpoint")
			served, err := catalog.ParseUnverified(body)
			if code != http.StatusOK || err != nil || !served.Time.Equal(cp) {
				t.Errorf("the mirror serves checkpoint %v (%d, %v); follow pushed one of %v", served, code, err, cp)
			}
			break
		}
	}

	// Stopping is clean, and the state file keeps the validators.
	stop()
	log.wait(t, k, `msg=stopped`)
	state, err := os.ReadFile(st + ".follow.json")
	if err != nil || !strings.Contains(string(state), `"etag": "\"v3\""`) {
		t.Fatalf("state file: %v\n%s", err, state)
	}

	// A restart polls with the saved ETag: 304, nothing published again.
	from = srv.ev.len()
	log2 := newEvents()
	stop2 := startFollow(t, log2, args...)
	srv.ev.wait(t, from, `^304 "v3"$`)
	log2.wait(t, 0, `msg=round published=0`)
	stop2()
	if strings.Contains(log2.String(), "msg=published") {
		t.Errorf("the restart published again:\n%s", log2)
	}
}

func TestFollowUsage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"follow", "-k", "k", "-s", "s"}, "at least one --feed"},
		{[]string{"follow", "-k", "k", "-s", "s", "--feed", "http://x/", "--every", "0s"}, "--every must be positive"},
		{[]string{"follow", "-k", "k", "-s", "s", "--feed", "http://x/", "--push", "127.0.0.1"}, "--push"},
		{[]string{"follow", "-k", "k", "-s", "s", "--feed", "http://x/", "--log-format", "xml"}, "--log-format"},
		{[]string{"follow", "-k", "k", "-s", "s", "--feed", "http://x/", "extra"}, "no arguments"},
	} {
		code, _, stderr := runCode(t, ctx, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2, %q", tc.args, code, stderr, tc.want)
		}
	}
	keyDir := testKeyDir(t)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	code, _, stderr := runCode(t, ctx, "follow", "-k", keyDir, "-s", filepath.Join(t.TempDir(), "s"), "--feed", "http://127.0.0.1:1/", "--passphrase-file", empty)
	if code != exitFailed || !strings.Contains(stderr, "--passphrase-file") {
		t.Errorf("empty passphrase file: exit %d, %q", code, stderr)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		n     int
		want  time.Duration
	}{
		{time.Minute, 1, time.Minute}, {time.Minute, 2, 2 * time.Minute}, {time.Minute, 4, 8 * time.Minute},
		{time.Minute, 7, followBackoffCap}, {time.Minute, 1 << 20, followBackoffCap}, {2 * time.Hour, 1, followBackoffCap},
	} {
		if got := backoff(tc.every, tc.n); got != tc.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tc.every, tc.n, got, tc.want)
		}
	}
}

// pushedCheckpoint returns the checkpoint time of log line i, a push.
func pushedCheckpoint(t *testing.T, log *events, i int) time.Time {
	t.Helper()
	log.mu.Lock()
	line := log.lines[i]
	log.mu.Unlock()
	m := regexp.MustCompile(` checkpoint=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no checkpoint in %q", line)
	}
	cp, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestFollowRetriesFailedItems: when an item fails (here its page, with
// --follow-links, answers 503 once), follow keeps no validators for the
// feed, so the next poll fetches it in full and publishes the item, though
// the feed itself has not changed.
func TestFollowRetriesFailedItems(t *testing.T) {
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	ev := newEvents()
	var mu sync.Mutex
	pageFails := 1
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed":
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				ev.add("feed 304")
				return
			}
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprintf(w, testFeedHead, srv.URL+"/")
			fmt.Fprint(w, rssItem("p", srv.URL+"/page", "Paged", "<p>summary</p>"), "</channel></rss>")
			ev.add("feed 200")
		case "/page":
			mu.Lock()
			fail := pageFails > 0
			pageFails--
			mu.Unlock()
			if fail {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				ev.add("page 503")
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Paged</title></head><body><article><p>The page.</p></article></body></html>")
			ev.add("page 200")
		}
	}))
	defer srv.Close()
	log := newEvents()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte(testPassphrase), 0o600)
	stop := startFollow(t, log, "-k", keyDir, "-s", st, "--passphrase-file", pass, "--follow-links", "--feed", srv.URL+"/feed", "--every", "20ms")
	i := log.wait(t, 0, `msg="item failed" .* id=p .*503`)
	log.wait(t, i, `msg=published .* id=p revision=1`)
	// Only now are the validators kept: the next poll is conditional.
	j := ev.wait(t, 0, `^page 200$`)
	if k := ev.wait(t, 0, `^feed 304$`); k < j {
		t.Errorf("a conditional poll came before the item was published:\n%s", ev)
	}
	stop()
}

// TestFollowSameIDInTwoFeeds: an id that two feeds give is published from
// the first feed only, so that the two never replace each other as new
// revisions round after round.
func TestFollowSameIDInTwoFeeds(t *testing.T) {
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte(testPassphrase), 0o600)
	one, two := newFeedServer(t), newFeedServer(t)
	one.set("1", rssItem("shared", "https://news.example/shared", "From one", "<p>One.</p>"))
	two.set("2", rssItem("shared", "https://news.example/shared", "From two", "<p>Two.</p>"), rssItem("own", "https://news.example/own", "Own", "<p>Own.</p>"))
	log := newEvents()
	stop := startFollow(t, log, "-k", keyDir, "-s", st, "--passphrase-file", pass, "--feed", one.URL, "--feed", two.URL, "--every", "20ms")
	i := log.wait(t, 0, `msg=round published=2`)
	// Two rounds later, nothing more was published.
	i = log.wait(t, i+1, `msg=round`)
	log.wait(t, i+1, `msg=round`)
	stop()
	text := log.String()
	if strings.Count(text, "msg=published") != 2 || !strings.Contains(text, "id=own revision=1") || !strings.Contains(text, "id=shared revision=1") ||
		!strings.Contains(text, `msg="item skipped" feed=`+two.URL+` warning="shared: skipped: an earlier item has the same id"`) {
		t.Errorf("log:\n%s", text)
	}
	if got := storedTitle(t, st, "shared"); got != "From one" {
		t.Errorf("shared has title %q", got)
	}
}

// TestFollowAndRetract: follow holds the store only during a round, so
// the newsroom can retract an article while it runs; and it does not
// publish the retracted article again when the feed, still listing it,
// changes.
func TestFollowAndRetract(t *testing.T) {
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte(testPassphrase), 0o600)
	srv := newFeedServer(t)
	x, y := rssItem("x", "https://news.example/x", "X", "<p>X.</p>"), rssItem("y", "https://news.example/y", "Y", "<p>Y.</p>")
	srv.set("1", x, y)
	log := newEvents()
	stop := startFollow(t, log, "-k", keyDir, "-s", st, "--passphrase-file", pass, "--feed", srv.URL, "--every", "50ms")
	i := log.wait(t, 0, `msg=round published=2`)
	code, stdout, stderr := runCode(t, context.Background(), "retract", "-k", keyDir, "-s", st, "x")
	if code != exitOK {
		t.Fatalf("retract while follow runs: exit %d %s %s", code, stdout, stderr)
	}
	srv.set("2", x, y, rssItem("z", "https://news.example/z", "Z", "<p>Z.</p>"))
	log.wait(t, i, `msg=published .* id=z revision=1`)
	stop()
	if strings.Contains(log.String(), "id=x revision=2") {
		t.Errorf("the retracted article was published again:\n%s", log)
	}
}
