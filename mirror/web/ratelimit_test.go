package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/web"
)

func TestRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	trusted := []*keys.PublicKey{f.alpha.Root.Public()}
	h := web.New(f.st, trusted, &web.Config{Rate: 0.001, Burst: 3})
	get := func(remote string) int {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return w.Code
	}
	for i := range 3 {
		if code := get("203.0.113.5:4000"); code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i+1, code)
		}
	}
	if code := get("203.0.113.5:4001"); code != http.StatusTooManyRequests {
		t.Errorf("request past the burst: %d, want 429", code)
	}
	// Another address has its own bucket; loopback is never limited.
	if code := get("[2001:db8::1]:80"); code != http.StatusOK {
		t.Errorf("another client: %d", code)
	}
	for i := range 10 {
		if code := get("127.0.0.1:5000"); code != http.StatusOK {
			t.Fatalf("loopback request %d: %d", i+1, code)
		}
		if code := get("[::ffff:127.0.0.1]:5000"); code != http.StatusOK {
			t.Fatalf("v4-mapped loopback request %d: %d", i+1, code)
		}
	}
	// A negative rate turns the limit off.
	off := web.New(f.st, trusted, &web.Config{Rate: -1})
	for i := range 300 {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.RemoteAddr = "198.51.100.7:1"
		w := httptest.NewRecorder()
		off.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("unlimited request %d: %d", i+1, w.Code)
		}
	}
}
