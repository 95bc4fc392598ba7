package source_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/publish/source"
)

var (
	pngData  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{1}, 100)...)
	jpegData = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{2}, 100)...)
	gifData  = append([]byte("GIF89a"), bytes.Repeat([]byte{3}, 50)...)
	webpData = append([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), bytes.Repeat([]byte{4}, 50)...)
	avifData = append([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"), bytes.Repeat([]byte{5}, 50)...)
	svgData  = []byte("<?xml version=\"1.0\"?>\n<!-- a drawing -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"1\"/></svg>")
)

// imageServer is a loopback HTTP server of images, good and hostile.
func imageServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	serve := func(p string, typ string, data []byte) {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Write(data)
		})
	}
	serve("/img/a.png", "image/png", pngData)
	serve("/img/b.jpg", "image/jpeg", jpegData)
	serve("/img/c.gif", "image/gif", gifData)
	serve("/img/d.webp", "image/webp", webpData)
	serve("/img/e.avif", "image/avif", avifData)
	serve("/img/f.svg", "image/svg+xml", svgData)
	serve("/img/poster", "application/octet-stream", jpegData) // no extension: named by its type
	serve("/img/lies.png", "image/png", []byte("<!doctype html><p>not an image</p>"))
	serve("/img/script.png", "image/png", []byte("<script>alert(1)</script>"))
	for i := range 10 {
		serve(fmt.Sprintf("/many/%d.png", i), "image/png", pngData)
	}
	mux.HandleFunc("/img/huge.png", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the reader must stop by itself.
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngData)
		for range 1000 {
			if _, err := w.Write(bytes.Repeat([]byte{0}, 1<<10)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/img/huge-declared.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		w.Write(pngData)
	})
	mux.HandleFunc("/img/slow.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngData[:8])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes; the client gives up
	})
	mux.HandleFunc("/img/missing.png", http.NotFound)
	mux.HandleFunc("/redirect/ftp.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.org/a.png", http.StatusFound)
	})
	mux.HandleFunc("/redirect/loop.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect/loop.png?"+r.URL.RawQuery+"x", http.StatusFound)
	})
	mux.HandleFunc("/redirect/good.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/img/a.png", http.StatusMovedPermanently)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fetchOpts are options that fetch images with the test server's client.
func fetchOpts(srv *httptest.Server, l *source.FetchLimits) *source.Options {
	return &source.Options{Raw: true, FetchImages: true, HTTPClient: srv.Client(), FetchLimits: l}
}

// entries returns the images of a by name.
func entries(a *source.Article) map[string]bundle.File {
	m := map[string]bundle.File{}
	for _, f := range a.Files[1:] {
		m[f.Name] = f
	}
	return m
}

