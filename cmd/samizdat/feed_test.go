package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish/feed"
)

// runCode runs a samizdat command in process and returns its exit code,
// stdout and stderr.
func runCode(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SAMIZDAT_PASSPHRASE" {
			return testPassphrase
		}
		return ""
	}}
	code := run(e, args)
	if strings.Contains(errb.String(), "panic:") || strings.Contains(errb.String(), "goroutine ") {
		t.Fatalf("samizdat %s panicked:\n%s", strings.Join(args, " "), errb.String())
	}
	return code, out.String(), errb.String()
}

// testKeyDir makes a publisher's key directory as keygen does, but with
// its private keys sealed at scrypt's least cost, so that the many
// commands a test runs do not each spend a tenth of a second (seconds,
// under the race detector) opening the signing key.
func testKeyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	root, err := keys.Generate(nil, "test-news", keys.RoleRoot)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.Generate(nil, signingKeyName("test-news", 1), keys.RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := &keys.Statement{Publisher: root.Public(), Version: 1, Issued: now,
		Keys: []keys.Delegation{{Key: signer.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}}}
	signed, err := st.Sign(root)
	if err != nil {
		t.Fatal(err)
	}
	cheap := &keys.SealOptions{ScryptLogN: keys.MinScryptLogN}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		keys.WriteKeyFile(filepath.Join(dir, rootKeyFile), root, []byte(testPassphrase), cheap),
		keys.WriteKeyFile(filepath.Join(dir, signKeyFile), signer, []byte(testPassphrase), cheap),
		keys.WriteNewFile(filepath.Join(dir, statementFile), signed, 0o644),
		keys.WriteNewFile(filepath.Join(dir, pubFile), []byte(root.Public().String()+"\n"), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var publishedLine = regexp.MustCompile(`^[a-z0-9-]+ [0-9a-f]{64}$`)

// outLines returns stdout's lines, each of which must be "id digest".
func outLines(t *testing.T, stdout string) []string {
	t.Helper()
	var lines []string
	for l := range strings.Lines(stdout) {
		l = strings.TrimSuffix(l, "\n")
		if !publishedLine.MatchString(l) {
			t.Errorf("stdout line %q is not 'id digest'", l)
		}
		lines = append(lines, l)
	}
	return lines
}

// feedExpectation is what publishing a corpus feed must do: publish so
// many items and fail so many (with reason in their stderr lines), or
// refuse the whole feed (refused, a substring of the one error line).
type feedExpectation struct {
	published, failed int
	reasons           []string // each failed item's line has one; a refusal's line has the first
	refused           bool
}

func published(n int) feedExpectation { return feedExpectation{published: n} }
func refused(reason string) feedExpectation {
	return feedExpectation{refused: true, reasons: []string{reason}}
}

// corpusFeeds lists every feed in the corpus and what publishing it does.
var corpusFeeds = map[string]feedExpectation{
	"gofeed-edgecases/empty_feed.xml":                refused("not a feed: empty"),
	"gofeed-edgecases/invalid.json":                  refused("not a feed: looks like JSON"),
	"gofeed-edgecases/json11_feed.json":              refused("not a feed: looks like JSON (JSON Feed is not supported)"),
	"gofeed-edgecases/rdf_feed.xml":                  published(0), // a channel without items
	"gofeed-edgecases/rss_feed_bom.xml":              published(0),
	"gofeed-edgecases/rss_feed_leading_spaces.xml":   published(0),
	"gofeed-edgecases/unknown_feed.xml":              refused("not a feed: XML whose root element is <note>"),
	"node-feedparser/guid-dupes.xml":                 published(1),  // one item, its guid given twice
	"node-feedparser/iconv.xml":                      published(10), // windows-1251
	"node-feedparser/illegally-nested.xml":           published(10),
	"node-feedparser/intertwingly.atom":              published(20), // xhtml content, relative links
	"node-feedparser/invalid-characters-gzipped.xml": published(25), // gzip, control characters
	"node-feedparser/rss2sample.xml":                 published(4),
	"node-feedparser/tpm.atom":                       published(20),
	"node-feedparser/wapowellness.xml":               published(29),
	"rss-parser/atom-customfields.atom":              {failed: 15, reasons: noContent}, // YouTube: media:description only
	"rss-parser/content-encoded.rss":                 published(7),
	"rss-parser/craigslist.rss":                      published(25),
	"rss-parser/customfields.rss":                    published(15),
	"rss-parser/encoding.rss":                        published(40), // ISO-8859-1
	"rss-parser/feedburner.atom":                     published(25),
	"rss-parser/giantbomb-podcast.rss":               published(730),
	"rss-parser/guardian.rss":                        published(55),
	"rss-parser/gulp-atom.atom":                      published(10),
	"rss-parser/heise.atom":                          published(15),
	"rss-parser/itunes-href.rss":                     published(10),
	"rss-parser/itunes-keywords-array.rss":           published(1),
	"rss-parser/reddit-home.rss":                     published(24),
	"rss-parser/reddit.rss":                          published(24),
	"rss-parser/rss-1.rss":                           {failed: 69, reasons: noContent}, // empty descriptions
	"rss-parser/unrecognized.rss":                    refused("not a feed: looks like HTML"),
	// Latin-1 without a declaration; four items with empty descriptions
	// (one of them with a link that gives no id: .../?p=1609), and one
	// link twice.
	"rss-parser/uolNoticias.rss": {published: 10, failed: 4, reasons: append(noContent, "no article id")},
}

var noContent = []string{"the feed gives no content for it"}

// corpusTitles are titles that show the charset was decoded.
var corpusTitles = map[string]string{
	"node-feedparser/iconv.xml":  "В Бузулуке главные стройплощадки – детсад и Ледовый дворец",
	"rss-parser/encoding.rss":    "Mãe de utente é a nova presidente da Raríssimas",
	"rss-parser/uolNoticias.rss": "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno",
}

// TestPublishCorpusFeeds publishes every feed in the corpus, each into
// its own store, and checks each against corpusFeeds: every feed is
// published or refused, for a reason the table gives.
func TestPublishCorpusFeeds(t *testing.T) {
	dir := corpus.Path(t, "feeds")
	ctx := context.Background()
	keyDir := testKeyDir(t)
	found, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	seen := map[string]bool{}
	for _, file := range found {
		name, _ := filepath.Rel(dir, file)
		name = filepath.ToSlash(name)
		if filepath.Base(name) == "LICENSE" {
			continue
		}
		seen[name] = true
		want, ok := corpusFeeds[name]
		if !ok {
			t.Errorf("%s: a feed in the corpus without an expectation in corpusFeeds", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := filepath.Join(t.TempDir(), "store")
			code, stdout, stderr := runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file)
			lines := outLines(t, stdout)
			if want.refused {
				if code != exitFailed || len(lines) != 0 || !strings.Contains(stderr, want.reasons[0]) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("exit %d, %d published, stderr %q; want refused: %s", code, len(lines), stderr, want.reasons[0])
				}
				return
			}
			failedLines := 0
			for l := range strings.Lines(stderr) {
				if strings.Contains(l, ": skipped: ") || strings.Contains(l, "not published again") || strings.Contains(l, "the feed has no items") {
					continue
				}
				failedLines++
				if !slices.ContainsFunc(want.reasons, func(r string) bool { return strings.Contains(l, r) }) {
					t.Errorf("failure %q is not for a reason %q", l, want.reasons)
				}
			}
			wantCode := exitOK
			if want.failed > 0 {
				wantCode = exitFailed
			}
			if code != wantCode || len(lines) != want.published || failedLines != want.failed {
				t.Errorf("exit %d, published %d, failed %d; want exit %d, published %d, failed %d\nstderr:\n%s", code, len(lines), failedLines, wantCode, want.published, want.failed, stderr)
			}
			if title, ok := corpusTitles[name]; ok {
				first := strings.Fields(lines[0])[0]
				if got := storedTitle(t, st, first); got != title {
					t.Errorf("title %q, want %q", got, title)
				}
			}
		})
	}
	for name := range corpusFeeds {
		if !seen[name] {
			t.Errorf("%s: in corpusFeeds but not in the corpus", name)
		}
	}
}

