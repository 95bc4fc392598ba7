//go:build linux

package verifier_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/mirror/static"
)

// TestPageOnSlowLink measures a new reader's page load to "verified" for
// one article over an emulated slow link, on a dynamic mirror and on a
// static export, with full index proofs and with split ones only (BENCHMARKS.md, "Red team, fourth session: the verifier
// page"): each load in a new Chromium, the page and every fetch through
// bench/cmd/slowlink's relay (SAMIZDAT_SLOWLINK_RELAY, a built binary)
// listening on SAMIZDAT_SLOWLINK_ADDR (the root side of a veth pair
// shaped by tbf, whose other side is in the namespace the chromium on
// PATH runs in; see BENCHMARKS.md for the commands). It is skipped
// unless both are set; the figures are logged.
func TestPageOnSlowLink(t *testing.T) {
	relayBin, addr := os.Getenv("SAMIZDAT_SLOWLINK_RELAY"), os.Getenv("SAMIZDAT_SLOWLINK_ADDR")
	if relayBin == "" || addr == "" {
		t.Skip("set SAMIZDAT_SLOWLINK_RELAY and SAMIZDAT_SLOWLINK_ADDR to run it")
	}
	m := newMirror(t)
	dir := t.TempDir()
	exportTo(t, m, dir)
	split := t.TempDir()
	exportWith(t, m, split, &static.Options{IndexProofs: -1}) // split proofs only
	mux := http.NewServeMux()
	mux.Handle("/export/", http.StripPrefix("/export/", http.FileServer(http.Dir(dir))))
	mux.Handle("/split/", http.StripPrefix("/split/", http.FileServer(http.Dir(split))))
	exports := httptest.NewServer(mux)
	defer exports.Close()
	relay := func(port int, to string) (base, stats string) {
		ctx, cancel := context.WithCancel(context.Background())
		stats = fmt.Sprintf("127.0.0.1:%d", port+1)
		cmd := exec.CommandContext(ctx, relayBin, "relay", "-listen", fmt.Sprintf("%s:%d", addr, port), "-to", strings.TrimPrefix(to, "http://"), "-delay", "100ms", "-stats", stats, "-for", "10m")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); cmd.Wait() })
		deadline := time.Now().Add(10 * time.Second)
		for {
			if r, err := http.Get("http://" + stats + "/"); err == nil {
				r.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the relay did not start")
			}
			time.Sleep(50 * time.Millisecond) // polling an external process
		}
		return fmt.Sprintf("http://%s:%d/", addr, port), stats
	}
	counters := func(stats string) string {
		r, err := http.Get("http://" + stats + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return strings.TrimSpace(string(b))
	}
	dyn, dynStats := relay(18080, m.srv.URL)
	st, stStats := relay(18082, exports.URL)
	frag := fragment(m.pub.Root.Public().String(), browsertest.Articles[0].ID)
	for _, tc := range []struct{ name, url, stats string }{
		{"dynamic mirror", dyn + "verify.html" + frag, dynStats},
		{"static export", st + "export/verify.html" + frag, stStats},
		{"static export, split proofs only", st + "split/verify.html" + frag, stStats},
	} {
		for i := range 3 {
			br := browsertest.StartBrowser(t)
			before := counters(tc.stats)
			start := time.Now()
			p := br.Open(t, tc.url, browsertest.Phone)
			state, _, status := waitState(t, p)
			d := time.Since(start)
			if state != "verified" {
				t.Fatalf("%s: %s: %s", tc.name, state, status)
			}
			var res string
			p.Eval(`performance.getEntriesByType('resource').map((e) => e.name.replace(/^.*:\d+\//, '') + ' ' + Math.round(e.responseEnd - e.startTime) + 'ms').join(', ') + ' | engine: ' + document.getElementById('engine').textContent`, &res)
			t.Logf("%s, load %d: page load to verified %v; relay before %s, after %s; %s", tc.name, i+1, d.Round(time.Millisecond), before, counters(tc.stats), res)
		}
	}
}
