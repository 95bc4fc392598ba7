package web_test

import (
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// TestListPages checks the paged lists (publisher page, JSON API) and the
// counts against the store's whole list, across page boundaries, after
// revisions and withdrawals that move articles in the order.
func TestListPages(t *testing.T) {
	f := newFixture(t, &web.Config{Refresh: 1 << 62})
	a := f.alpha.ID()
	var items []publish.Item
	for i := 0; i < web.PageSize+150; i++ {
		items = append(items, item(fmt.Sprintf("n%03d", i), "text/plain", "text", "en", fmt.Sprintf("Number %d", i)))
	}
	f.publish(items...)
	f.publish(item("n005", "text/plain", "revised", "en", "Number 5, revised"))
	if err := f.pub.Retract("n100"); err != nil {
		t.Fatal(err)
	}
	f.h.Invalidate(a)

	all, err := f.st.Articles(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) <= 2*web.PageSize-50 || len(all) > 2*web.PageSize {
		t.Fatalf("%d articles: the test wants two pages, the second partly full", len(all))
	}
	live := 0
	for _, ar := range all {
		if !ar.Retracted {
			live++
		}
	}
	type page struct {
		Total    int
		Page     int
		Articles []struct {
			ID        string
			Leaf      int64
			Retracted bool
		}
	}
	var got []string
	for p := 1; p <= 3; p++ {
		var pg page
		if err := json.Unmarshal([]byte(f.get(fmt.Sprintf("/api/p/%s/articles?page=%d", a, p)).body), &pg); err != nil {
			t.Fatal(err)
		}
		if pg.Total != len(all) || pg.Page != p {
			t.Errorf("page %d: total %d, page %d; want %d, %d", p, pg.Total, pg.Page, len(all), p)
		}
		if want := min(web.PageSize, max(0, len(all)-(p-1)*web.PageSize)); len(pg.Articles) != want {
			t.Errorf("page %d: %d articles, want %d", p, len(pg.Articles), want)
		}
		for _, ar := range pg.Articles {
			got = append(got, ar.ID)
		}
		body := f.get(fmt.Sprintf("/p/%s/?page=%d", a, p)).body
		if next := fmt.Sprintf(`href="/p/%s/?page=%d"`, a, p+1); strings.Contains(body, next) != (p*web.PageSize < len(all)) {
			t.Errorf("publisher page %d: link to the next page: %v", p, !strings.Contains(body, next))
		}
		if p == 1 && (!strings.Contains(body, "Number 5, revised") || !strings.Contains(body, "n100 — withdrawn")) {
			t.Errorf("publisher page 1 lacks the revised or the withdrawn article")
		}
	}
	var want []string
	for _, ar := range all {
		want = append(want, ar.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages list\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(f.get("/").body, fmt.Sprintf("%d articles", live)) {
		t.Errorf("index does not count %d articles", live)
	}
	var pubs []struct{ Articles int }
	json.Unmarshal([]byte(f.get("/api/publishers").body), &pubs)
	if len(pubs) == 0 || pubs[0].Articles != live {
		t.Errorf("/api/publishers: %+v, want %d articles", pubs, live)
	}

	// A new article comes first once the handler is told.
	f.publish(item("latest", "text/plain", "new", "en", "Latest"))
	f.h.Invalidate(a)
	var pg page
	json.Unmarshal([]byte(f.get("/api/p/"+a+"/articles").body), &pg)
	if pg.Total != len(all)+1 || len(pg.Articles) == 0 || pg.Articles[0].ID != "latest" {
		t.Errorf("after a new article: total %d, first %+v", pg.Total, pg.Articles[:1])
	}
}

// atomFeed is what the tests read of a feed.
type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string   `xml:"title"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Summary *struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"summary"`
		Content *struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func (f *fixture) feed() (*atomFeed, string) {
	f.t.Helper()
	r := f.get("/p/" + f.alpha.ID() + "/feed.atom")
	var feed atomFeed
	if err := xml.Unmarshal([]byte(r.body), &feed); err != nil {
		f.t.Fatal(err)
	}
	return &feed, r.body
}

// TestFeedContent checks that feed entries carry the article as its page
// shows it, sanitised by the same policy: nothing of a hostile article's
// script survives, neither in the XML nor in the HTML a reader unescapes
// from it; and that a long article gets a bounded text summary instead.
func TestFeedContent(t *testing.T) {
	f := newFixture(t, &web.Config{Refresh: 1 << 62})
	long := strings.Repeat("<p>Lorem <b>ipsum</b> dolor sit amet, consectetur adipiscing elit.</p>\n<script>alert('late')</script>", 600)
	f.publish(item("long", "text/html", long, "en", "A long one"))
	f.h.Invalidate(f.alpha.ID())
	feed, raw := f.feed()
	base := "/p/" + f.alpha.ID() + "/a/"
	seen := map[string]bool{}
	for _, e := range feed.Entries {
		id := e.ID[strings.LastIndex(e.ID, ":")+1:]
		seen[id] = true
		var text string
		switch {
		case id == "long":
			if e.Content != nil || e.Summary == nil || e.Summary.Type != "text" {
				t.Fatalf("long article: content %v, summary %v; want a text summary only", e.Content, e.Summary)
			}
			text = e.Summary.Text
			if n := utf8.RuneCountInString(text); n > 600 || n < 500 || !strings.HasSuffix(text, "…") || !strings.HasPrefix(text, "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Lorem ipsum") {
				t.Errorf("long article: summary of %d characters: %q", n, text)
			}
		default:
			if e.Content == nil || e.Content.Type != "html" || e.Summary != nil {
				t.Fatalf("%s: content %v, summary %v; want HTML content", id, e.Content, e.Summary)
			}
			text = e.Content.Text
		}
		low := strings.ToLower(text)
		if id != "markdown" && strings.Contains(low, "alert(") { // the Markdown's is text, as on its page
			t.Errorf("%s: feed entry contains alert(", id)
		}
		for _, bad := range []string{"<script", "onerror", "onload", "onclick", "javascript:", "<iframe", "<style", "<meta", "<form", "<input", "style=", "<object", "<embed", "<base", "<link", "evil.example", "tracker.example", "<svg"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s: feed entry contains %q", id, bad)
			}
		}
		// What a feed reader might unescape once more must be clean too.
		if un := strings.ToLower(html.UnescapeString(text)); strings.Contains(un, "<script") || strings.Contains(un, "javascript:") {
			t.Errorf("%s: feed entry unescapes to script", id)
		}
		page := f.get(base + id + "/").body
		if id != "long" && !strings.Contains(page, text) {
			t.Errorf("%s: feed content is not the page's body:\n%s", id, text)
		}
	}
	if !seen["hostile"] || !seen["markdown"] || !seen["long"] || seen["withdrawn"] {
		t.Errorf("feed entries %v", seen)
	}
	for _, bad := range []string{"<script", "&lt;script", "alert('", "alert(&#39;", "javascript:", "onerror"} {
		if strings.Contains(strings.ToLower(raw), bad) {
			t.Errorf("feed XML contains %q", bad)
		}
	}
	if !strings.Contains(raw, "Hello &lt;b&gt;world&lt;/b&gt;") || !strings.Contains(raw, html.EscapeString(`src="`+base+`hostile/img/photo.png"`)) {
		t.Errorf("hostile entry lacks its text or its rewritten image:\n%s", raw)
	}
}

// TestFeedCached checks that the feed is rendered once per log state and
// served with a stable entity tag, and is made again once the log changes.
func TestFeedCached(t *testing.T) {
	f := newFixture(t, &web.Config{Refresh: 1 << 62})
	path := "/p/" + f.alpha.ID() + "/feed.atom"
	r1 := f.get(path)
	etag := r1.Header.Get("ETag")
	if r2 := f.get(path, "If-None-Match: "+etag); etag == "" || r2.StatusCode != 304 {
		t.Errorf("feed ETag %q, conditional request: %d", etag, r2.StatusCode)
	}
	gz := f.get(path, "Accept-Encoding: gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("Vary") != "Accept-Encoding" || gz.Header.Get("ETag") == etag {
		t.Errorf("gzip feed: Content-Encoding %q, Vary %q, ETag %q (identity %q)", gz.Header.Get("Content-Encoding"), gz.Header.Get("Vary"), gz.Header.Get("ETag"), etag)
	}
	if zr, err := gzip.NewReader(strings.NewReader(gz.body)); err != nil {
		t.Error(err)
	} else if b, err := io.ReadAll(zr); err != nil || string(b) != r1.body {
		t.Errorf("gzip feed does not decompress to the feed: %v", err)
	}
	f.publish(item("fresh", "text/plain", "fresh news", "en", "Fresh"))
	if r := f.get(path); r.body != r1.body {
		t.Error("feed changed before Invalidate")
	}
	f.h.Invalidate(f.alpha.ID())
	if r := f.get(path); !strings.Contains(r.body, "fresh news") || r.Header.Get("ETag") == etag {
		t.Errorf("feed after Invalidate lacks the new article, or kept its ETag")
	}
}
