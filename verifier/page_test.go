//go:build linux

package verifier_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/verifier"
)

// mirror is a real mirror (a store and web.Handler) on loopback holding
// a test publisher's articles: the browsertest articles in English,
// Russian and Persian, with an image.
type mirror struct {
	evil  *httptest.Server // named by the hostile article; must never be asked
	hits  chan string
	pub   *testkeys.Publisher
	st    *store.Store
	h     http.Handler
	srv   *httptest.Server
	oldCP []byte // a checkpoint signed before the last article was published
}

// withVerifier serves the verifier page at /verify.html and allows any
// origin to read the reader routes, as mirrors do: for the test's
// hostile proxies.
func withVerifier(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.URL.Path == "/verify.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(verifier.Page())
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newMirror(t *testing.T) *mirror {
	t.Helper()
	m := &mirror{pub: testkeys.New(t, "news"), hits: make(chan string, 100)}
	m.evil = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case m.hits <- r.URL.Path:
		default:
		}
	}))
	t.Cleanup(m.evil.Close)
	var err error
	if m.st, err = store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.st.Close() })
	p, err := publish.New(m.st, m.pub.Root.Public(), m.pub.Statement, m.pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(m.st, []*keys.PublicKey{m.pub.Root.Public()}, &web.Config{Rate: -1, Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	m.h = h
	m.srv = httptest.NewServer(h)
	t.Cleanup(m.srv.Close)
	var items []publish.Item
	for _, a := range browsertest.Articles {
		items = append(items, publish.Item{
			Meta:  bundle.Metadata{ID: a.ID, Title: a.Title, Language: a.Lang, Authors: a.Authors, CanonicalURL: "https://news.example/" + a.ID},
			Files: []bundle.File{{Type: "text/html", Data: []byte(a.Body)}, {Name: "img/photo.png", Type: "image/png", Data: browsertest.PhotoPNG(t)}},
		})
	}
	if _, err := p.Publish(items[:2]); err != nil {
		t.Fatal(err)
	}
	m.oldCP = m.get(t, "/p/"+m.pub.ID()+"/checkpoint")
	items = append(items, publish.Item{
		Meta:  bundle.Metadata{ID: "withdrawn", Title: "Soon gone", Language: "en"},
		Files: []bundle.File{{Type: "text/plain", Data: []byte("Words the publisher took back.")}},
	}, publish.Item{
		Meta: bundle.Metadata{ID: "hostile", Title: "Hostile <b>title</b>", Language: "en"},
		Files: []bundle.File{{Type: "text/html", Data: []byte(browsertest.HostileBody(m.evil.URL, false))},
			{Name: "img/evil.svg", Type: "image/svg+xml", Data: []byte(browsertest.HostileSVGScript)}},
	})
	if _, err := p.Publish(items[2:]); err != nil {
		t.Fatal(err)
	}
	if err := p.Retract("withdrawn"); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mirror) get(t *testing.T, path string) []byte {
	t.Helper()
	r, err := http.Get(m.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, r.StatusCode, err)
	}
	return b
}

// proxy serves the mirror's answers, changed by change (which may
// rewrite the body or, returning a code, refuse the request).
func proxy(t *testing.T, m *mirror, change func(path string, body []byte) ([]byte, int)) string {
	t.Helper()
	srv := httptest.NewServer(withVerifier(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(m.srv.URL + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code := resp.StatusCode
		if code == 200 {
			var c int
			if b, c = change(r.URL.Path, b); c != 0 {
				code = c
			}
		}
		w.WriteHeader(code)
		w.Write(b)
	})))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// waitState waits for the page's data-samizdat to leave "working" and
// returns it, with the page's whole DOM (the article's iframe srcdoc
// included) and its status line.
func waitState(t *testing.T, p *browsertest.Page) (state, dom, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var s struct{ State, DOM, Status string }
		if err := p.Eval(`({State: document.documentElement.dataset.samizdat, DOM: document.documentElement.outerHTML + [...document.querySelectorAll('iframe')].map((f) => f.srcdoc).join(''), Status: document.getElementById('status').textContent + ' | ' + document.getElementById('failures').textContent})`, &s); err != nil {
			t.Fatal(err)
		}
		if s.State != "working" {
			return s.State, s.DOM, s.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page is still working after 20 s: %s", s.Status)
		}
		time.Sleep(50 * time.Millisecond) // polling the browser, an external process
	}
}

