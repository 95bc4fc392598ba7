//go:build linux

package verifier_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/verifier"
)

// TestPageShowsVouchedHashes opens the page from disk against a real
// mirror on loopback: while the publisher has no mirror list, and once
// its list vouches for no page, the page says that nothing signed names
// a genuine page; once the list vouches for this page, it shows the
// page's SHA-256, the list's time and how to compare it. A mirror that changes a hash in
// the list (so that its signature fails) gets the "nothing signed"
// answer, not its hash.
func TestPageShowsVouchedHashes(t *testing.T) {
	m := newMirror(t)
	b := browsertest.StartBrowser(t)
	file := filepath.Join(t.TempDir(), "verify.html")
	if err := os.WriteFile(file, verifier.Page(), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := publish.New(m.st, m.pub.Root.Public(), m.pub.Statement, m.pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, honest := m.pub.Root.Public().String(), m.srv.URL+"/"
	own, other := sha256.Sum256(verifier.Page()), sha256.Sum256([]byte("an earlier release's page"))
	forged := sha256.Sum256([]byte("a page the publisher never vouched for"))
	changing := proxy(t, m, func(path string, b []byte) ([]byte, int) {
		if strings.HasSuffix(path, "/mirrors") {
			return bytes.Replace(b, []byte(verifier.SHA256()), []byte(hexOf(forged)), 1), 0
		}
		return b, 0
	})
	// vouched opens the page's list of newest articles and returns what
	// it says of the publisher's signed hashes.
	vouched := func(name, mirror string) string {
		t.Helper()
		pg := b.Open(t, "file://"+file+"#k="+key+"&m="+mirror, browsertest.Phone)
		if state, _, status := waitState(t, pg); state != "verified" {
			t.Fatalf("%s: %s: %s", name, state, status)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var text string
			if err := pg.Eval(`document.getElementById('vouch').textContent`, &text); err != nil {
				t.Fatal(err)
			}
			if text != "" {
				if name == "vouched" {
					if err := pg.Eval(`document.querySelectorAll('details')[1].open = true`, nil); err != nil {
						t.Fatal(err)
					}
					browsertest.SaveScreenshot(t, "verifier-vouched-phone", pg.Screenshot(t, true))
				}
				return text
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the page shows nothing of the publisher's signed hashes after 10 s", name)
			}
			time.Sleep(50 * time.Millisecond) // polling the browser, an external process
		}
	}
	const nothing = "SHA-256 the publisher signs: none."
	if got := vouched("no list", honest); got != nothing {
		t.Errorf("no mirror list: the page says %q", got)
	}
	if _, err := p.SetMirrorList([]string{"https://a.example/"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := vouched("a list vouching for no page", honest); got != nothing {
		t.Errorf("a list vouching for no page: the page says %q", got)
	}
	list, err := p.SetMirrorList([]string{"https://a.example/"}, [][sha256.Size]byte{own, other})
	if err != nil {
		t.Fatal(err)
	}
	// With the list's time: a mirror may serve an older signed list, whose
	// hashes the publisher has since dropped.
	got := vouched("vouched", honest)
	if want := "SHA-256 the publisher signs: " + verifier.SHA256() + ", " + hexOf(other) + " (list of " + list.Time.UTC().Format(time.RFC3339) + ")."; got != want {
		t.Errorf("the page says %q, want %q", got, want)
	}
	var how string
	if err := b.Open(t, "file://"+file, browsertest.Phone).Eval(`document.getElementById('vouch').previousElementSibling.textContent`, &how); err != nil || !strings.Contains(how, "sha256sum verify.html") {
		t.Errorf("the page does not say how to compare: %q (%v)", how, err)
	}
	if got := vouched("changed list", changing); got != nothing {
		t.Errorf("a list changed by the mirror: the page says %q", got)
	}
}

func hexOf(h [sha256.Size]byte) string { return hex.EncodeToString(h[:]) }
