package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// article20k is an HTML article of about 20 KB.
func article20k() string {
	var b strings.Builder
	for i := 0; b.Len() < 20<<10; i++ {
		fmt.Fprintf(&b, "<h2>Section %d</h2>\n<p>Paragraph %d of a long article, with <a href=\"https://news.example/%d\">a link</a>, <em>emphasis</em> and enough words to look like the real thing that readers come for.</p>\n", i, i, i)
	}
	return b.String()
}

// BenchmarkArticlePage measures one request for a cached 20 KB article
// page through the handler (no network).
func BenchmarkArticlePage(b *testing.B) {
	f := newFixture(b, &web.Config{Refresh: 1 << 40})
	f.publish(item("long", "text/html", article20k(), "en", "A long article",
		bundle.File{Name: "img/photo.png", Type: "image/png", Data: pngBytes}))
	f.h.Invalidate(f.alpha.ID())
	path := "/p/" + f.alpha.ID() + "/a/long/"
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.Len() < 20<<10 {
		b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != 200 {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// BenchmarkArticlePageLoopback is BenchmarkArticlePage over loopback HTTP
// with keep-alive connections.
func BenchmarkArticlePageLoopback(b *testing.B) {
	f := newFixture(b, &web.Config{Refresh: 1 << 40})
	f.publish(item("long", "text/html", article20k(), "en", "A long article"))
	f.h.Invalidate(f.alpha.ID())
	url := f.srv.URL + "/p/" + f.alpha.ID() + "/a/long/"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64<<10)
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
}
