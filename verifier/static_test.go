//go:build linux

package verifier_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/verifier"
)

// exportTo exports the mirror's store to dir with mirror/static, as
// samizdat export-static does.
func exportTo(t *testing.T, m *mirror, dir string) { exportWith(t, m, dir, nil) }

// exportWith is exportTo with opts.
func exportWith(t *testing.T, m *mirror, dir string, opts *static.Options) {
	t.Helper()
	sink, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := static.Export(context.Background(), m.st, sink, opts); err != nil {
		t.Fatal(err)
	}
}

// TestPageReadsAStaticExport runs the page on a static export (written
// by mirror/static, served as plain files by net/http's file server under
// a path prefix, on loopback): the export's own verify.html, with no m
// (its default mirror is its own directory), verifies an article whose
// body is zstd-compressed and has an image, and the Persian one; lists
// the newest articles; an export whose bundles were changed gives
// "failed" with no article text; framed by another page, it refuses to
// run (a static host sends no frame-ancestors header); the page opened
// from disk reads the
// export named by m (from a host that allows any origin, as a static
// host serving file:// readers must).
func TestPageReadsAStaticExport(t *testing.T) {
	m := newMirror(t)
	root := t.TempDir()
	good, bad, split := filepath.Join(root, "good"), filepath.Join(root, "bad"), filepath.Join(root, "split")
	exportTo(t, m, good)
	exportTo(t, m, bad)
	// An export with no whole index proof: every article by its split
	// proof (FORMAT.md "Split proofs"), as past --index-proofs N.
	exportWith(t, m, split, &static.Options{IndexProofs: -1})
	if full, _ := filepath.Glob(filepath.Join(split, "p", "*", "index", "[0-9]*")); len(full) != 0 {
		t.Fatalf("the split-only export holds whole proofs: %v", full)
	}
	tampered := 0
	bundles, err := filepath.Glob(filepath.Join(bad, "b", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range bundles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-10] ^= 1
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		tampered++
	}
	if tampered == 0 {
		t.Fatal("the export holds no bundle to change")
	}
	mux := http.NewServeMux()
	mux.Handle("/mirror/news/", http.StripPrefix("/mirror/news/", http.FileServer(http.Dir(good))))
	mux.Handle("/mirror/bad/", http.StripPrefix("/mirror/bad/", http.FileServer(http.Dir(bad))))
	mux.Handle("/mirror/split/", http.StripPrefix("/mirror/split/", http.FileServer(http.Dir(split))))
	// A page on the export's origin that frames the export's verify.html,
	// as any page could: no header stops it on a static host.
	mux.HandleFunc("/framing.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><title>framing</title><iframe src="/mirror/news/verify.html` + html.EscapeString(r.URL.Query().Get("f")) + `"></iframe>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// The same export from a host that lets any origin read it.
	cors := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		mux.ServeHTTP(w, r)
	}))
	defer cors.Close()
	file := filepath.Join(t.TempDir(), "verify.html")
	if err := os.WriteFile(file, verifier.Page(), 0o644); err != nil {
		t.Fatal(err)
	}

	en, fa := browsertest.Articles[0], browsertest.Articles[2]
	enText, faText := "Delegations from both countries ended eight hours of talks", "هیئت‌های دو کشور"
	b, err := bundle.Open(m.get(t, "/b/"+digestOf(t, m, en.ID)), m.pub.Trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Entries[0].Compression != bundle.Zstd || len(b.Manifest.Entries) != 2 || b.Manifest.Entries[1].Type != "image/png" {
		t.Fatalf("the English article is not a zstd body and an image: %+v", b.Manifest.Entries)
	}
	key := m.pub.Root.Public().String()
	br := browsertest.StartBrowser(t)
	for _, tc := range []struct {
		name, url string
		want      string
		text      string // in the DOM when verified, absent when failed
		why       string // in the status when failed
		shot      string
	}{
		{"article", srv.URL + "/mirror/news/verify.html" + fragment(key, en.ID), "verified", enText, "", "verifier-static-verified-en-phone"},
		{"persian", srv.URL + "/mirror/news/verify.html" + fragment(key, fa.ID), "verified", faText, "", "verifier-static-verified-phone"},
		{"list", srv.URL + "/mirror/news/verify.html" + fragment(key, ""), "verified", fa.Title, "", "verifier-static-list-phone"},
		{"split proofs only", srv.URL + "/mirror/split/verify.html" + fragment(key, en.ID), "verified", enText, "", ""},
		{"changed bundles", srv.URL + "/mirror/bad/verify.html" + fragment(key, en.ID), "failed", enText, "signed hash", "verifier-static-failed-phone"},
		{"framed", srv.URL + "/framing.html?f=" + url.QueryEscape(fragment(key, en.ID)), "failed", enText, "inside a frame", ""},
		{"from disk", "file://" + file + fragment(key, en.ID, cors.URL+"/mirror/news/"), "verified", enText, "", ""},
		{"from disk, changed bundles", "file://" + file + fragment(key, en.ID, cors.URL+"/mirror/bad/"), "failed", enText, "signed hash", ""},
		{"from disk, a host that does not allow other origins", "file://" + file + fragment(key, en.ID, srv.URL+"/mirror/news/"), "failed", enText, "could not fetch", ""},
	} {
		p := br.Open(t, tc.url, browsertest.Phone)
		var state, dom, status string
		if tc.name == "framed" {
			state, dom, status = waitFramed(t, p)
		} else {
			state, dom, status = waitState(t, p)
		}
		if state != tc.want {
			t.Errorf("%s: data-samizdat=%q, want %q (%s)", tc.name, state, tc.want, status)
			continue
		}
		if tc.want == "verified" {
			if !strings.Contains(dom, tc.text) {
				t.Errorf("%s: %q is not in the page", tc.name, tc.text)
			}
			if tc.name == "article" || tc.name == "from disk" {
				if !strings.Contains(dom, `src="data:image/png;base64,`) || !strings.Contains(dom, "from "+srv.URL+"/mirror/news/") && !strings.Contains(dom, "from "+cors.URL+"/mirror/news/") {
					t.Errorf("%s: the verified image or the export's URL is not in the page: %s", tc.name, status)
				}
			}
		} else {
			if strings.Contains(dom, tc.text) {
				t.Errorf("%s: article text in the DOM of a failed page", tc.name)
			}
			if !strings.Contains(status, tc.why) {
				t.Errorf("%s: the page says %q, want it to name %q", tc.name, status, tc.why)
			}
		}
		if tc.shot != "" {
			browsertest.SaveScreenshot(t, tc.shot, p.Screenshot(t, tc.name == "article"))
		}
	}
}

