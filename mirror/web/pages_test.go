package web_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// TestIndexLanguageFilter checks the index's ?lang= links, built from the
// languages of the articles present, the filtered list, and the refusal
// of every other query.
func TestIndexLanguageFilter(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	r := f.get("/")
	for _, want := range []string{
		`<a href="/" aria-current="page">All languages</a>`,
		`<a href="/?lang=fa" lang="fa" dir="rtl">فارسی</a>`,
		`<a href="/?lang=de" lang="de" dir="auto">Deutsch</a>`,
		`<a href="/?lang=en" lang="en" dir="auto">English</a>`,
		`<a href="/?lang=ar" lang="ar" dir="rtl">العربية</a>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("index: no %s", want)
		}
	}
	r = f.get("/?lang=fa")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `href="/p/`+a+`/a/farsi/"`) || strings.Contains(r.body, `/a/plain/"`) || strings.Contains(r.body, `/a/markdown/"`) {
		t.Errorf("?lang=fa: %d, want only the Persian article:\n%s", r.StatusCode, r.body)
	}
	if !strings.Contains(r.body, `<a href="/?lang=fa" lang="fa" dir="rtl" aria-current="page">`) || !strings.Contains(r.body, `<a href="/">All languages</a>`) {
		t.Errorf("?lang=fa: the filter is not marked as current")
	}
	// ar-Latn counts as Arabic: the filter is by primary language.
	if r := f.get("/?lang=ar"); !strings.Contains(r.body, `/a/arabic-latn/"`) {
		t.Errorf("?lang=ar: no ar-Latn article")
	}
	if r := f.get("/?lang=xx"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "No recent articles in this language.") {
		t.Errorf("?lang=xx: %d, want 200 and an empty list", r.StatusCode)
	}
	for _, q := range []string{"?lang=FA", "?lang=f", "?lang=", "?lang=fa&lang=ru", "?lang=fa-IR", "?lang=f%3Cb%3E", "?lang=abcdefghi", "?page=1", "?lang=fa&x=1", "?lang=%zz"} {
		if r := f.get("/" + q); r.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /%s: %d, want 400", q, r.StatusCode)
		}
	}
}

// TestListsShowDateAndLanguage checks that the index and the publisher
// page give each article its title, date and language, with lang and dir.
func TestListsShowDateAndLanguage(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	day := start.Format("2006-01-02")
	for _, path := range []string{"/", "/p/" + a + "/"} {
		body := f.get(path).body
		for _, want := range []string{
			`<a href="/p/` + a + `/a/farsi/" lang="fa" dir="rtl">سلام</a>`,
			`<a href="/p/` + a + `/a/plain/" lang="de" dir="auto">Plain text</a>`,
			`<span lang="fa" dir="rtl">فارسی</span>`,
			`<span lang="de" dir="auto">Deutsch</span>`,
			`">` + day + `</time>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: no %s", path, want)
			}
		}
	}
	if body := f.get("/").body; !strings.Contains(body, ` · <bdi>alpha</bdi></span>`) {
		t.Errorf("index: the publisher's name is not isolated")
	}
}

// TestFeedLanguageAndDates checks that Atom entries carry xml:lang and
// the article's own publication date, not the signing time.
func TestFeedLanguageAndDates(t *testing.T) {
	f := newFixture(t, nil)
	it := item("old-story", "text/html", "<p>Старая новость.</p>", "ru", "Старая новость")
	it.Meta.Created = time.Date(2015, 6, 1, 8, 30, 0, 0, time.UTC)
	f.publish(it)
	feed := f.get("/p/" + f.alpha.ID() + "/feed.atom").body
	entry := regexp.MustCompile(`(?s)<entry xml:lang="ru">\s*<id>urn:samizdat:[0-9a-f]+:old-story</id>.*?</entry>`).FindString(feed)
	if entry == "" {
		t.Fatalf("no entry for old-story with xml:lang=\"ru\":\n%s", feed)
	}
	if !strings.Contains(entry, "<published>2015-06-01T08:30:00Z</published>") || strings.Contains(entry, "<updated>2015") {
		t.Errorf("old-story: published is not the article's date, or updated is not the signing time:\n%s", entry)
	}
	if !strings.Contains(feed, `<entry xml:lang="fa">`) || !strings.Contains(feed, `<entry xml:lang="ar-Latn">`) {
		t.Errorf("entries lack xml:lang")
	}
}

// TestArticleSaysWhoChecked checks that an article page says the mirror,
// not the browser, checked the signature, and how to check it oneself;
// and that names are isolated from the article's direction.
func TestArticleSaysWhoChecked(t *testing.T) {
	f := newFixture(t, nil)
	it := item("fa-byline", "text/html", "<p>متن فارسی.</p>", "fa", "خبر")
	it.Meta.Authors = []string{"John Smith (BBC News)", "مریم"}
	f.publish(it)
	body := f.get("/p/" + f.alpha.ID() + "/a/fa-byline/").body
	for _, want := range []string{
		"This mirror checked the publisher's signature",
		"Your browser checked nothing",
		"<code>samizdat read</code>",
		`<p class="byline"><bdi>John Smith (BBC News)</bdi>، <bdi>مریم</bdi> · <time`,
		`<a href="/p/` + f.alpha.ID() + `/"><bdi>alpha</bdi></a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("article page: no %q", want)
		}
	}
	if strings.Contains(body, "/verify.html") {
		t.Errorf("article page links the verifier page, which does not exist yet")
	}
}

