package mirror

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/publish"
)

// waitFor polls cond every 10 ms until it holds, failing the test after
// d. The static export runs on the mirror's own schedule, which a test
// sees only in the files it leaves.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publishTo publishes one article of p, id, into the running mirror's
// store, as a push would.
func publishTo(t *testing.T, m *Mirror, p *testkeys.Publisher, id string) bundle.Digest {
	t.Helper()
	pp, err := publish.New(m.Store(), p.Root.Public(), p.Statement, p.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pp.Publish([]publish.Item{{Meta: bundle.Metadata{ID: id, Title: "Title " + id, Language: "en"},
		Files: []bundle.File{{Type: "text/markdown", Data: []byte("# " + id + "\n\nBody of " + id + ".\n")}}}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Digest
}

// TestStaticExportWhileRunning: a mirror with export_static exports at
// start, again after each change of its store (at most every
// export_every), and not while nothing changes; the export's checkpoint
// is the store's and names files in place.
func TestStaticExportWhileRunning(t *testing.T) {
	dir := t.TempDir()
	pubFile, p := testPublisher(t, dir)
	out := filepath.Join(dir, "export")
	every := time.Second
	m, err := Start(context.Background(), &Config{Store: filepath.Join(dir, "store"), Trust: []string{pubFile},
		HTTP: "127.0.0.1:0", ExportStatic: out, ExportEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	exp := m.exp
	waitFor(t, 10*time.Second, "no export at start", func() bool { return exp.ok.Load() == 1 })
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Fatalf("the first export wrote no index page: %v", err)
	}

	cpFile := filepath.Join(out, "p", p.Root.Public().ID(), "checkpoint")
	exported := func() bool {
		sp, err := m.Store().Publisher(p.Root.Public().ID())
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(cpFile)
		return err == nil && sp.Checkpoint != nil && bytes.Equal(b, sp.Checkpoint)
	}
	for i, id := range []string{"first", "second"} {
		before := exp.ok.Load()
		start := time.Now()
		d := publishTo(t, m, p, id)
		waitFor(t, 10*time.Second, "the export did not catch up with "+id, func() bool { return exp.ok.Load() > before && exported() })
		if _, err := os.Stat(filepath.Join(out, "b", d.String())); err != nil {
			t.Errorf("the export's checkpoint names %s, but its bundle is missing: %v", id, err)
		}
		if got := exp.ok.Load(); got != before+1 {
			t.Errorf("publishing %s: %d exports, want 1", id, got-before)
		}
		if i == 1 && time.Since(start) < every/2 {
			// The first export after the one at start may run at once;
			// this one waits for export_every after the one before.
			t.Errorf("the second publish was exported %v after it, within export_every (%v) of the export before", time.Since(start), every)
		}
	}
	// Nothing changes: no export, however long.
	n := exp.ok.Load()
	time.Sleep(2 * every)
	if got := exp.ok.Load(); got != n {
		t.Errorf("%d exports while the store did not change", got-n)
	}
	if exp.failed.Load() != 0 {
		t.Errorf("%d exports failed", exp.failed.Load())
	}
	code, body := get(t, "http://"+m.HTTPAddr()+"/metrics")
	if code != 200 || !strings.Contains(body, `samizdat_static_exports_total{result="ok"} 3`) || !strings.Contains(body, "samizdat_static_export_last_success_timestamp_seconds ") {
		t.Errorf("metrics: %d, no static export counters:\n%.2000s", code, body)
	}
}

// TestStaticExportFailureRetried: an export target that fails (an S3
// server that does not answer) is logged and tried again after
// export_every, and the mirror goes on serving. No credential appears in
// its log.
func TestStaticExportFailureRetried(t *testing.T) {
	dir := t.TempDir()
	pubFile, _ := testPublisher(t, dir)
	l := &lockedBuffer{}
	m, err := Start(context.Background(), &Config{Store: filepath.Join(dir, "store"), Trust: []string{pubFile},
		HTTP: "127.0.0.1:0", ExportStatic: "s3://news-bucket/site", S3Endpoint: "http://127.0.0.1:1", ExportEvery: time.Second,
		S3AccessKey: "AKIDSECRETNAME", S3SecretKey: "hunter2-secret-key", Logger: slog.New(slog.NewTextHandler(l, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	start := time.Now()
	waitFor(t, 10*time.Second, "the failed export was not tried again", func() bool { return m.exp.failed.Load() >= 2 })
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("tried again within %v, before export_every", d)
	}
	if code, _ := get(t, "http://"+m.HTTPAddr()+"/healthz"); code != 200 {
		t.Errorf("healthz %d while exports fail", code)
	}
	log := l.String()
	if !strings.Contains(log, "static export failed") || !strings.Contains(log, "s3://news-bucket/site") {
		t.Errorf("the failure is not logged with its target:\n%s", log)
	}
	if strings.Contains(log, "hunter2") || strings.Contains(log, "AKIDSECRETNAME") {
		t.Errorf("the log holds a credential:\n%s", log)
	}
}

// TestStaticExportRefusedAtStart: a target that cannot be an export (a
// file, S3 without credentials) stops Start before the store is made.
func TestStaticExportRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	pubFile, _ := testPublisher(t, dir)
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Config{
		{ExportStatic: filepath.Join(file, "sub")},
		{ExportStatic: "s3://news-bucket/site"}, // no credentials
	} {
		c.Store, c.Trust, c.HTTP = filepath.Join(dir, "store"), []string{pubFile}, "127.0.0.1:0"
		m, err := Start(context.Background(), c)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "export_static" || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Start = %v, want one line about export_static", c.ExportStatic, err)
		}
		if m != nil {
			shutdown(t, m)
		}
		if _, err := os.Stat(c.Store); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the store was made: %v", c.ExportStatic, err)
		}
	}
}

// lockedBuffer is a log's destination that the test reads while the
// mirror writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