func fragment(key string, id string, mirrors ...string) string {
	f := "#k=" + url.QueryEscape(key)
	for _, m := range mirrors {
		f += "&m=" + url.QueryEscape(m)
	}
	return f + "&a=" + id
}

// TestPageReadsAMirror runs the page, from disk (file://) and from the
// mirror (/verify.html), against real mirrors on loopback: an honest one
// gives "verified" and the article (its zstd body decompressed from the
// bundle, not read from the mirror's entry route); a tampering mirror, a rollback, a
// different article than asked for and a withheld bundle give "failed"
// with no article text in the DOM; a tampering mirror beside an honest
// one gives "verified"; the Persian article is laid out right to left;
// a conflicting key for a pinned publisher is refused.
func TestPageReadsAMirror(t *testing.T) {
	m := newMirror(t)
	b := browsertest.StartBrowser(t)
	file := filepath.Join(t.TempDir(), "verify.html")
	if err := os.WriteFile(file, verifier.Page(), 0o644); err != nil {
		t.Fatal(err)
	}
	pubID := m.pub.ID()
	en, fa := browsertest.Articles[0], browsertest.Articles[2]
	enText := "Delegations from both countries ended eight hours of talks"
	faText := "هیئت‌های دو کشور"
	key := m.pub.Root.Public().String()
	honest := m.srv.URL + "/"

	tampering := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/b/") {
			b = bytes.Clone(b)
			b[len(b)-10] ^= 1
		}
		return b, 0
	})
	tamperedEntry := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/p/"+pubID+"/a/") {
			return bytes.Replace(b, []byte("eight hours"), []byte("nine hours!"), 1), 0
		}
		return b, 0
	})
	withheld := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/b/") {
			return []byte("not here\n"), 404
		}
		return b, 0
	})
	otherArticle := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/p/"+pubID+"/index/") && strings.HasSuffix(path, "/"+en.ID) {
			return m.get(t, strings.TrimSuffix(path, en.ID)+fa.ID), 0
		}
		return b, 0
	})
	// A proof whose leaf (u16 length at byte 10, then the leaf) names
	// another bundle: its digest, the leaf's last 32 bytes, changed.
	badLeaf := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/p/"+pubID+"/index/") && len(b) > 12 && b[1] == 1 {
			b = bytes.Clone(b)
			n := int(b[10])<<8 | int(b[11])
			b[11+n] ^= 1
		}
		return b, 0
	})
	badTile := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/p/"+pubID+"/tile/entries/") {
			b = bytes.Clone(b)
			b[len(b)-1] ^= 1
		}
		return b, 0
	})
	// A bundle the log does not name, though signed by the publisher's key
	// with the article's id and revision, served with its own entry.
	forgedBody := "<p>Forged words the log never recorded.</p>"
	forged, err := bundle.Build(bundle.Metadata{ID: en.ID, Revision: 1, Title: en.Title, Language: "en", Created: time.Now(), Updated: time.Now()},
		[]bundle.File{{Type: "text/html", Data: []byte(forgedBody)}}, m.pub.Root.Public(), m.pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	substitute := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		switch {
		case strings.HasPrefix(path, "/b/"):
			return forged, 0
		case path == "/p/"+pubID+"/a/"+en.ID+"/index.html":
			return []byte(forgedBody), 0
		}
		return b, 0
	})
	// Checkpoints of the log's size and root, signed later by the
	// publisher's key: without the index line, and with a false index.
	cur, err := catalog.ParseUnverified(m.get(t, "/p/"+pubID+"/checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	resign := func(index tlog.Hash, ahead time.Duration) string {
		c := *cur
		c.Time, c.Index = time.Now().Add(ahead).Truncate(time.Second), index
		signed, err := c.Sign(m.pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return proxy(t, m, func(path string, b []byte) ([]byte, int) {
			if path == "/p/"+pubID+"/checkpoint" {
				return signed, 0
			}
			return b, 0
		})
	}
	noIndex, falseIndex, future := resign(tlog.Hash{}, time.Minute), resign(tlog.Hash{1}, time.Minute), resign(cur.Index, time.Hour)
	rollback := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if path == "/p/"+pubID+"/checkpoint" {
			return m.oldCP, 0
		}
		return b, 0
	})

	for _, from := range []struct{ name, base string }{{"file", "file://" + file}, {"mirror", m.srv.URL + "/verify.html"}} {
		t.Run(from.name, func(t *testing.T) {
			open := func(frag string) *browsertest.Page { return b.Open(t, from.base+frag, browsertest.Phone) }
			for _, tc := range []struct {
				name, id string
				mirrors  []string
				want     string
				text     string // in the DOM when verified, absent when failed
				why      string // in the status when failed
			}{
				{"honest", en.ID, []string{honest}, "verified", enText, ""},
				{"persian", fa.ID, []string{honest}, "verified", faText, ""},
				{"tampered bundle", en.ID, []string{tampering}, "failed", enText, "signed hash"},
				{"a mirror that changes its entry route, which the page does not read", en.ID, []string{tamperedEntry}, "verified", enText, ""},
				{"withheld bundle", en.ID, []string{withheld}, "failed", enText, "HTTP 404"},
				{"another article's proof", en.ID, []string{otherArticle}, "failed", faText, "does not match the root"},
				{"a proof whose leaf names another bundle", en.ID, []string{badLeaf}, "failed", enText, "does not match the root"},
				{"rollback", en.ID, []string{rollback}, "failed", enText, "rollback"},
				{"a signed bundle the log does not name", en.ID, []string{substitute}, "failed", "Forged words", "not the one the log names"},
				{"tampering then honest", en.ID, []string{tampering, honest}, "verified", enText, ""},
				{"withdrawn", "withdrawn", []string{honest}, "failed", "Words the publisher took back", "withdrawn by the publisher"},
				{"list", "", []string{honest}, "verified", fa.Title, ""},
				{"list from a checkpoint that drops the index", "", []string{noIndex}, "failed", fa.Title, "no article index, though"},
				{"a checkpoint with a false index", en.ID, []string{falseIndex}, "failed", enText, "different article indexes"},
				{"a checkpoint dated an hour ahead", en.ID, []string{future}, "failed", enText, "in the future"},
				{"list from a mirror that changes a tile", "", []string{badTile}, "failed", fa.Title, "tiles do not lead to the root"},
				{"never published", "never-published", []string{honest}, "failed", enText, "has no article"},
			} {
				p := open(fragment(key, tc.id, tc.mirrors...))
				state, dom, status := waitState(t, p)
				if state != tc.want {
					t.Errorf("%s: data-samizdat=%q, want %q (%s)", tc.name, state, tc.want, status)
				}
				if tc.want == "verified" {
					if !strings.Contains(dom, tc.text) {
						t.Errorf("%s: the article's text is not in the page", tc.name)
					}
					if tc.name == "list" {
						for _, want := range []string{en.Title, "Hostile &lt;b&gt;title&lt;/b&gt;", "withdrawn 20", `lang="fa" dir="rtl"`, "#k=" + url.QueryEscape(key)[:10]} {
							if !strings.Contains(dom, want) {
								t.Errorf("list: the page lacks %q", want)
							}
						}
						browsertest.SaveScreenshot(t, "verifier-"+from.name+"-list-phone", p.Screenshot(t, false))
					}
					if tc.name == "honest" {
						browsertest.SaveScreenshot(t, "verifier-"+from.name+"-verified-en-phone", p.Screenshot(t, true))
					}
					if tc.name == "persian" {
						if !strings.Contains(dom, `dir="rtl"`) || !strings.Contains(dom, `lang="fa" dir="rtl"`) {
							t.Errorf("persian: not laid out right to left")
						}
						browsertest.SaveScreenshot(t, "verifier-"+from.name+"-verified-phone", p.Screenshot(t, false))
					}
					continue
				}
				if strings.Contains(dom, tc.text) {
					t.Errorf("%s: article text in the DOM of a failed page", tc.name)
				}
				if !strings.Contains(status, tc.why) {
					t.Errorf("%s: the page says %q, want it to name %q", tc.name, status, tc.why)
				}
				if tc.name == "tampered bundle" {
					browsertest.SaveScreenshot(t, "verifier-"+from.name+"-failed-phone", p.Screenshot(t, false))
				}
			}
			// Hostile content: verified, shown without anything active.
			p := open(fragment(key, "hostile", honest))
			state, dom, status := waitState(t, p)
			if state != "verified" || !strings.Contains(dom, "Hostile article, kept readable.") {
				t.Errorf("hostile: %s: %s", state, status)
			}
			var srcdoc string
			if err := p.Eval(`(() => { const f = document.querySelector('iframe'); return f.getAttribute('sandbox') === '' ? f.srcdoc : 'not sandboxed'; })()`, &srcdoc); err != nil {
				t.Fatal(err)
			}
			low := strings.ToLower(srcdoc)
			for _, bad := range []string{"<script", "onerror", "onload", "onfocus", "javascript:", "<iframe", "<svg", "<style>body{background", "http-equiv=\"refresh", "<base", "<form", "<input", "<object", "<embed", "<link", "style=", strings.ToLower(m.evil.URL)} {
				if strings.Contains(low, bad) {
					t.Errorf("hostile: the article's iframe holds %q", bad)
				}
			}
			if !strings.Contains(srcdoc, `src="data:image/svg+xml;base64,`) || !strings.Contains(dom, "Hostile &lt;b&gt;title&lt;/b&gt;") {
				t.Error("hostile: the verified SVG entry is not shown as an image, or the title not as text")
			}
			browsertest.AssertNoScriptRan(t, "hostile", dom, "")
			select {
			case path := <-m.hits:
				t.Errorf("hostile: the page asked the evil server for %s", path)
			default:
			}

			// A different key under the pinned publisher's name.
			seed := sha256.Sum256([]byte("an impostor"))
			impostor, err := keys.NewPrivateKey("news", keys.RoleRoot, seed[:])
			if err != nil {
				t.Fatal(err)
			}
			p = open(fragment(impostor.Public().String(), en.ID, honest))
			if state, _, status := waitState(t, p); state != "failed" || !strings.Contains(status, "pinned a different key") {
				t.Errorf("impostor key: %s: %s", state, status)
			}
			// The key as publisher.pub holds it, not URL-encoded.
			start := time.Now()
			p = open("#k=" + key + "&m=" + honest + "&a=" + en.ID)
			if state, _, status := waitState(t, p); state != "verified" {
				t.Errorf("raw key: %s: %s", state, status)
			}
			t.Logf("%s: page load to verified (honest loopback mirror, 2 entries): %v", from.name, time.Since(start).Round(time.Millisecond))
			// The whole path in pure JavaScript, as where crypto.subtle is
			// missing: the page says so.
			p = open("")
			waitState(t, p)
			if err := p.Eval(`samizdat.use('pure').then(() => { document.documentElement.dataset.samizdat = 'working'; location.hash = `+"`"+fragment(key, fa.ID, honest)+"`"+`; })`, nil); err != nil {
				t.Fatal(err)
			}
			if state, dom, status := waitState(t, p); state != "verified" || !strings.Contains(dom, faText) {
				t.Errorf("pure JS: %s: %s", state, status)
			}
			var engine string
			if err := p.Eval(`samizdat.engine().text`, &engine); err != nil || !strings.HasPrefix(engine, "pure JavaScript for Ed25519 and SHA-256") {
				t.Errorf("pure JS: the page says %q (%v)", engine, err)
			}
			// The pinned key is still the publisher's: no key given reads it.
			p = open("#m=" + url.QueryEscape(honest) + "&a=" + en.ID)
			if state, _, status := waitState(t, p); state != "verified" {
				t.Errorf("pinned key: %s: %s", state, status)
			}
		})
	}
}

