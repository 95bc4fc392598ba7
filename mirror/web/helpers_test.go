package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// hostileHTML tries every way we know to run script or load from
// elsewhere; none of it may survive sanitising.
const hostileHTML = `<p>Hello <b>world</b>.</p>
<script>alert("script")</script>
<img src="img/photo.png" alt="photo" onerror="alert('onerror')">
<img src="https://tracker.example/pixel.gif">
<img src="../../../../b/x.png">
<a href="javascript:alert('href')">click</a>
<a href="https://example.org/ok" onclick="alert('click')">ok link</a>
<svg onload="alert('svg')"><circle r="4"/></svg>
<iframe src="https://evil.example/"></iframe>
<style>body{display:none}</style>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<form action="https://evil.example/"><input name="q"></form>
<p style="background:url(https://evil.example/bg)">styled</p>
<object data="x.swf"></object><embed src="x.swf">
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/x.css">
<img src="img/logo.svg">`

const hostileSVG = `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><circle r="4"/></svg>`

var pngBytes = []byte("\x89PNG\r\n\x1a\nnot really a png but stored as is")

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// fixture is a store with one trusted publisher ("alpha") holding a set of
// articles, a trusted publisher the store does not hold ("beta"), and a
// publisher the store holds but the mirror does not trust ("gamma").
type fixture struct {
	t     testing.TB
	st    *store.Store
	alpha *testkeys.Publisher
	beta  *testkeys.Publisher
	gamma *testkeys.Publisher
	pub   *publish.Publisher
	clock *clock
	h     *web.Handler
	srv   *httptest.Server
	cfg   *web.Config
}

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t testing.TB, cfg *web.Config) *fixture {
	t.Helper()
	return newFixtureStore(t, cfg, &store.Options{Create: true})
}

// newFixtureStore is newFixture with the store opened with opts.
func newFixtureStore(t testing.TB, cfg *web.Config, opts *store.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, alpha: testkeys.New(t, "alpha"), beta: testkeys.New(t, "beta"), gamma: testkeys.New(t, "gamma"), clock: &clock{start}}
	var err error
	if f.st, err = store.Open(filepath.Join(t.TempDir(), "store"), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if f.pub, err = publish.New(f.st, f.alpha.Root.Public(), f.alpha.Statement, f.alpha.Signer, &publish.Options{Now: f.clock.now}); err != nil {
		t.Fatal(err)
	}
	f.publish(
		item("hostile", "text/html", hostileHTML, "en", "Hostile <b>title</b>",
			bundle.File{Name: "img/photo.png", Type: "image/png", Data: pngBytes},
			bundle.File{Name: "img/logo.svg", Type: "image/svg+xml", Data: []byte(hostileSVG)}),
		item("markdown", "text/markdown", "# Heading\n\nSome *text* with <script>alert(1)</script> raw html and [a js link](javascript:alert(1)).\n\n![pic](img/photo.png)\n", "en", "Markdown article",
			bundle.File{Name: "img/photo.png", Type: "image/png", Data: pngBytes}),
		item("plain", "text/plain", "First line <b>not bold</b>\nsecond line\n\nSecond paragraph & more.", "de", "Plain text"),
		item("farsi", "text/html", "<p>سلام دنیا</p>", "fa", "سلام"),
		item("arabic-latn", "text/plain", "marhaba", "ar-Latn", "Marhaba"),
		item("withdrawn", "text/plain", "to be withdrawn", "en", "Withdrawn soon"),
	)
	f.clock.t = f.clock.t.Add(time.Minute)
	if err := f.pub.Retract("withdrawn"); err != nil {
		t.Fatal(err)
	}
	gp, err := publish.New(f.st, f.gamma.Root.Public(), f.gamma.Statement, f.gamma.Signer, &publish.Options{Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gp.Publish([]publish.Item{item("secret", "text/plain", "not trusted here", "en", "Gamma")}); err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &web.Config{}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return start.Add(2 * time.Hour) }
	}
	if cfg.Rate == 0 {
		cfg.Rate = -1 // requests come from httptest's 192.0.2.1; TestRateLimit tests the limit
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = -1
	}
	f.cfg = cfg
	f.h = newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public(), f.beta.Root.Public()}, cfg)
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

func item(id, typ, body, lang, title string, images ...bundle.File) publish.Item {
	return publish.Item{
		Meta: bundle.Metadata{ID: id, Title: title, Language: lang, CanonicalURL: "https://news.example/" + id,
			Authors: []string{"A. Writer"}},
		Files: append([]bundle.File{{Type: typ, Data: []byte(body)}}, images...),
	}
}

func (f *fixture) publish(items ...publish.Item) []publish.Result {
	f.t.Helper()
	f.clock.t = f.clock.t.Add(time.Minute)
	res, err := f.pub.Publish(items)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) digest(id string) bundle.Digest {
	f.t.Helper()
	a, err := f.st.Article(f.alpha.ID(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Digest
}

// response is a fetched response with its body read.
type response struct {
	*http.Response
	body string
}

// get fetches a path over loopback HTTP. Extra headers are given as
// "Name: value" strings. Redirects are not followed and transparent
// decompression is off.
func (f *fixture) do(method, path string, headers ...string) *response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return &response{resp, string(b)}
}

func (f *fixture) get(path string, headers ...string) *response {
	f.t.Helper()
	return f.do(http.MethodGet, path, headers...)
}

// newHandler returns web.New's handler, failing the test on an error.
func newHandler(t testing.TB, st *store.Store, trusted []*keys.PublicKey, cfg *web.Config) *web.Handler {
	t.Helper()
	h, err := web.New(st, trusted, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
