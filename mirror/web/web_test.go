package web_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
)

func TestRoutes(t *testing.T) {
	f := newFixture(t, nil)
	a, b, g := f.alpha.ID(), f.beta.ID(), f.gamma.ID()
	d := f.digest("hostile")
	tests := []struct {
		path  string
		code  int
		ctype string
		csp   string // the Content-Security-Policy expected, written out
	}{
		{"/", 200, "text/html; charset=utf-8", pageCSP},
		{"/status", 200, "text/html; charset=utf-8", pageCSP},
		{"/static/style.css", 200, "text/css; charset=utf-8", dataCSP},
		{"/healthz", 200, "text/plain; charset=utf-8", dataCSP},
		{"/metrics", 200, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", dataCSP},
		{"/p/" + a + "/", 200, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/?page=1", 200, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a, 301, "", dataCSP},
		{"/p/" + a + "/a/hostile/", 200, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/a/hostile", 301, "", dataCSP},
		{"/p/" + a + "/a/markdown/", 200, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/a/plain/", 200, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/a/withdrawn/", 410, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/a/nosuch/", 404, "text/html; charset=utf-8", pageCSP},
		{"/p/" + a + "/a/hostile/img/photo.png", 200, "image/png", entryCSP},
		{"/p/" + a + "/a/hostile/img/logo.svg", 200, "image/svg+xml", entryCSP},
		{"/p/" + a + "/a/hostile/index.html", 200, "text/plain; charset=utf-8", entryCSP},
		{"/p/" + a + "/a/hostile/img/nosuch.png", 404, "text/plain; charset=utf-8", dataCSP},
		{"/p/" + a + "/a/withdrawn/x.png", 410, "text/plain; charset=utf-8", dataCSP},
		{"/p/" + a + "/feed.atom", 200, "application/atom+xml; charset=utf-8", dataCSP},
		{"/p/" + a + "/key-statement", 200, "text/plain; charset=utf-8", dataCSP},
		{"/p/" + a + "/checkpoint", 200, "text/plain; charset=utf-8", dataCSP},
		{"/p/" + a + "/tile/0/000.p/3", 200, "application/octet-stream", dataCSP},
		{"/p/" + a + "/tile/entries/000.p/3", 200, "application/octet-stream", dataCSP},
		{"/p/" + g + "/tile/entries/000.p/1", 404, "text/plain; charset=utf-8", dataCSP},
		{"/b/" + d.String(), 200, "application/octet-stream", dataCSP},
		{"/api/publishers", 200, "application/json", dataCSP},
		{"/api/p/" + a + "/articles", 200, "application/json", dataCSP},
		{"/api/p/" + a + "/a/hostile", 200, "application/json", dataCSP},
		{"/api/p/" + a + "/a/withdrawn", 410, "application/json", dataCSP},
		{"/api/p/" + a + "/a/nosuch", 404, "application/json", dataCSP},
		// Publishers not carried.
		{"/p/" + b + "/", 404, "text/html; charset=utf-8", pageCSP},
		{"/p/" + g + "/", 404, "text/html; charset=utf-8", pageCSP},
		{"/p/" + g + "/a/secret/", 404, "text/html; charset=utf-8", pageCSP},
		{"/p/" + g + "/checkpoint", 404, "text/plain; charset=utf-8", dataCSP},
		{"/api/p/" + g + "/articles", 404, "application/json", dataCSP},
		{"/b/" + f.gammaDigest(), 404, "text/plain; charset=utf-8", dataCSP},
		{"/nosuch", 404, "text/html; charset=utf-8", pageCSP},
	}
	for _, tc := range tests {
		r := f.get(tc.path)
		if r.StatusCode != tc.code {
			t.Errorf("GET %s: status %d, want %d (%s)", tc.path, r.StatusCode, tc.code, firstLine(r.body))
			continue
		}
		if tc.ctype != "" && r.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, r.Header.Get("Content-Type"), tc.ctype)
		}
		checkSecurityHeaders(t, tc.path, r, tc.csp)
		if tc.csp == pageCSP && r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: page without X-Frame-Options: DENY", tc.path)
		}
		if tc.csp == pageCSP && !strings.Contains(r.body, `<link rel="stylesheet" href="/static/style.css">`) {
			t.Errorf("GET %s: page does not use the style sheet", tc.path)
		}
		if tc.csp == pageCSP && strings.Contains(strings.ToLower(r.body), "<script") {
			t.Errorf("GET %s: page has a script element", tc.path)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (f *fixture) gammaDigest() string {
	a, err := f.st.Article(f.gamma.ID(), "secret")
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Digest.String()
}

// The content security policies of PROTOCOL.md, written out here rather
// than taken from package web, so that a policy weakened in the code
// fails the tests.
const (
	// pageCSP is sent with HTML pages: no script at all, images and
	// style from the mirror only, no framing, no forms, no <base>.
	pageCSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	// entryCSP is sent with a bundle's entries (a publisher's bytes,
	// SVG included): sandboxed, so nothing in them runs on the mirror's
	// origin.
	entryCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
	// dataCSP is sent with everything else.
	dataCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
)

func checkSecurityHeaders(t *testing.T, path string, r *response, wantCSP string) {
	t.Helper()
	h := r.Header
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
	}
	if h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("GET %s: no Referrer-Policy: no-referrer", path)
	}
	if csp := h.Values("Content-Security-Policy"); len(csp) != 1 || csp[0] != wantCSP {
		t.Errorf("GET %s: Content-Security-Policy %q, want %q", path, csp, wantCSP)
	}
}

// TestCSPConstants: the exported policies are PROTOCOL.md's.
func TestCSPConstants(t *testing.T) {
	if web.PageCSP != pageCSP || web.EntryCSP != entryCSP {
		t.Errorf("PageCSP %q, EntryCSP %q; want %q, %q", web.PageCSP, web.EntryCSP, pageCSP, entryCSP)
	}
}

func TestHostileArticleSanitised(t *testing.T) {
	f := newFixture(t, nil)
	base := "/p/" + f.alpha.ID() + "/a/"
	for _, id := range []string{"hostile", "markdown"} {
		r := f.get(base + id + "/")
		if r.StatusCode != 200 {
			t.Fatalf("%s: status %d", id, r.StatusCode)
		}
		low := strings.ToLower(r.body)
		if id == "hostile" && strings.Contains(low, "alert(") {
			t.Errorf("%s: page contains alert(", id)
		}
		for _, bad := range []string{"<script", "onerror", "onload", "onclick", "javascript:", "<iframe", "<style", "http-equiv", "<meta http", "<form", "<input", "style=", "<object", "<embed", "<base", "evil.example", "tracker.example", "<svg", "<b>title"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s: page contains %q", id, bad)
			}
		}
		want := `src="` + base + id + `/img/photo.png"`
		if !strings.Contains(r.body, want) {
			t.Errorf("%s: image reference not rewritten to %s", id, want)
		}
	}
	r := f.get(base + "hostile/")
	for _, want := range []string{"Hello <b>world</b>", `href="https://example.org/ok"`, "noreferrer", `src="` + base + `hostile/img/logo.svg"`, "Hostile &lt;b&gt;title&lt;/b&gt;",
		"alpha-signing", "Revision", "A. Writer", "https://news.example/hostile", f.alpha.ID(), "checkpoint signed", "1 hour ago"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("hostile page lacks %q", want)
		}
	}
	r = f.get(base + "markdown/")
	if !strings.Contains(r.body, "<h1>Heading</h1>") || !strings.Contains(r.body, "<em>text</em>") {
		t.Errorf("markdown not rendered:\n%s", r.body)
	}
	r = f.get(base + "plain/")
	if !strings.Contains(r.body, "<p>First line &lt;b&gt;not bold&lt;/b&gt;<br>\nsecond line</p>") || !strings.Contains(r.body, "<p>Second paragraph &amp; more.</p>") {
		t.Errorf("plain text not escaped into paragraphs:\n%s", r.body)
	}
}