// TestFetchImages fetches every kind of reference of a page from a
// loopback server: each becomes an entry of its sniffed type, and the
// body names the entries instead of the server.
func TestFetchImages(t *testing.T) {
	srv := imageServer(t)
	page := `<html><head><title>Images</title></head><body>
<p><img src="/img/a.png" alt="absolute path"> <img src="../img/a.png" alt="same image again, relative"></p>
<img srcset="` + srv.URL + `/img/b.jpg 1x, /img/c.gif 2x" sizes="10px">
<picture><source srcset="/img/d.webp" type="image/webp"><source srcset="/img/e.avif 1x, /img/missing.png 2x"><img src="/img/f.svg" srcset="/img/c.gif 2x"></picture>
<video poster="/img/poster"></video>
<img src="data:image/png;base64,iVBORw0KGgo=">
<a href="/img/c.gif">a link, not an image</a>
</body></html>`
	a, err := source.FromHTML([]byte(page), "text/html; charset=utf-8", srv.URL+"/news/story", fetchOpts(srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"remote/01-a.png":      "image/png",
		"remote/02-b.jpg":      "image/jpeg",
		"remote/03-d.webp":     "image/webp",
		"remote/04-e.avif":     "image/avif",
		"remote/05-f.svg":      "image/svg+xml",
		"remote/06-poster.jpg": "image/jpeg",
	}
	got := entries(a)
	for name, typ := range want {
		if got[name].Type != typ {
			t.Errorf("entry %s: type %q, want %q", name, got[name].Type, typ)
		}
		if err := bundle.CheckName(name); err != nil {
			t.Error(err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", keys(got), want)
	}
	if !bytes.Equal(got["remote/01-a.png"].Data, pngData) {
		t.Error("a.png differs")
	}
	// The missing AVIF variant is warned about, and its <source> dropped
	// so that the browser takes the fetched <img>.
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "/img/missing.png") || !strings.Contains(a.Warnings[0], "404") {
		t.Errorf("warnings %q", a.Warnings)
	}
	body := string(a.Files[0].Data)
	for _, s := range []string{
		`<img src="remote/01-a.png" alt="absolute path">`,
		`<img src="remote/01-a.png" alt="same image again, relative">`,
		`<img src="remote/02-b.jpg">`,
		`<source srcset="remote/03-d.webp" type="image/webp">`,
		`<img src="remote/05-f.svg">`,
		`<video poster="remote/06-poster.jpg">`,
		`<img src="data:image/png;base64,iVBORw0KGgo=">`,
		`<a href="/img/c.gif">`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("the body lacks %s:\n%s", s, body)
		}
	}
	if strings.Contains(body, "e.avif") || strings.Contains(body, srv.URL) || strings.Contains(body, "srcset=\"/img") {
		t.Errorf("the body still references the origin:\n%s", body)
	}
	// What FromHTML returns builds into a bundle.
	checkBuilds(t, a)
}

// TestFetchImagesHostile serves answers that must each be refused with a
// warning, and nothing else: a wrong type, too large (declared or not),
// too slow, a redirect to another scheme, a redirect loop, an error.
func TestFetchImagesHostile(t *testing.T) {
	srv := imageServer(t)
	limits := &source.FetchLimits{ImageSize: 10 << 10, ImageTime: 300 * time.Millisecond}
	for _, tt := range []struct{ path, warning string }{
		{"/img/lies.png", "not an image a bundle can hold (it looks like text/html)"},
		{"/img/script.png", "not an image a bundle can hold"},
		{"/img/huge.png", "more than the limit of 10240 bytes"},
		{"/img/huge-declared.png", "100000000 bytes, more than the limit of 10240"},
		{"/img/slow.png", "timed out"},
		{"/redirect/ftp.png", "redirected to a ftp: URL"},
		{"/redirect/loop.png", "more than 5 redirects"},
		{"/img/missing.png", "answer 404 Not Found"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			page := `<meta charset="utf-8"><p><img src="` + tt.path + `"></p>`
			start := time.Now()
			a, err := source.FromHTML([]byte(page), "", srv.URL+"/", fetchOpts(srv, limits))
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Files) != 1 {
				t.Errorf("%d entries, want the body alone", len(a.Files))
			}
			if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], tt.warning) {
				t.Errorf("warnings %q, want one saying %q", a.Warnings, tt.warning)
			}
			if string(a.Files[0].Data) != page {
				t.Errorf("the body changed: %s", a.Files[0].Data)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	// A redirect to another host (127.0.0.2, a second loopback server)
	// is followed, and what it answers is judged as any answer is.
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/good.gif" {
			w.Write(gifData)
			return
		}
		w.Write([]byte("<html>a login page</html>"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	other.Listener = ln
	other.Start()
	defer other.Close()
	page := `<meta charset="utf-8"><img src="/to?u=` + url.QueryEscape(other.URL+"/good.gif") + `"><img src="/to?u=` + url.QueryEscape(other.URL+"/login") + `">`
	mux := http.NewServeMux()
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	redirector := httptest.NewServer(mux)
	defer redirector.Close()
	a, err := source.FromHTML([]byte(page), "", redirector.URL+"/", fetchOpts(redirector, limits))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != 2 || !bytes.Equal(a.Files[1].Data, gifData) || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "looks like text/html") {
		t.Errorf("redirects elsewhere: %d files, warnings %q", len(a.Files), a.Warnings)
	}

	// A redirect to an image is followed.
	a, err = source.FromHTML([]byte(`<img src="/redirect/good.png">`), "", srv.URL+"/", fetchOpts(srv, limits))
	if err != nil || len(a.Files) != 2 || !bytes.Equal(a.Files[1].Data, pngData) || len(a.Warnings) != 0 {
		t.Errorf("redirect to an image: %v, %d files, warnings %q", err, len(a.Files), a.Warnings)
	}
}

// TestFetchImagesLimits checks the count, total size and total time
// limits.
func TestFetchImagesLimits(t *testing.T) {
	srv := imageServer(t)
	var page strings.Builder
	for i := range 10 {
		fmt.Fprintf(&page, `<img src="/many/%d.png">`, i)
	}
	// Count.
	a, err := source.FromHTML([]byte(page.String()), "", srv.URL+"/", fetchOpts(srv, &source.FetchLimits{Images: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != 5 || len(a.Warnings) != 1 || a.Warnings[0] != "6 remote images not fetched: at most 4 are" {
		t.Errorf("count: %d files, warnings %q", len(a.Files), a.Warnings)
	}
	if n := strings.Count(string(a.Files[0].Data), srv.URL); n != 0 {
		t.Errorf("count: %d references to the server", n)
	}
	if n := strings.Count(string(a.Files[0].Data), `src="/many/`); n != 6 {
		t.Errorf("count: %d references left as they were, want 6", n)
	}
	// Total size: three images fit.
	total := int64(3*len(pngData) + 10)
	a, err = source.FromHTML([]byte(page.String()), "", srv.URL+"/", fetchOpts(srv, &source.FetchLimits{Total: total}))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != 4 || len(a.Warnings) != 7 || !strings.Contains(a.Warnings[0], "more than the limit of 10") {
		t.Errorf("total: %d files, warnings %q", len(a.Files), a.Warnings)
	}
	// Total time: the slow image spends it.
	slow := `<img src="/img/slow.png"><img src="/img/a.png"><img src="/img/b.jpg">`
	start := time.Now()
	a, err = source.FromHTML([]byte(slow), "", srv.URL+"/", fetchOpts(srv, &source.FetchLimits{Time: 300 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != 1 || len(a.Warnings) != 2 || !strings.Contains(a.Warnings[1], "2 remote images not fetched: the time limit of 300ms is spent") {
		t.Errorf("time: %d files, warnings %q", len(a.Files), a.Warnings)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("time: took %v", d)
	}
	// The bundle's entry limit counts too.
	a, err = source.FromHTML([]byte(page.String()), "", srv.URL+"/", &source.Options{Raw: true, FetchImages: true, HTTPClient: srv.Client(), Limits: &bundle.Limits{Entries: 3}})
	if err != nil || len(a.Files) != 3 {
		t.Errorf("entries: %v, %d files", err, len(a.Files))
	}
}

// TestFetchImagesDefaultClientRefusesPrivate checks that the default
// client will not fetch from a private address (here loopback): a page
// must not make the publisher sign its own network's images.
func TestFetchImagesDefaultClientRefusesPrivate(t *testing.T) {
	srv := imageServer(t)
	a, err := source.FromHTML([]byte(`<img src="/img/a.png">`), "", srv.URL+"/", &source.Options{Raw: true, FetchImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != 1 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "127.0.0.1 is not a public address") {
		t.Errorf("%d files, warnings %q", len(a.Files), a.Warnings)
	}
}

// TestFetchImagesLoad fetches the remote images of an extracted article
// file, those by absolute path from its canonical URL's site, while its
// local images stay as they are.
func TestFetchImagesLoad(t *testing.T) {
	srv := imageServer(t)
	para := strings.Repeat("Words of the article, enough of them to be an article. ", 10)
	page := `<html lang="en"><head><title>Story</title><meta property="og:image" content="` + srv.URL + `/img/c.gif"><link rel="canonical" href="` + srv.URL + `/news/story"></head><body>
<nav><a href="/">Home</a><img src="` + srv.URL + `/img/d.webp"></nav>
<article><p>` + para + `</p><figure><img src="local.png" alt="local"></figure><p>` + para + `</p>
<figure><img src="` + srv.URL + `/img/b.jpg" alt="remote"></figure><p>` + para + `</p><p><img src="/img/e.avif" alt="by absolute path"></p></article>
</body></html>`
	dir := writeFiles(t, map[string]string{"story.html": page, "local.png": string(pngData)})
	opts := fetchOpts(srv, nil)
	opts.Raw = false
	a, err := source.Load(filepath.Join(dir, "story.html"), opts)
	if err != nil {
		t.Fatal(err)
	}
	got := entries(a)
	// The lead image (og:image) comes first, as a figure; the image in
	// the navigation is not part of the article.
	if len(got) != 4 || got["local.png"].Type != "image/png" || got["remote/01-c.gif"].Type != "image/gif" || got["remote/02-b.jpg"].Type != "image/jpeg" || got["remote/03-e.avif"].Type != "image/avif" {
		t.Errorf("entries %v", keys(got))
	}
	body := string(a.Files[0].Data)
	for _, s := range []string{`<article><figure><img src="remote/01-c.gif" alt=""/></figure>`, `<img src="local.png" alt="local"/>`, `<img src="remote/02-b.jpg" alt="remote"/>`, `<img src="remote/03-e.avif" alt="by absolute path"/>`} {
		if !strings.Contains(body, s) {
			t.Errorf("the body lacks %s:\n%s", s, body)
		}
	}
	if strings.Contains(body, `src="`+srv.URL) || strings.Contains(body, "<nav") {
		t.Errorf("the body:\n%s", body)
	}
	checkBuilds(t, a)
	if len(a.Warnings) != 0 {
		t.Errorf("warnings %q", a.Warnings)
	}
	if _, err := os.Stat(filepath.Join(dir, "remote")); err == nil {
		t.Error("fetching wrote into the article's folder")
	}
}

func keys(m map[string]bundle.File) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkBuilds checks that an article builds into a bundle.
func checkBuilds(t *testing.T, a *source.Article) {
	t.Helper()
	m := a.Meta
	m.ID, m.Revision, m.Updated = "article", 1, time.Now()
	if m.Created.IsZero() {
		m.Created = m.Updated
	}
	pub := testkeys.New(t, "pub")
	if _, err := bundle.Build(m, a.Files, pub.Root.Public(), pub.Signer, nil); err != nil {
		t.Errorf("Build: %v", err)
	}
}