// storedTitle returns the title of an article in a store.
func storedTitle(t *testing.T, storeDir, id string) string {
	t.Helper()
	st, err := store.Open(storeDir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.Publishers()
	if err != nil || len(ids) != 1 {
		t.Fatalf("publishers %v: %v", ids, err)
	}
	a, err := st.Article(ids[0], id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := st.Bundle(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.ParseUnverified(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.Manifest.Title
}

const testFeedHead = `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Test</title><link>%s</link><language>en</language>
`

func rssItem(guid, link, title, content string) string {
	return fmt.Sprintf("<item><guid>%s</guid><link>%s</link><title>%s</title><pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate><content:encoded><![CDATA[%s]]></content:encoded></item>\n", guid, link, title, content)
}

// TestPublishFeedOutput checks publish --feed's stdout, stderr and exit
// codes: failed items leave the rest published with exit 1, the same feed
// again publishes nothing, a corrected item becomes a new revision.
func TestPublishFeedOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	file := filepath.Join(dir, "feed.xml")
	write := func(items ...string) {
		t.Helper()
		doc := fmt.Sprintf(testFeedHead, "https://news.example/") + strings.Join(items, "") + "</channel></rss>"
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := rssItem("story-1", "https://news.example/1", "One", "<p>First story.</p>")
	empty := rssItem("story-2", "https://news.example/2", "Two", "")
	dupe := rssItem("story-1", "https://news.example/1b", "One again", "<p>Copy.</p>")
	write(good, empty, dupe)

	code, stdout, stderr := runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file)
	lines := outLines(t, stdout)
	if code != exitFailed || len(lines) != 1 || !strings.HasPrefix(lines[0], "story-1 ") ||
		!strings.Contains(stderr, "samizdat publish: story-2: the feed gives no content for it") ||
		!strings.Contains(stderr, "samizdat publish: story-1: skipped: an earlier item has the same id") {
		t.Fatalf("first run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	first := lines[0]

	write(good)
	code, stdout, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file)
	if code != exitOK || stdout != "" || stderr != "samizdat publish: 1 unchanged since their last revision; not published again\n" {
		t.Fatalf("same feed again: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	write(rssItem("story-1", "https://news.example/1", "One", "<p>First story, corrected.</p>"), rssItem("story-3", "https://news.example/3", "Three", "<p>Third.</p>"))
	code, stdout, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file)
	lines = outLines(t, stdout)
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "story-1 ") || lines[0] == first || !strings.HasPrefix(lines[1], "story-3 ") {
		t.Fatalf("corrected: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	s, err := store.Open(st, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := s.Publishers()
	a, err := s.Article(ids[0], "story-1")
	s.Close()
	if err != nil || a.Revision != 2 {
		t.Errorf("story-1: %+v, %v; want revision 2", a, err)
	}

	// A retracted article stays retracted, though the feed still has it.
	runCmd(t, ctx, "retract", "-k", keyDir, "-s", st, "story-3")
	code, stdout, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "samizdat publish: story-3: skipped: it was retracted\n") {
		t.Fatalf("after a retraction: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--feed", file, "extra.html"}, exitUsage, "--feed takes no FILE"},
		{[]string{"--feed", file, "--id", "x"}, exitUsage, "--feed takes no FILE"},
		{[]string{"--follow-links", file}, exitUsage, "--follow-links goes with --feed"},
		{[]string{"--feed", filepath.Join(dir, "missing.xml")}, exitFailed, "no such file"},
	} {
		code, _, stderr := runCode(t, ctx, append([]string{"publish", "-k", keyDir, "-s", st}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestPublishFeedURL publishes a feed served over loopback HTTP, with
// --follow-links fetching each item's page from the same server: a page
// that is too large, one that redirects forever and one that is not HTML
// fail their items; the others are extracted from their pages.
func TestPublishFeedURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	var mu sync.Mutex
	hits := map[string]int{}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/feed":
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprintf(w, testFeedHead, srv.URL+"/")
			fmt.Fprint(w, rssItem("a", srv.URL+"/a", "Page A", "<p>summary A</p>"))
			fmt.Fprint(w, rssItem("big", srv.URL+"/big", "Big", "<p>summary</p>"))
			fmt.Fprint(w, rssItem("loop", srv.URL+"/loop", "Loop", "<p>summary</p>"))
			fmt.Fprint(w, rssItem("pdf", srv.URL+"/pdf", "PDF", "<p>summary</p>"))
			fmt.Fprint(w, "</channel></rss>")
		case "/a":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!DOCTYPE html><html lang=en><head><title>Page A | Site</title></head><body><article><p>The whole article A, from its page.</p></article></body></html>")
		case "/big":
			w.Header().Set("Content-Type", "text/html")
			w.Write(bytes.Repeat([]byte("<p>x</p>"), maxPageSize/8+1))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/pdf":
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, "%PDF-1.4")
		case "/login":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><body><form>Log in</form></body></html>")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	code, stdout, stderr := runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--follow-links", "--feed", srv.URL+"/feed")
	lines := outLines(t, stdout)
	if code != exitFailed || len(lines) != 1 || !strings.HasPrefix(lines[0], "a ") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"big: following " + srv.URL + "/big: body is larger than", "loop: following " + srv.URL + "/loop: ", "more than 5 redirects", "pdf: following " + srv.URL + "/pdf: application/pdf is not an HTML page"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	mu.Lock()
	if hits["/loop"] != maxRedirects+1 {
		t.Errorf("/loop fetched %d times, want %d", hits["/loop"], maxRedirects+1)
	}
	mu.Unlock()
	if got := storedTitle(t, st, "a"); got != "Page A" {
		t.Errorf("title %q, want the feed's", got)
	}

	code, _, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", srv.URL+"/login")
	if code != exitFailed || !strings.Contains(stderr, "not a feed: looks like HTML") {
		t.Errorf("login page: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", srv.URL+"/gone")
	if code != exitFailed || !strings.Contains(stderr, "server answered 404 Not Found") {
		t.Errorf("404: exit %d, %s", code, stderr)
	}
}

// TestItemMetaDates: the publication date is the item's, else its update
// date; a date in the future is left out, and the signing time is always
// left to publish.
func TestItemMetaDates(t *testing.T) {
	past := time.Date(2015, 3, 4, 5, 6, 7, 0, time.UTC)
	later := past.Add(time.Hour)
	future := time.Now().Add(48 * time.Hour)
	for _, tc := range []struct {
		published, updated, want time.Time
	}{
		{past, later, past}, {time.Time{}, later, later}, {future, time.Time{}, time.Time{}}, {time.Time{}, time.Time{}, time.Time{}},
	} {
		m := itemMeta(bundle.Metadata{Updated: past}, "x", &feed.Item{Published: tc.published, Updated: tc.updated}, feedOptions{})
		if !m.Created.Equal(tc.want) || !m.Updated.IsZero() {
			t.Errorf("published %v, updated %v: created %v, updated %v; want created %v and no updated", tc.published, tc.updated, m.Created, m.Updated, tc.want)
		}
	}
}

// TestFeedContentSignedAsItIs checks that an item's content is the
// article already and is signed as the feed gives it, not run through
// extraction, which drops what looks like page furniture (a comments
// block, a short paragraph) and rewraps the rest.
func TestFeedContentSignedAsItIs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyDir, st := testKeyDir(t), filepath.Join(dir, "store")
	file := filepath.Join(dir, "feed.xml")
	content := `<p>Short.</p><div class="comments sidebar">Kept as the newsroom wrote it.</div>`
	doc := fmt.Sprintf(testFeedHead, "https://news.example/") + rssItem("s-1", "https://news.example/1", "One", content) + "</channel></rss>"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCode(t, ctx, "publish", "-k", keyDir, "-s", st, "--feed", file); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	kd, err := loadKeyDir(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.NewTrust(kd.root, kd.statement)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(st, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, _ := s.Publishers()
	a, err := s.Article(ids[0], "s-1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Bundle(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(data, trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := b.Body()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "<article>\n"+content+"\n</article>") {
		t.Errorf("the item's content was not signed as it is:\n%s", body)
	}
}
