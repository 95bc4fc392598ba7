package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/web"
)

func TestRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	trusted := []*keys.PublicKey{f.alpha.Root.Public()}
	h := newHandler(t, f.st, trusted, &web.Config{Rate: 0.001, Burst: 3})
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
	off := newHandler(t, f.st, trusted, &web.Config{Rate: -1})
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

// TestRateLimitIPv6Prefix: the addresses of one IPv6 /64 share a bucket;
// another /64 has its own.
func TestRateLimitIPv6Prefix(t *testing.T) {
	f := newFixture(t, nil)
	h := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public()}, &web.Config{Rate: 0.001, Burst: 3})
	get := func(remote string) int {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i, remote := range []string{"[2001:db8:1:2::1]:80", "[2001:db8:1:2::2]:80", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:443"} {
		if code := get(remote); code != http.StatusOK {
			t.Fatalf("request %d within the /64's burst: %d", i+1, code)
		}
	}
	for _, remote := range []string{"[2001:db8:1:2::1]:80", "[2001:db8:1:2:abcd::7]:80", "[::ffff:203.0.113.9]:80"} {
		want := http.StatusTooManyRequests
		if remote == "[::ffff:203.0.113.9]:80" {
			want = http.StatusOK
		}
		if code := get(remote); code != want {
			t.Errorf("%s: %d, want %d", remote, code, want)
		}
	}
	if code := get("[2001:db8:1:3::1]:80"); code != http.StatusOK {
		t.Errorf("another /64: %d", code)
	}
}

// TestRateLimitFlood: a flood of requests from new addresses, many more
// than the table holds, does not give a limited client a fresh burst.
func TestRateLimitFlood(t *testing.T) {
	f := newFixture(t, nil)
	h := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public()}, &web.Config{Rate: 0.001, Burst: 3, RateClients: 256})
	get := func(remote string) int {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	const limited = "[2001:db8:bad::1]:80"
	for range 4 {
		get(limited)
	}
	if code := get(limited); code != http.StatusTooManyRequests {
		t.Fatalf("limited client: %d", code)
	}
	for i := range 4000 {
		if code := get(fmt.Sprintf("198.%d.%d.%d:80", 18+i>>16, i>>8&255, i&255)); code != http.StatusOK {
			t.Fatalf("flood request %d: %d", i, code)
		}
	}
	if code := get(limited); code != http.StatusTooManyRequests {
		t.Errorf("the limited client got %d after a flood of new addresses: its bucket was forgotten", code)
	}
}

// TestRateLimitFloodLoopback is TestRateLimitFlood over real HTTP, from
// many loopback addresses (LimitLoopback), with a table of 16.
func TestRateLimitFloodLoopback(t *testing.T) {
	f := newFixture(t, nil)
	h := newHandler(t, f.st, []*keys.PublicKey{f.alpha.Root.Public()}, &web.Config{Rate: 0.001, Burst: 3, RateClients: 16, LimitLoopback: true})
	_, base := serve(t, h, &web.ServerConfig{})
	get := func(from string) int {
		tr := &http.Transport{DialContext: dialFrom(from).DialContext, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 4 * time.Second}).Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if code := get("127.0.0.2"); code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i+1, code)
		}
	}
	if code := get("127.0.0.2"); code != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: %d", code)
	}
	for i := range 100 {
		if code := get(fmt.Sprintf("127.0.1.%d", i+1)); code != http.StatusOK {
			t.Fatalf("flood request %d: %d", i, code)
		}
	}
	if code := get("127.0.0.2"); code != http.StatusTooManyRequests {
		t.Errorf("the limited client got %d after a flood of new addresses: its bucket was forgotten", code)
	}
}
