package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// The crash test's sizes. The first run copies crashFirst articles; before
// each later run the publisher signs between crashBatchMin and
// crashBatchMax new ones, new revisions of crashRevise and a retraction,
// so that every run has a sync to be killed in, some short enough that the
// new leaves and their bundles come in one update.
const (
	crashFirst     = 300
	crashBatchMin  = 20
	crashBatchMax  = 160
	crashRevise    = 3
	crashImageSize = 8 << 10 // incompressible, so bundles have weight
	crashSeed      = 20261130

	// crashMaxStray bounds the files an interrupted write may leave:
	// bundles are stored one Apply at a time, at most 256 at once (the
	// default replica.Config.Batch), and Open removes what an interrupted
	// one left before anything new is written, so they never pile up.
	crashMaxStray = 256
)

// crashKills is how many times TestCrashMirrorKill kills the mirror: 20,
// or SAMIZDAT_CRASH_KILLS (bench/crash runs 200).
var crashKills = func() int {
	if n, err := strconv.Atoi(os.Getenv("SAMIZDAT_CRASH_KILLS")); err == nil && n > 0 {
		return n
	}
	return 20
}()

// TestCrashMirrorKill is the crash test: a `samizdat mirror`
// process (the real binary, built here) syncing from a publisher over QUIC
// on loopback is killed with SIGKILL at a random moment of its sync, 20
// times, and restarted on the same store. After every kill the store must
// open and hold only what a sync may hold half-way:
//
//   - the publisher's log at a size the publisher signed, with the
//     publisher's checkpoint for that size, never shorter than before;
//   - of the current articles' bundles some, and no fewer than before;
//   - nothing damaged: Check may report only articles whose bundles have
//     not arrived (store.ErrNotFound), exactly those MissingBundles lists;
//   - at most one batch of stray files (see crashMaxStray).
//
// A last run must then complete the sync and stop cleanly on SIGTERM,
// leaving a store that verifies with no problem, indexes exactly the
// publisher's articles, and holds no stray file.
func TestCrashMirrorKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds samizdat and runs 22 mirror processes; skipped with -short")
	}
	bin := buildSamizdat(t)
	dir := t.TempDir()
	pub := newCrashPublisher(t, dir)
	pub.publish(crashFirst, 0)
	rnd := rand.New(rand.NewPCG(crashSeed, 1))

	// How long a whole first sync takes here sets the window the kills
	// are spread over.
	cal := startCrashMirror(t, bin, filepath.Join(dir, "calibration"), pub)
	if !cal.waitFor(30*time.Second, func(s *procState) bool { return s.bundles >= crashFirst }) {
		t.Fatalf("calibration: the first sync did not complete in 30 s:\n%s", cal.stderr())
	}
	full := time.Since(cal.start)
	cs := cal.state()
	cal.kill(t)
	perBundle := (full - cs.leavesAt) / crashFirst
	t.Logf("a first sync of %d articles (%d KiB images) takes %v: store open at %v, log stored at %v, then %v a bundle",
		crashFirst, crashImageSize>>10, full.Round(time.Millisecond), cs.startedAt.Round(time.Millisecond), cs.leavesAt.Round(time.Millisecond), perBundle.Round(time.Microsecond))

	// The store is made first, as a mirror's first start makes it: kills
	// during that start are TestCrashFirstStart's.
	storeDir := filepath.Join(dir, "mirror")
	if st, err := store.Open(storeDir, &store.Options{Create: true}); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	var prev crashState
	phases := map[string]int{}
	scale := 1.0 // of the estimate, learnt from the runs that completed
	t.Logf("%d kills (SAMIZDAT_CRASH_KILLS)", crashKills)
	for i := range crashKills {
		what := fmt.Sprintf("kill %d", i+1)
		if i > 0 {
			pub.publish(crashBatchMin+rnd.IntN(crashBatchMax-crashBatchMin+1), crashRevise)
			pub.retract()
		}
		// The kill lands anywhere from the process's start to a little
		// after the expected end of this run's sync.
		expect := time.Duration(float64(cs.leavesAt+time.Duration(pub.toFetch(prev.held))*perBundle) * scale)
		window := min(expect*5/4, 10*time.Second)
		delay := time.Duration(rnd.Int64N(int64(window)))
		m := startCrashMirror(t, bin, storeDir, pub)
		select {
		case <-m.exited:
			t.Fatalf("%s: the mirror exited by itself before the kill:\n%s", what, m.stderr())
		case <-time.After(time.Until(m.start.Add(delay))):
		}
		seen := m.state()
		m.kill(t)
		m.failOnProblems(t, what)
		st := checkCrashStore(t, what, storeDir, pub, &prev)
		phase := st.phase(pub, seen)
		phases[phase]++
		if phase == "after the sync" && seen.lastApplyAt > 0 {
			// Restarts are quicker than a first start: learn by how much.
			scale = (scale + scale*float64(seen.lastApplyAt)/float64(expect)) / 2
		}
		t.Logf("kill %2d at %4dms of %4dms: %-18s log %4d/%4d, %4d bundles held, %3d missing; stray: %2d in tmp/, %2d unrecorded",
			i+1, delay.Milliseconds(), window.Milliseconds(), phase, st.size, pub.size(), len(st.held), st.missing, st.strayTmp, st.strayBundles)
		if t.Failed() {
			t.FailNow()
		}
		prev = st
	}
	t.Logf("kills by phase: %v", phases)

	// The last run, with a last batch to take too, completes the sync: its
	// log shows every missing bundle stored, and it stops on SIGTERM.
	pub.publish(crashBatchMax, crashRevise)
	pub.retract()
	want := pub.toFetch(prev.held)
	m := startCrashMirror(t, bin, storeDir, pub)
	if !m.waitFor(30*time.Second, func(s *procState) bool { return s.startedAt > 0 && s.bundles >= want }) {
		t.Fatalf("after the kills, the sync did not complete in 30 s (%d of %d bundles stored):\n%s", m.state().bundles, want, m.stderr())
	}
	t.Logf("after the kills, a last run stored the %d missing bundles %v after its start", want, time.Since(m.start).Round(time.Millisecond))
	if err := m.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, m.stderr())
	}
	m.failOnProblems(t, "last run")
	final := checkCrashStore(t, "after the last run", storeDir, pub, &prev)
	if final.size != pub.size() || final.missing != 0 || len(final.held) != len(pub.current()) {
		t.Errorf("after the last run: log %d/%d, %d bundles held, %d missing; want the whole log and all %d current bundles",
			final.size, pub.size(), len(final.held), final.missing, len(pub.current()))
	}
	if final.strayTmp+final.strayBundles != 0 {
		t.Errorf("after the last run: %d files in tmp/ and %d unrecorded bundle files, want none", final.strayTmp, final.strayBundles)
	}
	if !slices.Equal(final.index, pub.index()) {
		t.Errorf("after the last run, the mirror's article index differs from the publisher's")
	}
}

