package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// TestCrashRestartChain is the issue's "restarting B during a sync,
// everything converges": the publisher -> A -> B -> C on loopback QUIC,
// mirrors started in-process as `samizdat mirror` starts them. B is
// stopped half-way through copying the publisher's articles from A (C
// behind it, half-way or not begun); while B is down the publisher signs
// one more, which A takes; B is started again on the same store and
// address. C must then hold every article, and every mirror's store
// verify with no problem and index exactly the publisher's articles.
func TestCrashRestartChain(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs a chain of three mirrors; skipped with -short")
	}
	const articles = 600
	dir := t.TempDir()
	pub := newCrashPublisher(t, dir)
	pub.publish(articles, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var logs crashLogs
	running := map[*mirror.Mirror]bool{}
	t.Cleanup(func() {
		for m := range running {
			stopMirror(m)
		}
	})
	start := func(name, addr, peer string) *mirror.Mirror {
		t.Helper()
		c := &mirror.Config{Store: filepath.Join(dir, "mirror-"+name), Trust: []string{pub.pubFile}, QUIC: addr, Peers: []string{"quic://" + peer}, Logger: logs.logger(name)}
		m, err := mirror.Start(ctx, c)
		if err != nil {
			t.Fatalf("mirror %s: %v", name, err)
		}
		running[m] = true
		return m
	}
	a := start("A", "127.0.0.1:0", pub.addr)
	b := start("B", "127.0.0.1:0", a.QUICAddr())
	c := start("C", "127.0.0.1:0", b.QUICAddr())
	id := pub.root.ID()

	// B is stopped once it holds the log and a third of the bundles, not
	// all; C is then half-way too, or has not started.
	var held, missing int
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, err := b.Store().MissingBundles(id); err == nil {
			arts, _ := b.Store().Articles(id)
			held, missing = len(arts)-len(m), len(m)
			if held >= articles/3 && missing > 0 {
				break
			}
			if len(arts) == articles && missing == 0 {
				t.Fatalf("B completed its sync before the test could stop it half-way: make the sync longer")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("B did not start syncing within 20 s:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	bAddr := b.QUICAddr()
	delete(running, b)
	if err := stopMirror(b); err != nil {
		t.Fatalf("stopping B: %v", err)
	}
	cHeld := heldBundles(t, c.Store(), id)
	t.Logf("B stopped half-way: it held %d of %d bundles, C %d", held, articles, cHeld)

	// While B is down the publisher signs one more article; A takes it.
	pub.publish(1, 0)
	pub.node.Notify(id)
	if err := waitArticles(ctx, a.Store(), id, []string{fmt.Sprintf("report-%04d", articles+1)}, 10*time.Second); err != nil {
		t.Fatalf("A: %v", err)
	}

	// B comes back on its store and address; C converges.
	b = start("B", bAddr, a.QUICAddr())
	restarted := time.Now()
	if b.QUICAddr() != bAddr {
		t.Fatalf("B came back on %s, not %s", b.QUICAddr(), bAddr)
	}
	var ids []string
	for i := 1; i <= articles+1; i++ {
		ids = append(ids, fmt.Sprintf("report-%04d", i))
	}
	// C redials B when its old session ends: at once when B's stop
	// closed it, but when that close is lost (a loaded machine drops UDP)
	// only at QUIC's 30 s idle timeout, which the wait must cover.
	if err := waitArticles(ctx, c.Store(), id, ids, 50*time.Second); err != nil {
		t.Fatalf("C after B's restart: %v\n%s", err, logs.String())
	}
	t.Logf("C held all %d articles %v after B's restart", articles+1, time.Since(restarted).Round(time.Millisecond))

	size, index := pub.size(), pub.index()
	for _, m := range []struct {
		name string
		m    *mirror.Mirror
	}{{"A", a}, {"B", b}, {"C", c}} {
		p, err := m.m.Store().Publisher(id)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if p.Size != size || !bytes.Equal(p.Checkpoint, pub.cps[size]) {
			t.Errorf("%s holds a log of %d leaves, want the publisher's %d with its checkpoint", m.name, p.Size, size)
		}
		probs, err := m.m.Store().Check(pub.root, nil)
		if err != nil || len(probs) > 0 {
			t.Errorf("%s does not verify: %v %v", m.name, err, probs)
		}
		if arts, err := m.m.Store().Articles(id); err != nil || !slices.Equal(arts, index) {
			t.Errorf("%s's article index differs from the publisher's (%v)", m.name, err)
		}
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("the mirrors logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// heldBundles counts the current articles whose bundles st holds.
func heldBundles(t *testing.T, st *store.Store, id string) int {
	t.Helper()
	arts, err := st.Articles(id)
	if err != nil {
		return 0
	}
	m, err := st.MissingBundles(id)
	if err != nil {
		t.Fatal(err)
	}
	return len(arts) - len(m)
}

// crashLogs collects the mirrors' logs, at info level and above, for
// failure messages and to find errors.
type crashLogs struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *crashLogs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *crashLogs) logger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo})).With("mirror", name)
}

func (l *crashLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *crashLogs) errors() []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			out = append(out, line)
		}
	}
	return out
}