func TestEntryHeaders(t *testing.T) {
	f := newFixture(t, nil)
	base := "/p/" + f.alpha.ID() + "/a/hostile/"
	for _, name := range []string{"img/logo.svg", "img/photo.png", "index.html"} {
		r := f.get(base + name)
		if r.StatusCode != 200 {
			t.Fatalf("%s: status %d", name, r.StatusCode)
		}
		if csp := r.Header.Get("Content-Security-Policy"); csp != entryCSP {
			t.Errorf("%s: CSP %q, want %q", name, csp, entryCSP)
		}
		if z := f.get(base+name, "Accept-Encoding: zstd"); z.Header.Get("Content-Security-Policy") != entryCSP {
			t.Errorf("%s (zstd): CSP %q, want %q", name, z.Header.Get("Content-Security-Policy"), entryCSP)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", name)
		}
		if r.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: Content-Encoding %q without Accept-Encoding", name, r.Header.Get("Content-Encoding"))
		}
		// zstd: stored bytes as they are, decoding to the same bytes.
		z := f.get(base+name, "Accept-Encoding: gzip, zstd")
		compressed := name != "img/photo.png"
		if got := z.Header.Get("Content-Encoding"); (got == "zstd") != compressed {
			t.Errorf("%s: Content-Encoding %q with zstd accepted", name, got)
		}
		if !strings.Contains(z.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: no Vary: Accept-Encoding", name)
		}
		if compressed {
			dec, err := zstd.NewReader(nil)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := dec.DecodeAll([]byte(z.body), nil)
			dec.Close()
			if err != nil || string(plain) != r.body {
				t.Errorf("%s: zstd body does not decode to the identity body (err %v)", name, err)
			}
			if z.Header.Get("ETag") == r.Header.Get("ETag") {
				t.Errorf("%s: same ETag for both encodings", name)
			}
		}
		// q=0 refuses zstd.
		if n := f.get(base+name, "Accept-Encoding: zstd;q=0"); n.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: zstd sent though refused", name)
		}
		etag := r.Header.Get("ETag")
		if nm := f.get(base+name, "If-None-Match: "+etag); nm.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match gives %d, want 304", name, nm.StatusCode)
		}
	}
	if r := f.get(base + "img/logo.svg"); r.body != hostileSVG {
		t.Errorf("svg body changed")
	}
}