// buildSamizdat builds this command into a temporary directory, with the
// race detector when the test runs with it.
func buildSamizdat(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build samizdat with")
	}
	bin := filepath.Join(t.TempDir(), "samizdat")
	args := []string{"build", "-o", bin}
	if crashRace {
		args = append(args, "-race")
	}
	out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashPublisher is a publisher's store, served over QUIC on loopback by
// an in-process sync node. Its articles have an incompressible image each.
type crashPublisher struct {
	t       *testing.T
	st      *store.Store
	root    *keys.PublicKey
	pubFile string // publisher.pub, for --trust
	p       *publish.Publisher
	node    *replica.Node
	addr    string // the node's QUIC address

	rnd  *rand.Rand
	img  *rand.ChaCha8
	n    int                 // articles published
	live []string            // articles not retracted
	cps  map[int64][]byte    // the checkpoint signed at each size of the log
	arts map[int64]int       // the number of articles at each size
	revs map[string]int      // an article's revision
	gone map[string]struct{} // retracted articles
}

func newCrashPublisher(t *testing.T, dir string) *crashPublisher {
	t.Helper()
	root, err := keys.Generate(nil, "crash-news", keys.RoleRoot)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.Generate(nil, "crash-news/signing-1", keys.RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	stmt := &keys.Statement{Publisher: root.Public(), Version: 1, Issued: now,
		Keys: []keys.Delegation{{Key: signer.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}}}
	signed, err := stmt.Sign(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "publisher"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &crashPublisher{
		t: t, st: st, root: root.Public(), pubFile: filepath.Join(dir, "publisher.pub"),
		rnd: rand.New(rand.NewPCG(crashSeed, 2)), img: rand.NewChaCha8([32]byte{'c', 'r', 'a', 's', 'h'}),
		cps: map[int64][]byte{}, arts: map[int64]int{}, revs: map[string]int{}, gone: map[string]struct{}{},
	}
	if c.p, err = publish.New(st, root.Public(), signed, signer, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pubFile, []byte(root.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.node, err = replica.New(st, []*keys.PublicKey{root.Public()}, nil); err != nil {
		t.Fatal(err)
	}
	l, err := session.ListenQUIC("127.0.0.1:0", c.node.Key())
	if err != nil {
		t.Fatal(err)
	}
	c.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.node.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		l.Close()
		<-served
		st.Close()
	})
	return c
}

// publish signs k new articles and new revisions of revise others, in one
// update.
func (c *crashPublisher) publish(k, revise int) {
	c.t.Helper()
	var ids []string
	for _, i := range c.rnd.Perm(len(c.live))[:min(revise, len(c.live))] {
		ids = append(ids, c.live[i])
	}
	for range k {
		c.n++
		id := fmt.Sprintf("report-%04d", c.n)
		ids = append(ids, id)
		c.live = append(c.live, id)
	}
	var items []publish.Item
	for _, id := range ids {
		c.revs[id]++
		img := make([]byte, crashImageSize)
		c.img.Read(img)
		text := fmt.Sprintf("# %s\n\nRevision %d of what was seen.\n\n![photo](photo.jpg)\n", id, c.revs[id])
		items = append(items, publish.Item{
			Meta:  bundle.Metadata{ID: id, Title: "Report " + id, Language: "en"},
			Files: []bundle.File{{Type: "text/markdown", Data: []byte(text)}, {Name: "photo.jpg", Type: "image/jpeg", Data: img}},
		})
	}
	if _, err := c.p.Publish(items); err != nil {
		c.t.Fatal(err)
	}
	c.signed()
}

// retract retracts one article.
func (c *crashPublisher) retract() {
	c.t.Helper()
	i := c.rnd.IntN(len(c.live))
	id := c.live[i]
	c.live = slices.Delete(c.live, i, i+1)
	c.gone[id] = struct{}{}
	if err := c.p.Retract(id); err != nil {
		c.t.Fatal(err)
	}
	c.signed()
}

// signed records the checkpoint just signed.
func (c *crashPublisher) signed() {
	p, err := c.st.Publisher(c.root.ID())
	if err != nil {
		c.t.Fatal(err)
	}
	c.cps[p.Size] = p.Checkpoint
	c.arts[p.Size] = c.n
}

// size is the number of leaves in the publisher's log.
func (c *crashPublisher) size() int64 {
	p, err := c.st.Publisher(c.root.ID())
	if err != nil {
		c.t.Fatal(err)
	}
	return p.Size
}

// index is the publisher's article index.
func (c *crashPublisher) index() []catalog.Article {
	arts, err := c.st.Articles(c.root.ID())
	if err != nil {
		c.t.Fatal(err)
	}
	return arts
}

// current returns the digests of the current articles' bundles.
func (c *crashPublisher) current() map[bundle.Digest]bool {
	out := map[bundle.Digest]bool{}
	for _, a := range c.index() {
		if !a.Retracted {
			out[a.Digest] = true
		}
	}
	return out
}

// toFetch is the number of current bundles not in held.
func (c *crashPublisher) toFetch(held map[bundle.Digest]bool) int {
	n := 0
	for d := range c.current() {
		if !held[d] {
			n++
		}
	}
	return n
}

// crashProc is a running `samizdat mirror` process whose debug log is
// followed to know how far its sync has come.
type crashProc struct {
	cmd    *exec.Cmd
	start  time.Time
	exited chan struct{}
	err    error // of Wait, once exited is closed

	mu      gosync.Mutex
	log     bytes.Buffer
	partial []byte
	s       procState
	changed chan struct{}
}

// procState is what a mirror's log has shown so far; times are from the
// process's start, zero for what has not happened.
type procState struct {
	startedAt   time.Duration // the store is open
	leavesAt    time.Duration // a first update with leaves is stored
	lastApplyAt time.Duration // the latest update is stored
	bundles     int           // bundles stored
	problems    []string      // errors, refusals, races, panics
}

var applyRE = regexp.MustCompile(`msg="store: applied update".* leaves=(\d+) bundles=(\d+)`)

func startCrashMirror(t *testing.T, bin, storeDir string, pub *crashPublisher) *crashProc {
	t.Helper()
	p := &crashProc{exited: make(chan struct{}), changed: make(chan struct{}, 1)}
	p.cmd = exec.Command(bin, "mirror", "--store", storeDir, "--trust", pub.pubFile,
		"--quic", "127.0.0.1:0", "--peer", "quic://"+pub.addr, "--log-level", "debug")
	// A race-detecting build stops at the first race, with no pause at
	// exit.
	p.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1 atexit_sleep_ms=0")
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// Write takes the process's output.
func (p *crashProc) Write(b []byte) (int, error) {
	now := time.Since(p.start)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Write(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		switch {
		case strings.Contains(line, `msg="mirror: started"`):
			p.s.startedAt = now
		case strings.Contains(line, "level=ERROR"), strings.Contains(line, "refus"),
			strings.Contains(line, "DATA RACE"), strings.HasPrefix(line, "panic:"), strings.HasPrefix(line, "fatal error:"):
			p.s.problems = append(p.s.problems, line)
		}
		if m := applyRE.FindStringSubmatch(line); m != nil {
			leaves, _ := strconv.Atoi(m[1])
			bundles, _ := strconv.Atoi(m[2])
			p.s.bundles += bundles
			p.s.lastApplyAt = now
			if leaves > 0 && p.s.leavesAt == 0 {
				p.s.leavesAt = now
			}
		}
	}
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (p *crashProc) state() procState {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.s
	s.problems = slices.Clone(s.problems)
	return s
}

// stderr returns the end of the process's output, for failure messages.
func (p *crashProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	const keep = 8 << 10
	s := p.log.String()
	if len(s) > keep {
		s = "...\n" + s[len(s)-keep:]
	}
	return s
}

// waitFor waits until cond holds of the log, at most timeout; false if the
// process exited or the time ran out first.
func (p *crashProc) waitFor(timeout time.Duration, cond func(*procState) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s := p.state()
		if cond(&s) {
			return true
		}
		select {
		case <-p.changed:
		case <-p.exited:
			s := p.state()
			return cond(&s)
		case <-deadline.C:
			return false
		}
	}
}

// kill kills the process with SIGKILL, which must be what ends it.
func (p *crashProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-p.exited
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the mirror ended by itself (%v), not by SIGKILL:\n%s", p.err, p.stderr())
	}
}

// stop sends SIGTERM and waits, at most 15 s, for a clean exit.
func (p *crashProc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(15 * time.Second):
		return errors.New("the mirror did not exit within 15 s of SIGTERM")
	}
}

func (p *crashProc) failOnProblems(t *testing.T, what string) {
	t.Helper()
	if probs := p.state().problems; len(probs) > 0 {
		t.Errorf("%s: the mirror logged errors or refusals:\n%s", what, strings.Join(probs, "\n"))
	}
}

// crashState is what a mirror's store held after a kill.
type crashState struct {
	size         int64                  // leaves in the log
	index        []catalog.Article      // the article index
	held         map[bundle.Digest]bool // current articles' bundles held
	missing      int                    // current articles' bundles not held
	strayTmp     int                    // files left in tmp/
	strayBundles int                    // bundle files no transaction records
}

// phase names where in its sync the mirror was killed, by the store it
// left and the log the test had read before the kill.
func (s crashState) phase(pub *crashPublisher, seen procState) string {
	switch {
	case seen.startedAt == 0 && s.size < pub.size():
		return "opening the store" // or starting the process
	case s.size < pub.size() && s.strayTmp+s.strayBundles > 0:
		return "storing log+bundles" // the few new bundles come with the leaves
	case s.size < pub.size():
		return "before the log"
	case s.missing > 0 && s.strayTmp+s.strayBundles > 0:
		return "storing a batch" // files at their names, not yet committed
	case s.missing > 0:
		return "fetching bundles"
	default:
		return "after the sync"
	}
}

// checkCrashStore opens the store read-only, as the kill left it, checks
// that it holds what a sync may hold half-way and no less than prev did,
// and returns what it holds.
func checkCrashStore(t *testing.T, what, dir string, pub *crashPublisher, prev *crashState) crashState {
	t.Helper()
	s := crashState{held: map[bundle.Digest]bool{}}
	st, err := store.Open(dir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Errorf("%s: the store does not open: %v", what, err)
		return s
	}
	defer st.Close()
	s.strayTmp, s.strayBundles = strayFiles(st)
	if n := s.strayTmp + s.strayBundles; n > crashMaxStray {
		t.Errorf("%s: %d files in tmp/ and %d unrecorded bundle files: more than one batch left over", what, s.strayTmp, s.strayBundles)
	}

	id := pub.root.ID()
	ids, err := st.Publishers()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return s
	}
	if len(ids) == 0 {
		if prev.size > 0 {
			t.Errorf("%s: the store lost the publisher an earlier run stored", what)
		}
		return s
	}
	if len(ids) != 1 || ids[0] != id {
		t.Errorf("%s: the store holds publishers %v, want only %s", what, ids, id)
		return s
	}
	p, err := st.Publisher(id)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return s
	}
	s.size = p.Size
	switch {
	case p.Size < prev.size:
		t.Errorf("%s: the log went back from %d to %d leaves", what, prev.size, p.Size)
	case pub.cps[p.Size] == nil || !bytes.Equal(p.Checkpoint, pub.cps[p.Size]):
		t.Errorf("%s: the store's log of %d leaves has a checkpoint the publisher did not sign at that size:\n%s", what, p.Size, p.Checkpoint)
	}

	probs, err := st.Check(pub.root, nil)
	if err != nil {
		t.Errorf("%s: Check: %v", what, err)
		return s
	}
	missing, err := st.MissingBundles(id)
	if err != nil {
		t.Errorf("%s: MissingBundles: %v", what, err)
		return s
	}
	if s.index, err = st.Articles(id); err != nil {
		t.Errorf("%s: Articles: %v", what, err)
		return s
	}
	if len(s.index) != pub.arts[p.Size] {
		t.Errorf("%s: %d articles indexed for a log of %d leaves, which has %d", what, len(s.index), p.Size, pub.arts[p.Size])
	}

	// Half-way, Check may report only what MissingBundles lists: articles
	// whose bundles have not arrived. Anything else is damage.
	isMissing := map[bundle.Digest]bool{}
	for _, d := range missing {
		isMissing[d] = true
	}
	reported := map[string]bool{}
	for _, pr := range probs {
		reported[pr.What] = true
	}
	current := map[string]bundle.Digest{} // by Check's name for the article
	for _, a := range s.index {
		if a.Retracted {
			continue
		}
		name := fmt.Sprintf("article %q", a.ID)
		current[name] = a.Digest
		if !isMissing[a.Digest] {
			s.held[a.Digest] = true
		} else if !reported[name] {
			t.Errorf("%s: MissingBundles lists %s of %s, but Check does not report it", what, a.Digest, name)
		}
	}
	for _, pr := range probs {
		if d, ok := current[pr.What]; !ok || !isMissing[d] || !errors.Is(pr.Err, store.ErrNotFound) {
			t.Errorf("%s: the store does not verify: %v", what, pr)
		}
	}
	s.missing = len(missing)
	if len(missing) != len(current)-len(s.held) {
		t.Errorf("%s: MissingBundles lists %d bundles, %d current articles lack theirs", what, len(missing), len(current)-len(s.held))
	}
	// A bundle once stored stays while it is current.
	lost := 0
	for _, d := range current {
		if prev.held[d] && !s.held[d] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d current bundles that an earlier run stored are gone", what, lost)
	}
	return s
}

// strayFiles counts the files an interrupted write left: bundle files that
// no committed transaction records (written before a commit that did not
// happen, or superseded and not yet deleted), and anything in tmp/, where
// stores written by older versions staged bundles. Open removes both.
func strayFiles(st *store.Store) (tmp, bundles int) {
	ents, _ := os.ReadDir(filepath.Join(st.Dir(), "tmp"))
	tmp = len(ents)
	filepath.WalkDir(filepath.Join(st.Dir(), "bundles"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if dg, err := bundle.ParseDigest(d.Name()); err != nil || !st.HasBundle(dg) {
			bundles++
		}
		return nil
	})
	return tmp, bundles
}