// TestPageStaleMirror: a mirror whose checkpoint is more than a day old
// is shown, marked stale, only when no other mirror has a fresher one
// within two seconds; beside a fresh mirror the fresh one wins, as in the
// CLI's reader.
func TestPageStaleMirror(t *testing.T) {
	pub := testkeys.New(t, "gazette")
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().Add(-48 * time.Hour)
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := browsertest.Articles[1]
	if _, err := p.Publish([]publish.Item{{Meta: bundle.Metadata{ID: a.ID, Title: a.Title, Language: a.Lang},
		Files: []bundle.File{{Type: "text/html", Data: []byte(a.Body)}}}}); err != nil {
		t.Fatal(err)
	}
	h, err := web.New(st, []*keys.PublicKey{pub.Root.Public()}, &web.Config{Rate: -1, Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	fresh := httptest.NewServer(h)
	defer fresh.Close()
	m := &mirror{pub: pub, srv: fresh}
	old := m.get(t, "/p/"+pub.ID()+"/checkpoint")
	now = time.Now()
	if _, err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	stale := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if path == "/p/"+pub.ID()+"/checkpoint" {
			return old, 0
		}
		return b, 0
	})
	b := browsertest.StartBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(verifier.Page()) }))
	defer srv.Close()
	key := pub.Root.Public().String()
	for _, tc := range []struct {
		name    string
		mirrors []string
		want    string // in the status and facts
		not     string
	}{
		{"stale alone", []string{stale}, "STALE", "from " + fresh.URL},
		{"stale, then fresh", []string{stale, fresh.URL + "/"}, "from " + fresh.URL, "STALE"},
	} {
		pg := b.Open(t, srv.URL+"/verify.html"+fragment(key, a.ID, tc.mirrors...), browsertest.Phone)
		state, _, status := waitState(t, pg)
		var shown string
		if err := pg.Eval(`document.getElementById('result').textContent`, &shown); err != nil {
			t.Fatal(err)
		}
		shown = status + shown
		if state != "verified" || !strings.Contains(shown, tc.want) || strings.Contains(shown, tc.not) {
			t.Errorf("%s: %s: %s; want %q and not %q in the page", tc.name, state, status, tc.want, tc.not)
		}
	}
}

