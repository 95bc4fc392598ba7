package reader_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/reader"
)

func TestParseMirrorURL(t *testing.T) {
	const pub = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in                   string
		base, publisher, art string
		err                  string
	}{
		{in: "http://127.0.0.1:8080", base: "http://127.0.0.1:8080"},
		{in: "https://mirror.example/", base: "https://mirror.example"},
		{in: "h3://mirror.example:4433/news/", base: "h3://mirror.example:4433/news"},
		{in: "http://127.0.0.1:8080/p/" + pub + "/", base: "http://127.0.0.1:8080", publisher: pub},
		{in: "http://127.0.0.1:8080/p/" + pub, base: "http://127.0.0.1:8080", publisher: pub},
		{in: "http://127.0.0.1:8080/p/" + pub + "/a/geneva-talks/", base: "http://127.0.0.1:8080", publisher: pub, art: "geneva-talks"},
		{in: "http://127.0.0.1:8080/p/" + pub + "/a/geneva-talks/photo.png", base: "http://127.0.0.1:8080", publisher: pub, art: "geneva-talks"},
		{in: "https://mirror.example/news/p/" + pub + "/feed.atom", base: "https://mirror.example/news", publisher: pub},
		{in: "https://mirror.example/api/p/" + pub + "/articles", base: "https://mirror.example", publisher: pub},
		{in: "https://mirror.example/p/not-an-id/", base: "https://mirror.example/p/not-an-id"},
		{in: "127.0.0.1:8080", err: `mirror URL "127.0.0.1:8080" has no scheme: give http://127.0.0.1:8080`},
		{in: "localhost:8080/p/" + pub, err: "has no scheme: give http://localhost:8080/p/" + pub},
		{in: "[::1]:8080", err: "give http://[::1]:8080"},
		{in: "mirror.example", err: `mirror URL "mirror.example" has no scheme: give https://mirror.example, or http://mirror.example if the mirror has no TLS`},
		{in: "ftp://mirror.example", err: "scheme must be http, https or h3"},
		{in: "http://user@mirror.example", err: "want SCHEME://HOST[:PORT][/PATH] only"},
		{in: "http://mirror.example/?lang=fa", base: "http://mirror.example"},
		{in: "http://mirror.example/?", base: "http://mirror.example"},
		{in: "https://mirror.example/p/" + pub + "/?page=2#top", base: "https://mirror.example", publisher: pub},
		{in: "https://mirror.example/p/" + pub + "/a/geneva-talks/#section-2", base: "https://mirror.example", publisher: pub, art: "geneva-talks"},
	} {
		u, err := reader.ParseMirrorURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || u.Base != tc.base || u.Publisher != tc.publisher || u.Article != tc.art {
			t.Errorf("%q: %+v, %v; want %q %q %q", tc.in, u, err, tc.base, tc.publisher, tc.art)
		}
	}
}

// TestPastedPageURL: the URL of an article page, as a browser shows it,
// reaches the mirror; a page of another publisher is refused at once.
func TestPastedPageURL(t *testing.T) {
	w := newWorld(t)
	url := serve(t, w.honestMirror().h)
	r, err := w.client("", url+"/p/"+w.pub.ID()+"/a/d/").Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Mirror != url {
		t.Errorf("answered by %q, want %q", r.Mirror, url)
	}
	other := newWorld(t)
	_, err = reader.New(&reader.Config{Root: w.root(), Mirrors: []string{url + "/p/" + other.pub.ID() + "/"}})
	if err == nil || !strings.Contains(err.Error(), "is a page of publisher "+other.pub.ID()) {
		t.Errorf("another publisher's page: %v", err)
	}
}

// TestMirrorWithoutPublisher: mirrors that answer 404 for the publisher's
// key statement are said not to carry it, once, in one line.
func TestMirrorWithoutPublisher(t *testing.T) {
	w, other := newWorld(t), newWorld(t)
	// Both mirrors carry another publisher only.
	a := serve(t, other.handler(other.store(step0)))
	b := serve(t, other.handler(other.store(step0)))
	_, err := w.client("", a, b).Fetch(ctx, "a")
	want := "reader: no mirror gave a verified copy: none of the 2 mirrors tried carries this publisher (" + w.pub.ID() + "): "
	if !errors.Is(err, reader.ErrNotCarried) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) ||
		strings.Contains(strings.NewReplacer(a, "", b, "", w.pub.ID(), "").Replace(err.Error()), "404") { // a port or the ID may hold 404
		t.Errorf("got %q, want %q and both mirrors", err, want)
	}
	_, err = w.client("", a).List(ctx)
	if want := "reader: no mirror gave a verified copy: " + a + " does not carry this publisher (" + w.pub.ID() + ")"; err == nil || err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	// Beside another failure, the mirrors without it share a line.
	hole := serve(t, altered(w.honestMirror().h))
	_, err = w.client("", a, hole, b).Fetch(ctx, "a")
	if err == nil || strings.Count(err.Error(), "does not carry this publisher") != 1 || !strings.Contains(err.Error(), "\n  "+hole+": ") {
		t.Errorf("got %q", err)
	}
}

// TestBundleForList: a list's articles get their verified bundles from
// the mirror that answered, kept for the next time.
func TestBundleForList(t *testing.T) {
	w := newWorld(t)
	url := serve(t, w.honestMirror().h)
	dir := t.TempDir()
	c := w.client(dir, url)
	res, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Articles() {
		if c.Saved(a) != nil {
			t.Fatalf("%s saved before", a.ID)
		}
		b, err := c.Bundle(ctx, res, a)
		if err != nil || b.Manifest.ID != a.ID || b.Manifest.Title != "Article "+a.ID {
			t.Fatalf("%s: %v", a.ID, err)
		}
		if c.Saved(a) == nil {
			t.Errorf("%s not kept", a.ID)
		}
	}
	// An altered bundle is refused.
	res, err = w.client("", serve(t, altered(w.honestMirror().h))).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client("", url).Bundle(ctx, res, res.Articles()[0]); err == nil {
		t.Error("altered bundle accepted")
	}
}

// FuzzParseMirrorURL: any input is refused or gives a base that parses
// again to itself, naming no publisher, with no query, fragment or user.
func FuzzParseMirrorURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080", "127.0.0.1:8080", "h3://m.example/x/p/0123456789abcdef0123456789abcdef/a/b/c",
		"https://m.example/api/p/0123456789abcdef0123456789abcdef/articles", "http://[::1]:1/p/", "http://%zz", "://", "http:///p/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := reader.ParseMirrorURL(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: error of several lines: %q", s, err)
			}
			return
		}
		again, err := reader.ParseMirrorURL(u.Base)
		if err != nil || again.Base != u.Base || again.Publisher != "" {
			t.Fatalf("%q: base %q parses again to %+v, %v", s, u.Base, again, err)
		}
		if strings.ContainsAny(u.Base, "?#@") && !strings.Contains(s, "@") {
			t.Fatalf("%q: base %q", s, u.Base)
		}
	})
}