// pageLimit is the most an article page without images may weigh on the
// wire, its style sheet included.
const pageLimit = 30 << 10

// TestArticlePageWeight checks that a typical article (the corpus's seed
// article, as text) costs a reader less than pageLimit on the wire, page
// and style sheet together, gzip-compressed as the mirror sends them.
func TestArticlePageWeight(t *testing.T) {
	text, err := os.ReadFile(corpus.Path(t, "seed", "rferl-geneva-talks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	it := item("seed", "text/plain", string(text), "en", "U.S.-Russia Conclude 'Difficult' Geneva Talks")
	f.publish(it)
	page := f.get("/p/"+f.alpha.ID()+"/a/seed/", "Accept-Encoding: gzip")
	css := f.get("/static/style.css", "Accept-Encoding: gzip")
	if page.StatusCode != 200 || page.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("article page: %d, encoding %q", page.StatusCode, page.Header.Get("Content-Encoding"))
	}
	cssWire := len(css.body)
	if css.Header.Get("Content-Encoding") == "" {
		cssWire = gzipLen(t, []byte(css.body))
		t.Logf("the style sheet is sent uncompressed: %d bytes (%d gzipped)", len(css.body), cssWire)
		cssWire = len(css.body)
	}
	total := len(page.body) + cssWire
	t.Logf("seed article (%d bytes of text): page %d bytes gzipped, style sheet %d, total %d", len(text), len(page.body), cssWire, total)
	if total >= pageLimit {
		t.Errorf("article page and style sheet weigh %d bytes on the wire, want under %d", total, pageLimit)
	}
}

func gzipLen(t *testing.T, b []byte) int {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestArticleFreshnessFollowsClockAndAlarms checks that an article page
// served from the cache, for a publisher state that is kept, still shows
// the checkpoint's age as it is now, whether it is stale, and the alarms
// raised now: the rendered freshness fragment is reused only while all
// three are the same.
func TestArticleFreshnessFollowsClockAndAlarms(t *testing.T) {
	var mu sync.Mutex
	var now time.Time
	var alarms []string
	f := newFixture(t, &web.Config{
		Refresh: 1 << 40,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
		Alarms: func(string) []string {
			mu.Lock()
			defer mu.Unlock()
			return alarms
		},
	})
	signed := f.clock.t // the fixture's last checkpoint
	set := func(age time.Duration, a ...string) {
		mu.Lock()
		now, alarms = signed.Add(age), a
		mu.Unlock()
	}
	path := "/p/" + f.alpha.ID() + "/a/hostile/"
	check := func(what string, want ...string) {
		t.Helper()
		body := f.get(path).body
		for _, w := range want {
			s, neg := strings.CutPrefix(w, "!")
			if has := strings.Contains(body, s); has == neg {
				t.Errorf("%s: page contains %q: %v, want %v", what, s, has, !neg)
			}
		}
	}
	set(time.Hour)
	check("at first", "1 hour ago", "!"+`class="fresh stale"`, "!"+`class="alarm"`)
	check("again", "1 hour ago")
	set(2 * time.Hour)
	check("an hour later", "2 hours ago", "!1 hour ago")
	set(2*time.Hour, "fork: two checkpoints of size 7")
	check("with an alarm", "2 hours ago", `class="alarm"`, "fork: two checkpoints of size 7")
	set(2*time.Hour, "fork: two checkpoints of size 8")
	check("another alarm", "fork: two checkpoints of size 8", "!size 7")
	set(2 * time.Hour)
	check("alarm cleared", "2 hours ago", "!"+`class="alarm"`)
	set(24 * time.Hour)
	check("a day old", "24 hours ago", "!"+`class="fresh stale"`)
	set(24*time.Hour + time.Nanosecond)
	check("just over a day old", "24 hours ago", `class="fresh stale"`)
}
