//go:build linux

package verifier_test

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/samizdat-news/samizdat/internal/browsertest"
)

// TestPageListBoundsManifest: the list of newest articles reads each
// bundle's manifest with a Range request of its length, which the
// mirror states before any signature is checked. A mirror that states
// 4 GiB and streams junk behind it (128 MiB here) must not have the page
// read it all: each answer is read up to the manifest's limit (256 KiB),
// so the mirror gets to write at most that and its socket buffers, and
// the page still lists the articles (their titles not verified).
func TestPageListBoundsManifest(t *testing.T) {
	const junk = 128 << 20
	m := newMirror(t)
	var mu sync.Mutex
	most := 0 // the most bytes one answer for a bundle wrote
	srv := httptest.NewServer(withVerifier(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(m.srv.URL + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		w.WriteHeader(resp.StatusCode)
		if !strings.HasPrefix(r.URL.Path, "/b/") || len(b) < 116 {
			w.Write(b)
			return
		}
		binary.BigEndian.PutUint32(b[112:], 0xffffff00) // a 4 GiB manifest
		n, _ := w.Write(b[:116])
		chunk := make([]byte, 64<<10)
		for n < junk {
			k, err := w.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		mu.Lock()
		most = max(most, n)
		mu.Unlock()
	})))
	defer srv.Close()
	b := browsertest.StartBrowser(t)
	p := b.Open(t, srv.URL+"/verify.html#k="+m.pub.Root.Public().String(), browsertest.Phone)
	state, dom, status := waitState(t, p)
	if state != "verified" || !strings.Contains(dom, "title not verified") {
		t.Fatalf("data-samizdat=%q (%s)", state, status)
	}
	srv.CloseClientConnections()
	srv.Close() // waits for the handlers
	mu.Lock()
	defer mu.Unlock()
	t.Logf("the most one answer for a bundle wrote: %d bytes", most)
	if most >= junk/2 {
		t.Errorf("an answer for a bundle wrote %d bytes: the page read the mirror's stated manifest length", most)
	}
}