// waitFramed is waitState for the page in the first iframe of p.
func waitFramed(t *testing.T, p *browsertest.Page) (state, dom, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var s struct{ State, DOM, Status string }
		if err := p.Eval(`(() => { const d = document.querySelector('iframe').contentDocument, st = d && d.getElementById('status');
return {State: st && st.textContent !== 'Starting…' ? d.documentElement.dataset.samizdat : 'working', DOM: d ? d.documentElement.outerHTML : '', Status: st ? st.textContent : ''}; })()`, &s); err != nil {
			t.Fatal(err)
		}
		if s.State != "working" {
			return s.State, s.DOM, s.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("the framed page is still working after 20 s: %s", s.Status)
		}
		time.Sleep(50 * time.Millisecond) // polling the browser, an external process
	}
}

// digestOf returns the digest of the newest bundle of article id, as the
// mirror's store lists it.
func digestOf(t *testing.T, m *mirror, id string) string {
	t.Helper()
	arts, err := m.st.Articles(m.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(arts, func(a catalog.Article) bool { return a.ID == id })
	if i < 0 {
		t.Fatalf("the store has no article %s", id)
	}
	return arts[i].Digest.String()
}

// TestPageTimeToVerified measures, in Chromium, page load to "verified"
// for one article (a zstd body and an image) on a dynamic mirror and on a
// static export of the same store, both on loopback: the median of
// several loads each (BENCHMARKS.md, "Verifier page on a static export").
// It checks only that every load verifies; the figures are logged.
func TestPageTimeToVerified(t *testing.T) {
	m := newMirror(t)
	dir := t.TempDir()
	exportTo(t, m, dir)
	srv := httptest.NewServer(http.StripPrefix("/export/", http.FileServer(http.Dir(dir))))
	defer srv.Close()
	frag := fragment(m.pub.Root.Public().String(), browsertest.Articles[0].ID)
	br := browsertest.StartBrowser(t)
	const loads = 9
	for _, tc := range []struct{ name, url string }{
		{"dynamic mirror", m.srv.URL + "/verify.html" + frag},
		{"static export", srv.URL + "/export/verify.html" + frag},
	} {
		var ds []time.Duration
		for range loads {
			start := time.Now()
			p := br.Open(t, tc.url, browsertest.Phone)
			if state, _, status := waitState(t, p); state != "verified" {
				t.Fatalf("%s: %s: %s", tc.name, state, status)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		t.Logf("%s: page load to verified, median of %d: %v (min %v, max %v)", tc.name, loads, ds[loads/2].Round(time.Millisecond), ds[0].Round(time.Millisecond), ds[loads-1].Round(time.Millisecond))
	}
}
