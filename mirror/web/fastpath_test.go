package web

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// articlePathCases are request targets around the article route: the
// fast path (articlePath) must take only requests the mux routes to
// articlePattern, with the same path values, and all of them but those
// whose path has escapes of its own.
var articlePathCases = []string{
	"/p/0123456789abcdef0123456789abcdef/a/long/",
	"/p/x/a/y/",
	"/p/x/a/y",
	"/p/x/a/y/z",
	"/p/x/a/y/index.html",
	"/p/x/a//",
	"/p//a/y/",
	"/p/x/a/",
	"/p/x/b/y/",
	"/p/x/a/y//",
	"/q/x/a/y/",
	"/p/x%2Fz/a/y/",
	"/p/x/a/y%2F/",
	"/p/x/a%2Fy/",
	"/p/x/a/%79/",
	"/p/x%20z/a/y/",
	"/p/%41/a/%25/",
	"/p/x/a/y/?q=1",
	"/p/x/a/y/../y/",
	"/p/x/a/./",
	"/p/x/a/y/feed.atom",
	"/p/x/tile/a/y/",
	"/p/x/a/y/%2F",
	"/api/p/x/a/y/",
	"/",
}

// checkArticlePath fails if the fast path and the mux disagree on the
// request line method and target.
func checkArticlePath(t *testing.T, h *Handler, method, target string) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: mirror\r\n\r\n")))
	if err != nil {
		return
	}
	if !cleanPath(req.URL.Path) {
		return // refused before routing
	}
	pub, id, fast := articlePath(req)
	_, pattern := h.mux.Handler(req)
	// The fast path may leave a request to the mux (a path with escapes
	// of its own), never take one the mux routes elsewhere.
	plain := req.URL.RawPath == "" && (method == "GET" || method == "HEAD")
	if fast && pattern != articlePattern || plain && !fast && pattern == articlePattern {
		t.Fatalf("%s %q: fast path %v, mux pattern %q", method, target, fast, pattern)
	}
	if !fast {
		return
	}
	// The mux's path values, as its handler would see them.
	var gotPub, gotID string
	mux := http.NewServeMux()
	mux.HandleFunc(articlePattern, func(w http.ResponseWriter, r *http.Request) {
		gotPub, gotID = r.PathValue("pub"), r.PathValue("id")
	})
	mux.ServeHTTP(discard{}, req)
	if pub != gotPub || id != gotID {
		t.Fatalf("%s %q: fast path pub %q id %q, mux pub %q id %q", method, target, pub, id, gotPub, gotID)
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestArticlePathAgreesWithMux(t *testing.T) {
	h, err := New(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "HEAD", "POST", "OPTIONS"} {
		for _, target := range articlePathCases {
			checkArticlePath(t, h, m, target)
		}
	}
	// At least the plain case takes the fast path.
	r, _ := http.NewRequest("GET", "http://mirror/p/x/a/y/", nil)
	if _, _, ok := articlePath(r); !ok {
		t.Fatal("the fast path does not take /p/x/a/y/")
	}
}

func FuzzArticlePath(f *testing.F) {
	h, err := New(nil, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, target := range articlePathCases {
		f.Add("GET", target)
	}
	f.Add("HEAD", "/p/x/a/y/")
	f.Fuzz(func(t *testing.T, method, target string) {
		checkArticlePath(t, h, method, target)
	})
}
