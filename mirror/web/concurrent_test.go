package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/samizdat-news/samizdat/mirror/web"
)

// TestConcurrent serves many requests from several goroutines while the
// publisher publishes new revisions, with small caches so that entries are
// evicted: run with -race.
func TestConcurrent(t *testing.T) {
	f := newFixture(t, &web.Config{CacheBytes: 4 << 10, PageCacheBytes: 8 << 10, Refresh: 1})
	a := f.alpha.ID()
	paths := []string{"/", "/status", "/metrics", "/p/" + a + "/", "/p/" + a + "/a/hostile/", "/p/" + a + "/a/plain/",
		"/p/" + a + "/a/farsi/", "/p/" + a + "/a/hostile/img/logo.svg", "/p/" + a + "/feed.atom", "/api/p/" + a + "/articles",
		"/p/" + a + "/checkpoint", "/api/publishers"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[(i+g)%len(paths)]
				rec := httptest.NewRecorder()
				method := http.MethodGet
				if i%5 == 0 {
					method = http.MethodHead
				}
				f.h.ServeHTTP(rec, httptest.NewRequest(method, p, nil))
				if rec.Code != 200 {
					t.Errorf("%s %s: %d", method, p, rec.Code)
					return
				}
				if method == http.MethodHead && rec.Body.Len() != 0 {
					t.Errorf("HEAD %s: body", p)
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		f.publish(item("plain", "text/plain", fmt.Sprintf("Revision text %d.", i), "de", "Plain"))
		f.h.Invalidate(a)
	}
	close(stop)
	wg.Wait()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/p/"+a+"/a/plain/", nil))
	if !strings.Contains(rec.Body.String(), "Revision text 4.") {
		t.Error("last revision not shown")
	}
}