func TestBundleCaching(t *testing.T) {
	f := newFixture(t, nil)
	d := f.digest("hostile")
	raw, err := f.st.Bundle(d)
	if err != nil {
		t.Fatal(err)
	}
	path := "/b/" + d.String()
	r := f.get(path)
	if r.body != string(raw) {
		t.Fatal("bundle bytes differ from the store's")
	}
	if got, want := r.Header.Get("ETag"), `"`+d.String()+`"`; got != want {
		t.Errorf("ETag %s, want %s", got, want)
	}
	if got := r.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q", got)
	}
	for _, inm := range []string{`"` + d.String() + `"`, `W/"` + d.String() + `"`, `"x", "` + d.String() + `"`, "*"} {
		if r := f.get(path, "If-None-Match: "+inm); r.StatusCode != http.StatusNotModified || r.body != "" {
			t.Errorf("If-None-Match %s: status %d", inm, r.StatusCode)
		} else if r.Header.Get("ETag") == "" || r.Header.Get("Cache-Control") == "" {
			t.Errorf("304 without ETag or Cache-Control")
		}
	}
	if r := f.get(path, `If-None-Match: "other"`); r.StatusCode != 200 {
		t.Errorf("non-matching If-None-Match: status %d", r.StatusCode)
	}
	if r := f.do(http.MethodHead, path); r.StatusCode != 200 || r.body != "" || r.ContentLength != int64(len(raw)) {
		t.Errorf("HEAD: status %d, body %d bytes, length %d", r.StatusCode, len(r.body), r.ContentLength)
	}
	if r := f.get(path, "Range: bytes=0-15"); r.StatusCode != http.StatusPartialContent || r.body != bundle.Magic {
		t.Errorf("Range: status %d body %q", r.StatusCode, r.body)
	}
	// The bundle verifies.
	if _, err := bundle.Verify([]byte(r.body), f.alpha.Trust, nil); err != nil {
		t.Errorf("served bundle does not verify: %v", err)
	}
}

