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
// page through the handler (no network), with httptest's request parsing
// and recorder, which copies the body: most of its time and allocations
// are httptest's. BenchmarkArticlePageHandler measures the handler alone.
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

// discardWriter is the least a ResponseWriter can do: like net/http's, it
// starts every response with a new header map, and it drops the body.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkArticlePageHandler measures the handler alone on a cached
// 20 KB article page: one request, made once per goroutine and served
// again and again from a client address that is rate-limited (with a
// limit it never reaches), into a writer that only counts. What it
// reports is the handler's own cost per request, without net/http's
// (parsing the request, writing the response) or httptest's.
func BenchmarkArticlePageHandler(b *testing.B) {
	f := newFixture(b, &web.Config{Refresh: 1 << 40, Rate: 1e12, Burst: 1 << 30})
	f.publish(item("long", "text/html", article20k(), "en", "A long article",
		bundle.File{Name: "img/photo.png", Type: "image/png", Data: pngBytes}))
	f.h.Invalidate(f.alpha.ID())
	path := "/p/" + f.alpha.ID() + "/a/long/"
	serve := func(r *http.Request) *discardWriter {
		w := &discardWriter{h: make(http.Header)}
		f.h.ServeHTTP(w, r)
		return w
	}
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "192.0.2.7:40000"
		return r
	}
	if w := serve(newReq()); w.code != 200 || w.n < 20<<10 {
		b.Fatalf("status %d, %d bytes", w.code, w.n)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := newReq()
		for pb.Next() {
			if w := serve(r); w.code != 200 {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}
