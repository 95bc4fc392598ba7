package reader_test

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/reader"
)

// TestDiscovery: a reader who knows one mirror learns the others, from
// the publisher's signed mirror list and from the peers that mirror names,
// and reaches them when the first goes away.
func TestDiscovery(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	var a, b, c *httptest.Server
	a = httptest.NewUnstartedServer(nil) // its handler needs its URL
	aURL := "http://" + a.Listener.Addr().String()
	b = httptest.NewServer(w.handler(st))
	c = httptest.NewServer(w.handler(st))
	defer b.Close()
	defer c.Close()
	if _, err := w.publisher(st, t2.Add(time.Minute)).SetMirrors([]string{b.URL}); err != nil {
		t.Fatal(err)
	}
	a.Config.Handler = w.webHandler(st, &web.Config{Now: func() time.Time { return now }, Refresh: -1,
		PublicURL: aURL, Peers: func() []string { return []string{c.URL} }})
	a.Start()
	state := t.TempDir()
	client := func(mirrors ...string) *reader.Client {
		cl, err := reader.New(&reader.Config{Root: w.root(), Mirrors: mirrors, StateDir: state, Now: func() time.Time { return now }, Stagger: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	r, err := client(a.URL).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, a.URL)
	known, err := client().Mirrors()
	if err != nil {
		t.Fatal(err)
	}
	// A first (it answered), then the signed list, then the hints.
	if !slices.Equal(known, []string{a.URL, b.URL, c.URL}) {
		t.Errorf("mirrors known after one fetch: %q, want %q", known, []string{a.URL, b.URL, c.URL})
	}
	a.Close()
	r, err = client().Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, b.URL)
	b.Close()
	r, err = client().Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, c.URL)
}
