//go:build linux

package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Firefox returns Debian's firefox-esr (or firefox), skipping the test
// when there is none unless SAMIZDAT_REQUIRE_FIREFOX=1.
func Firefox(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SAMIZDAT_REQUIRE_FIREFOX") == "1" {
		t.Fatal("no firefox found and SAMIZDAT_REQUIRE_FIREFOX=1")
	}
	t.Skip("no firefox-esr installed (set SAMIZDAT_REQUIRE_FIREFOX=1 to require it)")
	return ""
}

// RunFirefox opens url in headless Firefox with a fresh profile (whose
// pages may open windows without a click) and
// returns the first n values sent on results (by the page, through the
// test's server), failing the test after 90 s. Firefox and everything it
// started run in their own process group, killed at the end.
func RunFirefox(t *testing.T, url string, results <-chan string, n int) []string {
	t.Helper()
	bin := Firefox(t)
	profile := t.TempDir()
	prefs := `user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("network.proxy.type", 0);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("dom.disable_open_during_load", false);
`
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-remote", "--new-instance", "--profile", profile, url)
	cmd.Env = append(os.Environ(), "HOME="+profile, "MOZ_HEADLESS=1", "XDG_CACHE_HOME="+profile, "XDG_CONFIG_HOME="+profile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var out []string
	for len(out) < n {
		select {
		case r := <-results:
			out = append(out, r)
		case <-ctx.Done():
			t.Fatalf("firefox gave %d of %d results in 90 s; stderr:\n%.2000s", len(out), n, stderr.String())
		}
	}
	return out
}

// lockedBuffer is a strings.Builder that Firefox's stderr copier writes
// while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFirefoxEd25519 runs the Ed25519 corpus vectors through the page in
// headless Firefox, under both implementations, and compares with Go's,
// vector by vector, samizdat's verdict: the key check (keys.CheckPoint),
// then the signature. Firefox's WebCrypto (NSS) refuses non-canonical
// public key encodings that Go's crypto/ed25519 takes (37 of CCTV's and
// speccheck's vectors), so the bare signature check differs there; the
// page verifies nothing under such a key, which its key check refuses
// first. (In Chromium the bare check agrees too: TestEd25519Corpus.)
func TestFirefoxEd25519(t *testing.T) {
	Firefox(t)
	vs := edVectors(t)
	vj, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/verify.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(Page())
		case "/vectors.json":
			w.Write(vj)
		case "/result":
			results <- r.URL.Query().Get("r")
		case "/ff.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!DOCTYPE html><meta charset="utf-8"><title>firefox</title><iframe id="f" src="/verify.html"></iframe>
<script>
document.getElementById('f').addEventListener('load', async () => {
  const s = document.getElementById('f').contentWindow.samizdat, vs = await (await fetch('/vectors.json')).json();
  for (const e of ['webcrypto', 'pure']) {
    let bad = [], raw = 0, t0;
    try {
      await s.use(e);
      t0 = performance.now();
      for (const v of vs) {
        const ok = await s.verify(s.unhex(v.pub), s.unhex(v.msg), s.unhex(v.sig));
        const keyOK = s.checkPoint(s.unhex(v.pub)) === null;
        if (keyOK !== v.key_ok || (keyOK && ok) !== (v.key_ok && v.verified)) bad.push(v.src);
        else if (ok !== v.verified) raw++;
      }
    } catch (err) { bad.push('error: ' + err); }
    await fetch('/result?r=' + encodeURIComponent([e, vs.length, ((performance.now() - t0) / vs.length).toFixed(3), raw, bad.join(' ')].join('|')));
  }
});
</script>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, r := range RunFirefox(t, srv.URL+"/ff.html", results, 2) {
		f := strings.SplitN(r, "|", 5)
		if len(f) != 5 || f[1] != fmt.Sprint(len(vs)) || f[4] != "" {
			t.Errorf("firefox: %.3000s", r)
			continue
		}
		t.Logf("firefox, %s: samizdat's verdict (key check, then signature) agrees with Go's on all %s vectors; the bare signature check differs on %s, all under keys samizdat refuses; %s ms a verification", f[0], f[1], f[3], f[2])
	}
}
