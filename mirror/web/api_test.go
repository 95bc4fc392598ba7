package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// The fields of PROTOCOL.md's JSON routes, written out: each must be
// present in every answer, whatever its value.
var (
	publisherFields = []string{"id", "name", "root_key", "held", "statement_version", "checkpoint", "articles", "alarms"}
	checkpointField = []string{"size", "root", "time", "index"}
	listFields      = []string{"publisher", "total", "page", "page_size", "articles"}
	listItemFields  = []string{"id", "revision", "title", "language", "digest", "leaf", "created", "updated", "retracted", "retracted_at", "url"}
	articleFields   = []string{"publisher", "id", "revision", "title", "language", "canonical_url", "authors", "created", "updated", "signer", "digest", "leaf", "dictionary", "entries", "url", "bundle"}
	entryFields     = []string{"name", "type", "compression", "size", "stored_size", "sha256", "stored_sha256"}
	errorFields     = []string{"error", "status"}
)

// hasFields fails the test unless the JSON object o has exactly the keys
// of want.
func hasFields(t *testing.T, what string, o map[string]any, want []string) {
	t.Helper()
	var got []string
	for k := range o {
		got = append(got, k)
	}
	slices.Sort(got)
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(got, w) {
		t.Errorf("%s: fields %v, want %v", what, got, w)
	}
}

func decodeObject(t *testing.T, what, body string) map[string]any {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatalf("%s: %v: %s", what, err, body)
	}
	return o
}

// TestJSONFieldsPresent: every field PROTOCOL.md lists is present, also
// when its value is empty: a publisher not held, an article without
// canonical URL or authors, a withdrawn article.
func TestJSONFieldsPresent(t *testing.T) {
	f := newFixture(t, nil)
	f.publish(publish.Item{Meta: bundle.Metadata{ID: "bare"}, Files: []bundle.File{{Type: "text/plain", Data: []byte("no metadata")}}})
	a := f.alpha.ID()

	var pubs []map[string]any
	if err := json.Unmarshal([]byte(f.get("/api/publishers").body), &pubs); err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 2 {
		t.Fatalf("%d publishers", len(pubs))
	}
	for _, p := range pubs {
		hasFields(t, "publisher", p, publisherFields)
	}
	if cp, ok := pubs[0]["checkpoint"].(map[string]any); !ok {
		t.Errorf("held publisher's checkpoint: %v", pubs[0]["checkpoint"])
	} else {
		hasFields(t, "checkpoint", cp, checkpointField)
		if x, _ := cp["index"].(string); len(x) != 44 {
			t.Errorf("held publisher's checkpoint carries index %q, want its article index root", cp["index"])
		}
	}
	if pubs[1]["checkpoint"] != nil || pubs[1]["statement_version"] != 0.0 || !slices.Equal(pubs[1]["alarms"].([]any), []any{}) {
		t.Errorf("publisher not held: %v", pubs[1])
	}

	list := decodeObject(t, "articles", f.get("/api/p/"+a+"/articles").body)
	hasFields(t, "article list", list, listFields)
	items := list["articles"].([]any)
	var withdrawn, bare map[string]any
	for _, it := range items {
		o := it.(map[string]any)
		hasFields(t, "article list item", o, listItemFields)
		switch o["id"] {
		case "withdrawn":
			withdrawn = o
		case "bare":
			bare = o
		}
	}
	if withdrawn == nil || withdrawn["retracted"] != true || withdrawn["retracted_at"] == nil || withdrawn["created"] != nil || withdrawn["title"] != "" {
		t.Errorf("withdrawn item: %v", withdrawn)
	}
	if bare == nil || bare["retracted"] != false || bare["retracted_at"] != nil || bare["created"] == nil {
		t.Errorf("bare item: %v", bare)
	}

	for _, id := range []string{"hostile", "bare"} {
		o := decodeObject(t, id, f.get("/api/p/"+a+"/a/"+id).body)
		hasFields(t, id, o, articleFields)
		for _, e := range o["entries"].([]any) {
			hasFields(t, id+" entry", e.(map[string]any), entryFields)
		}
		if id == "bare" && (o["canonical_url"] != "" || !slices.Equal(o["authors"].([]any), []any{}) || o["dictionary"] != "" || o["language"] != "") {
			t.Errorf("bare article: %v", o)
		}
	}
	r := f.get("/api/p/" + a + "/a/withdrawn")
	if r.StatusCode != http.StatusGone {
		t.Fatalf("withdrawn: %d", r.StatusCode)
	}
	hasFields(t, "withdrawn article", decodeObject(t, "withdrawn", r.body), listItemFields)
}

// TestAPIErrorsJSON: every error under /api/ is a JSON object with the
// message and the status, whoever refuses the request: the rate limit,
// the method check, the path and query bounds, the routes.
func TestAPIErrorsJSON(t *testing.T) {
	f := newFixture(t, &web.Config{Refresh: 1 << 62})
	a := f.alpha.ID()
	check := func(what string, r *response, code int) {
		t.Helper()
		if r.StatusCode != code {
			t.Errorf("%s: status %d, want %d (%s)", what, r.StatusCode, code, firstLine(r.body))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", what, cc)
		}
		o := decodeObject(t, what, r.body)
		hasFields(t, what, o, errorFields)
		if msg, _ := o["error"].(string); msg == "" || o["status"] != float64(code) {
			t.Errorf("%s: body %s", what, r.body)
		}
	}
	check("400", f.get("/api/p/"+a+"/articles?page=abc"), 400)
	check("400 query", f.get("/api/publishers?x=1"), 400)
	check("400 path", f.get("/api/p/"+a+"//articles"), 400)
	check("404 article", f.get("/api/p/"+a+"/a/nosuch"), 404)
	check("404 publisher", f.get("/api/p/"+strings.Repeat("0", 32)+"/articles"), 404)
	check("404 route", f.get("/api/nosuch"), 404)
	check("404 trailing slash", f.get("/api/p/"+a+"/a/hostile/"), 404)
	check("405", f.do(http.MethodPost, "/api/publishers"), 405)
	check("405 DELETE", f.do(http.MethodDelete, "/api/p/"+a+"/articles"), 405)
	check("414", f.get("/api/publishers?"+strings.Repeat("x", 300)), 414)

	// 503: a bundle this mirror cannot verify.
	tight := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public()}, &web.Config{Limits: &bundle.Limits{BundleSize: 200}, Rate: -1})
	srv := httptest.NewServer(tight)
	defer srv.Close()
	check("503", fetch(t, srv.URL+"/api/p/"+a+"/a/hostile"), 503)

	// 429: over the rate limit (loopback is limited here).
	limited := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public()}, &web.Config{Rate: 0.001, Burst: 1, LimitLoopback: true})
	srv2 := httptest.NewServer(limited)
	defer srv2.Close()
	fetch(t, srv2.URL+"/api/publishers")
	r := fetch(t, srv2.URL+"/api/publishers")
	check("429", r, 429)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// 500: the store fails (here: it was closed under the handler, whose
	// publisher state is still fresh).
	f.get("/api/p/" + a + "/articles")
	f.st.Close()
	check("500", f.get("/api/p/"+a+"/a/plain"), 500)
}

// fetch gets url over loopback HTTP with a fresh client.
func fetch(t *testing.T, url string) *response {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{resp, string(b)}
}