// TestPageAccessible checks the page, verified (an article, the list) and
// failed, at phone and laptop width: nothing wider than the window and no
// serious or critical axe-core finding.
func TestPageAccessible(t *testing.T) {
	browsertest.AxeAvailable(t)
	m := newMirror(t)
	b := browsertest.StartBrowser(t)
	key := m.pub.Root.Public().String()
	tampering := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasPrefix(path, "/b/") {
			b = bytes.Clone(b)
			b[len(b)-10] ^= 1
		}
		return b, 0
	})
	for _, tc := range []struct{ name, frag, want string }{
		{"article", fragment(key, browsertest.Articles[0].ID, m.srv.URL+"/"), "verified"},
		{"persian", fragment(key, browsertest.Articles[2].ID, m.srv.URL+"/"), "verified"},
		{"list", fragment(key, "", m.srv.URL+"/"), "verified"},
		{"failed", fragment(key, browsertest.Articles[0].ID, tampering), "failed"},
	} {
		for _, v := range []browsertest.Viewport{browsertest.Phone, browsertest.Desktop} {
			p := b.Open(t, m.srv.URL+"/verify.html"+tc.frag, v)
			if state, _, status := waitState(t, p); state != tc.want {
				t.Fatalf("%s: %s: %s", tc.name, state, status)
			}
			if over := p.Overflow(t); len(over) > 0 {
				t.Errorf("%s at %s: wider than the window: %q", tc.name, v.Name, over)
			}
			for _, vi := range browsertest.Serious(p.Axe(t)) {
				t.Errorf("%s at %s: axe: %s", tc.name, v.Name, vi)
			}
		}
	}
}
