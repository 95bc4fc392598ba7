package web_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/web"
)

func TestMirrorListRoute(t *testing.T) {
	f := newFixture(t, nil)
	path := "/p/" + f.alpha.ID() + "/mirrors"
	if r := f.get(path); r.StatusCode != http.StatusNotFound || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET %s without a list: %d %q", path, r.StatusCode, r.body)
	}
	f.clock.t = f.clock.t.Add(time.Minute)
	if _, err := f.pub.SetMirrors([]string{"https://a.example/", "h3://b.example:443"}); err != nil {
		t.Fatal(err)
	}
	signed, err := f.st.MirrorList(f.alpha.ID())
	if err != nil {
		t.Fatal(err)
	}
	r := f.get(path)
	if r.StatusCode != http.StatusOK || r.body != string(signed) {
		t.Fatalf("GET %s: %d\n%s", path, r.StatusCode, r.body)
	}
	if got := r.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.Header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("Cache-Control %q", got)
	}
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := f.get(path, "If-None-Match: "+etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.StatusCode)
	}
	m, err := catalog.OpenMirrorList([]byte(r.body), f.alpha.Trust)
	if err != nil || len(m.URLs) != 2 {
		t.Errorf("served list opens to %+v, %v", m, err)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{path + "?x=1", http.StatusBadRequest},
		{"/p/" + f.beta.ID() + "/mirrors", http.StatusNotFound},  // trusted, not held
		{"/p/" + f.gamma.ID() + "/mirrors", http.StatusNotFound}, // held, not trusted
		{"/p/nothex/mirrors", http.StatusNotFound},
	} {
		if r := f.get(tc.path); r.StatusCode != tc.code || strings.Count(strings.TrimSpace(r.body), "\n") != 0 {
			t.Errorf("GET %s: %d %q, want %d and one line", tc.path, r.StatusCode, r.body, tc.code)
		}
	}
}

func TestPeersRoute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		public string
		peers  []string
		want   []string
	}{
		{"none", "", nil, []string{}},
		{"own only", "https://me.example/", nil, []string{"https://me.example/"}},
		{"own and peers", "https://me.example/", []string{"https://p1.example", "h3://p2.example:443/x"},
			[]string{"https://me.example/", "https://p1.example", "h3://p2.example:443/x"}},
		{"bad and repeated dropped", "", []string{"https://p1.example", "javascript:alert(1)", "https://p1.example", "https://u@p.example/", "https://p2.example/?q", "", "https://p3.example"},
			[]string{"https://p1.example", "https://p3.example"}},
		{"bounded", "", manyPeers(web.MaxPeerURLs + 10), manyPeers(web.MaxPeerURLs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peers := tc.peers
			f := newFixture(t, &web.Config{PublicURL: tc.public, Peers: func() []string { return peers }})
			r := f.get("/api/peers")
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "public, max-age=60" {
				t.Fatalf("GET /api/peers: %d %v\n%s", r.StatusCode, r.Header, r.body)
			}
			dec := json.NewDecoder(strings.NewReader(r.body))
			dec.DisallowUnknownFields()
			var got struct {
				Peers []string `json:"peers"`
			}
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Peers, " ") != strings.Join(tc.want, " ") || got.Peers == nil {
				t.Errorf("peers %q, want %q", got.Peers, tc.want)
			}
			if r := f.get("/api/peers?x"); r.StatusCode != http.StatusBadRequest {
				t.Errorf("GET /api/peers?x: %d", r.StatusCode)
			}
		})
	}
}

func manyPeers(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "https://peer"+strconv.Itoa(i)+".example/")
	}
	return out
}