func TestClientRoutes(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	st := f.get("/p/" + a + "/key-statement")
	if st.body != string(f.alpha.Statement) {
		t.Errorf("key statement differs")
	}
	cpr := f.get("/p/" + a + "/checkpoint")
	cp, err := catalog.OpenCheckpoint([]byte(cpr.body), f.alpha.Trust)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if cc := cpr.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=5") {
		t.Errorf("checkpoint Cache-Control %q", cc)
	}
	// The log as tiles, read and checked by torchwood's tlog-tiles client
	// (an independent implementation) over HTTP: every leaf with its
	// inclusion in the checkpoint.
	tf, err := torchwood.NewTileFetcher(f.srv.URL + "/p/" + a + "/")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := torchwood.NewClient(tf)
	if err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: cp.Size, Hash: cp.Root}
	var leaves [][]byte
	for i := int64(0); i < cp.Size; i++ {
		l, proof, err := tc.Entry(context.Background(), tree, i)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if err := catalog.CheckInclusion(cp, i, l, proof); err != nil {
			t.Errorf("leaf %d: %v", i, err)
		}
		leaves = append(leaves, l)
	}
	if root, err := treeHash(leaves); err != nil || root != cp.Root {
		t.Errorf("the leaves hash to %v (%v), not the checkpoint's root", root, err)
	}
	// Tile headers: immutable, with an ETag; the checkpoint's size bounds
	// what is served.
	for _, path := range []string{"tile/0/000.p/" + itoa(cp.Size), "tile/entries/000.p/" + itoa(cp.Size), "tile/entries/000.p/1"} {
		r := f.get("/p/" + a + "/" + path)
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header.Get("ETag") == "" || r.Header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("%s: %d, headers %v", path, r.StatusCode, r.Header)
		}
		if r2 := f.get("/p/"+a+"/"+path, "If-None-Match: "+r.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", path, r2.StatusCode)
		}
	}
	if h0 := tlog.RecordHash(leaves[0]); f.get("/p/"+a+"/tile/0/000.p/1").body != string(h0[:]) {
		t.Errorf("tile/0/000.p/1 is not leaf 0's hash")
	}
	for _, path := range []string{"tile/0/000", "tile/entries/000", "tile/0/000.p/" + itoa(cp.Size+1), "tile/entries/001.p/1", "tile/1/000.p/1"} {
		if r := f.get("/p/" + a + "/" + path); r.StatusCode != 404 || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s beyond the checkpoint: %d %q", path, r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
}

func treeHash(leaves [][]byte) (tlog.Hash, error) {
	var hashes []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(int64(i), l, r)
		if err != nil {
			return tlog.Hash{}, err
		}
		hashes = append(hashes, hs...)
	}
	return tlog.TreeHash(int64(len(leaves)), r)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestJSONAndFeed(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	var pubs []struct {
		ID         string
		Name       string
		Held       bool
		Articles   int
		Checkpoint *struct{ Size int64 }
	}
	if err := json.Unmarshal([]byte(f.get("/api/publishers").body), &pubs); err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 2 || pubs[0].ID != a || !pubs[0].Held || pubs[0].Articles != 5 || pubs[0].Checkpoint == nil || pubs[1].Held {
		t.Errorf("publishers: %+v", pubs)
	}
	var list struct {
		Total    int
		Articles []struct {
			ID, Title, Language, Digest string
			Revision                    uint64
			Leaf                        int64
			Retracted                   bool
		}
	}
	if err := json.Unmarshal([]byte(f.get("/api/p/"+a+"/articles").body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 6 || len(list.Articles) != 6 || list.Articles[0].ID != "withdrawn" || !list.Articles[0].Retracted {
		t.Errorf("articles: %+v", list)
	}
	for _, ar := range list.Articles {
		if !ar.Retracted && (ar.Title == "" || ar.Language == "" || ar.Revision != 1 || len(ar.Digest) != 64) {
			t.Errorf("article %+v lacks fields", ar)
		}
	}
	var one struct {
		ID, Title, Signer, Digest string
		Entries                   []struct{ Name, Type, Compression string }
	}
	if err := json.Unmarshal([]byte(f.get("/api/p/"+a+"/a/hostile").body), &one); err != nil {
		t.Fatal(err)
	}
	if one.ID != "hostile" || len(one.Entries) != 3 || one.Entries[0].Name != "index.html" || one.Digest != f.digest("hostile").String() {
		t.Errorf("article: %+v", one)
	}
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		Entries []struct {
			ID    string `xml:"id"`
			Title string `xml:"title"`
			Link  struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"entry"`
	}
	fr := f.get("/p/" + a + "/feed.atom")
	if err := xml.Unmarshal([]byte(fr.body), &feed); err != nil {
		t.Fatal(err)
	}
	if feed.Title != "alpha" || len(feed.Entries) != 5 {
		t.Errorf("feed: %+v", feed)
	}
	for _, e := range feed.Entries {
		if !strings.HasPrefix(e.Link.Href, "/p/"+a+"/a/") || e.Title == "" {
			t.Errorf("feed entry %+v", e)
		}
	}
}

func TestDirection(t *testing.T) {
	f := newFixture(t, nil)
	base := "/p/" + f.alpha.ID() + "/a/"
	for id, want := range map[string]string{"farsi": `lang="fa" dir="rtl"`, "hostile": `lang="en" dir="auto"`, "arabic-latn": `lang="ar-Latn" dir="auto"`} {
		if r := f.get(base + id + "/"); !strings.Contains(r.body, "<article "+want+">") {
			t.Errorf("%s: no <article %s>", id, want)
		}
	}
	if r := f.get("/"); !strings.Contains(r.body, `lang="fa" dir="rtl">سلام</a>`) {
		t.Errorf("index does not mark the Farsi title rtl")
	}
}

func TestWithdrawn(t *testing.T) {
	f := newFixture(t, nil)
	r := f.get("/p/" + f.alpha.ID() + "/a/withdrawn/")
	if r.StatusCode != http.StatusGone || !strings.Contains(r.body, "withdrawn by its publisher") {
		t.Errorf("withdrawn: %d\n%s", r.StatusCode, r.body)
	}
	if r := f.get("/p/" + f.alpha.ID() + "/"); !strings.Contains(r.body, "withdrawn by the publisher") {
		t.Errorf("publisher page does not show the withdrawal")
	}
}

func TestHostileRequests(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	long := strings.Repeat("a", 5000)
	tests := []struct {
		method, path string
		code         int
	}{
		{"POST", "/", 405},
		{"PUT", "/b/" + f.digest("hostile").String(), 405},
		{"DELETE", "/p/" + a + "/", 405},
		{"OPTIONS", "/", 405},
		{"GET", "/b/nothex", 400},
		{"GET", "/b/" + strings.Repeat("A", 64), 400},
		{"GET", "/b/" + strings.Repeat("0", 64), 404},
		{"GET", "/b/" + strings.Repeat("0", 63), 400},
		{"GET", "/" + long, 414},
		{"GET", "/?" + long, 414},
		{"GET", "/?x=1", 400},
		{"GET", "/p/" + a + "/?page=0", 400},
		{"GET", "/p/" + a + "/?page=-1", 400},
		{"GET", "/p/" + a + "/?page=01", 400},
		{"GET", "/p/" + a + "/?page=99999999999999999999", 400},
		{"GET", "/p/" + a + "/?page=1&page=2", 400},
		{"GET", "/p/" + a + "/?page=1;x", 400},
		{"GET", "/p/" + a + "/?page=%zz", 400},
		{"GET", "/p/" + a + "/?page=50", 200},
		{"GET", "/p/" + a + "/tile/0/000.p/1", 200},
		{"GET", "/p/" + a + "/tile/0/000.p/1?x=1", 400},
		{"GET", "/p/" + a + "/tile/0/000.p/1?", 400},
		{"GET", "/p/" + a + "/tile/0/000.p/01", 404},
		{"GET", "/p/" + a + "/tile/0/0.p/1", 404},
		{"GET", "/p/" + a + "/tile/8/0/000.p/1", 404},
		{"GET", "/p/" + a + "/tile/data/000.p/1", 404},
		{"GET", "/p/" + a + "/tile/0/000.p/256", 404},
		{"GET", "/p/" + a + "/tile/0/000.p/1/", 404},
		{"GET", "/p/" + a + "/tile/0/x000/000.p/1", 404},
		{"GET", "/p/" + a + "/tile/0/x999/x999/x999/x999/x999/x999/x999/999", 404},
		{"GET", "/p/" + a + "/tile/0/" + strings.Repeat("x001/", 100) + "000", 404},
		{"GET", "/p/" + a + "/tile/entries/x001/000", 404},
		{"GET", "/p/" + a + "/tile/0/000.p/1%2f", 404},
		{"GET", "/p/" + a + "/tile/0//000.p/1", 400},
		{"GET", "/p/" + a + "/tile/", 404},
		{"GET", "/p/" + a + "/a/hostile/../../../etc/passwd", 400},
		{"GET", "/p/" + a + "/a/hostile/..%2f..%2fstore.db", 400},
		{"GET", "/p/" + a + "/a/hostile/%2e%2e/%2e%2e/x", 400},
		{"GET", "/p/" + a + "/a/hostile/img//photo.png", 400},
		{"GET", "/p/" + a + "/a/hostile/img/./photo.png", 400},
		{"GET", "/p/" + a + "/a/hostile/img%2fphoto.png", 200},
		{"GET", "/p/" + a + "/a/hostile/.hidden", 404},
		{"GET", "/p/" + a + "/a/hostile/img/photo.png?x=1", 400},
		{"GET", "/p/" + a + "/a/hostile/%00", 400},
		{"GET", "/p/" + a + "/a/hostile/a%5cb", 400},
		{"GET", "/p/" + a + "/a/Hostile/", 404},
		{"GET", "/p/" + a + "/a/" + strings.Repeat("x", 200) + "/", 404},
		{"GET", "/p/" + a + "/a/..x/", 404},
		{"GET", "/p/" + strings.ToUpper(a) + "/", 404},
		{"GET", "/p/xyz/", 404},
		{"GET", "/p/" + a + "/a/hostile/?x", 400},
		{"GET", "/api/p/" + a + "/articles?page=abc", 400},
		{"GET", "/api/p/" + a + "/a/BAD", 404},
		{"GET", "/static/../store.db", 400},
		// Routes that take no query refuse one (PROTOCOL.md).
		{"GET", "/static/style.css?v=2", 400},
		{"GET", "/static/style.css?", 200},
		{"GET", "/healthz?x", 400},
		{"GET", "/metrics?name[]=go_goroutines", 400},
		{"GET", "/api/publishers?x=1", 400},
		{"GET", "/api/peers?x=1", 400},
		{"GET", "/p/" + a + "/feed.atom?x=1", 400},
		{"GET", "/p/" + a + "/checkpoint?x=1", 400},
		{"GET", "/b/" + f.digest("hostile").String() + "?x=1", 400},
		{"GET", "/status?x=1", 400},
	}
	for _, tc := range tests {
		r := f.do(tc.method, tc.path)
		if r.StatusCode != tc.code {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, shorten(tc.path), r.StatusCode, tc.code, firstLine(r.body))
		}
		if r.StatusCode >= 500 {
			t.Errorf("%s %s: server error", tc.method, shorten(tc.path))
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", tc.method, shorten(tc.path))
		}
	}
	if r := f.do("POST", "/"); r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow")
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func TestMetricsAndStatus(t *testing.T) {
	var extra = prometheus.NewCounter(prometheus.CounterOpts{Name: "samizdat_sync_test_total", Help: "test"})
	extra.Add(3)
	f := newFixture(t, &web.Config{
		Collectors: []prometheus.Collector{extra},
		Alarms: func(id string) []string {
			return []string{"fork: two checkpoints of size 7 for " + id[:8]}
		},
	})
	late := prometheus.NewGauge(prometheus.GaugeOpts{Name: "samizdat_sync_late", Help: "late"})
	if err := f.h.Registerer().Register(late); err != nil {
		t.Fatal(err)
	}
	f.get("/p/" + f.alpha.ID() + "/a/hostile/")
	f.get("/b/" + strings.Repeat("0", 64))
	m := f.get("/metrics").body
	for _, want := range []string{
		`samizdat_http_requests_total{code="200",route="GET /p/{pub}/a/{id}/{$}"} 1`,
		`samizdat_http_requests_total{code="404",route="GET /b/{digest}"} 1`,
		`samizdat_http_response_bytes_total{route="GET /p/{pub}/a/{id}/{$}"}`,
		"samizdat_publishers 1",
		`samizdat_articles{publisher="` + f.alpha.ID() + `"} 5`,
		"samizdat_sync_test_total 3",
		"samizdat_sync_late 0",
		`samizdat_alarms{publisher="` + f.alpha.ID() + `"} 1`,
		"go_goroutines",
		`samizdat_build_info{goversion="` + runtime.Version() + `",version="`,
		`samizdat_http_request_duration_seconds_count{class="2xx",kind="page"} 1`,
		`samizdat_http_request_duration_seconds_count{class="4xx",kind="bundle"} 1`,
		`samizdat_http_request_duration_seconds_bucket{class="2xx",kind="page",le="30"} 1`,
		`samizdat_store_bytes{publisher="` + f.alpha.ID() + `"} `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	s := f.get("/status").body
	for _, want := range []string{"fork: two checkpoints of size 7", "alpha", "beta", "not held", f.alpha.ID()} {
		if !strings.Contains(s, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if r := f.get("/p/" + f.alpha.ID() + "/a/hostile/"); !strings.Contains(r.body, `class="alarm"`) {
		t.Errorf("article page does not show the alarm")
	}
	if r := f.get("/healthz"); r.body != "ok\n" {
		t.Errorf("healthz: %q", r.body)
	}
	if strings.Contains(m, "samizdat_store_quota_bytes{") {
		t.Error("a quota exported for a store without one")
	}
	p, err := f.st.Publisher(f.alpha.ID())
	if err != nil || p.Bytes == 0 {
		t.Fatal(p, err)
	}
	if want := `samizdat_store_bytes{publisher="` + f.alpha.ID() + `"} ` + strconv.FormatInt(p.Bytes, 10) + "\n"; !strings.Contains(m, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestMetricsQuota: the store's quota is exported per publisher.
func TestMetricsQuota(t *testing.T) {
	f := newFixtureStore(t, nil, &store.Options{Create: true, Quota: 3 << 30})
	if m, want := f.get("/metrics").body, `samizdat_store_quota_bytes{publisher="`+f.alpha.ID()+`"} 3.221225472e+09`; !strings.Contains(m, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestMetricsListener: with NoMetricsRoute, /metrics is 404 on the main
// handler and served by Handler.Metrics on a listener of its own.
func TestMetricsListener(t *testing.T) {
	f := newFixture(t, &web.Config{NoMetricsRoute: true})
	if r := f.get("/metrics"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main handler: %d", r.StatusCode)
	}
	f.get("/")
	srv := httptest.NewServer(f.h.Metrics())
	defer srv.Close()
	r := fetch(t, srv.URL+"/metrics")
	if r.StatusCode != 200 || !strings.Contains(r.body, `samizdat_http_request_duration_seconds_count{class="2xx",kind="page"} 1`) {
		t.Errorf("metrics listener: %d\n%s", r.StatusCode, r.body)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("metrics without nosniff")
	}
	for path, code := range map[string]int{"/metrics?x=1": 400, "/": 404, "/other": 404} {
		if r := fetch(t, srv.URL+path); r.StatusCode != code {
			t.Errorf("metrics listener %s: %d, want %d", path, r.StatusCode, code)
		}
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestUpdates checks that a new revision shows after Invalidate, and that
// cached pages follow the store.
func TestUpdates(t *testing.T) {
	f := newFixture(t, &web.Config{Refresh: 1 << 62})
	path := "/p/" + f.alpha.ID() + "/a/plain/"
	if r := f.get(path); !strings.Contains(r.body, "First line") {
		t.Fatal("no first revision")
	}
	f.get("/")
	f.publish(item("plain", "text/plain", "Revised text.", "de", "Plain text, revised"))
	f.publish(item("new", "text/plain", "A new one.", "en", "Brand new"))
	if r := f.get(path); strings.Contains(r.body, "Revised text.") {
		t.Errorf("article page changed before Invalidate; Refresh not honoured")
	}
	if r := f.get("/"); strings.Contains(r.body, "Brand new") {
		t.Errorf("index changed before Invalidate; Refresh not honoured")
	}
	// The log routes always read the store: a syncing client gets the
	// newest checkpoint at once.
	cp, err := catalog.OpenCheckpoint([]byte(f.get("/p/"+f.alpha.ID()+"/checkpoint").body), f.alpha.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := f.st.Publisher(f.alpha.ID()); cp.Size != p.Size {
		t.Errorf("checkpoint route serves size %d, store has %d", cp.Size, p.Size)
	}
	if r := f.get("/p/" + f.alpha.ID() + "/tile/entries/000.p/" + itoa(cp.Size)); r.StatusCode != 200 {
		t.Errorf("leaves up to the new size: %d", r.StatusCode)
	}
	f.h.Invalidate(f.alpha.ID())
	if r := f.get(path); !strings.Contains(r.body, "Revised text.") {
		t.Errorf("article page does not show the new revision after Invalidate")
	}
	if r := f.get("/"); !strings.Contains(r.body, "Brand new") {
		t.Errorf("index does not show the new article after Invalidate")
	}
}

func TestCSSCached(t *testing.T) {
	f := newFixture(t, nil)
	r := f.get("/static/style.css")
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "max-age") || r.Header.Get("ETag") == "" {
		t.Fatalf("css: %d %v", r.StatusCode, r.Header)
	}
	if nm := f.get("/static/style.css", "If-None-Match: "+r.Header.Get("ETag")); nm.StatusCode != 304 {
		t.Errorf("css revalidation: %d", nm.StatusCode)
	}
}

func TestHeadAndNilConfig(t *testing.T) {
	f := newFixture(t, nil)
	path := "/p/" + f.alpha.ID() + "/a/hostile/"
	get, head := f.get(path), f.do(http.MethodHead, path)
	if head.StatusCode != 200 || head.body != "" || head.ContentLength != int64(len(get.body)) {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %d, GET body %d bytes", head.StatusCode, len(head.body), head.ContentLength, len(get.body))
	}
	if head.Header.Get("Content-Security-Policy") != pageCSP {
		t.Errorf("HEAD without the page policy")
	}
	h := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public(), nil, f.alpha.Root.Public()}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Hello <b>world</b>") {
		t.Errorf("nil Config: status %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	if strings.Count(rec.Body.String(), "<code>"+f.alpha.ID()+"</code>") != 1 {
		t.Errorf("status lists a publisher twice")
	}
}

// TestUnverifiable checks that a bundle this mirror cannot verify (here:
// beyond its limits) is a 503, never shown and never a 500.
func TestUnverifiable(t *testing.T) {
	f := newFixture(t, &web.Config{Limits: &bundle.Limits{BundleSize: 200}})
	a := f.alpha.ID()
	for _, p := range []string{"/p/" + a + "/a/hostile/", "/p/" + a + "/a/hostile/img/photo.png", "/b/" + f.digest("hostile").String(), "/api/p/" + a + "/a/hostile"} {
		if r := f.get(p); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", p, r.StatusCode)
		}
	}
	if r := f.get("/p/" + a + "/"); r.StatusCode != 200 || !strings.Contains(r.body, "cannot be verified on this mirror") {
		t.Errorf("publisher page: %d", r.StatusCode)
	}
}

func TestArticleGzip(t *testing.T) {
	f := newFixture(t, nil)
	path := "/p/" + f.alpha.ID() + "/a/farsi/"
	plain := f.get(path)
	gz := f.get(path, "Accept-Encoding: gzip, br")
	if gz.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: Content-Encoding %q, Vary %q", gz.Header.Get("Content-Encoding"), gz.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(strings.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := io.ReadAll(zr)
	if err != nil || string(dec) != plain.body {
		t.Errorf("gzip page does not decode to the identity page (err %v)", err)
	}
	if gz.Header.Get("Content-Security-Policy") != pageCSP {
		t.Errorf("gzip page without the page policy")
	}
	if r := f.get(path, "Accept-Encoding: gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip sent though refused")
	}
}

// TestNewRefusesBadCollector: a collector that cannot be registered (here
// one describing the handler's own build-info metric) makes New fail,
// rather than a mirror running without the metrics its operator asked for.
func TestNewRefusesBadCollector(t *testing.T) {
	f := newFixture(t, nil)
	dup := prometheus.NewGauge(prometheus.GaugeOpts{Name: "samizdat_build_info", Help: "a clash"})
	h, err := web.New(f.st, nil, &web.Config{Collectors: []prometheus.Collector{dup}})
	if err == nil || h != nil || !strings.HasPrefix(err.Error(), "web: ") {
		t.Fatalf("New = %v, %v; want a web: error", h, err)
	}
}
