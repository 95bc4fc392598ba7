// Command attackbench runs the attacks of issue 8 on the sync protocol
// against the real `samizdat mirror` binary on loopback, and measures the
// mirror's peak RSS and the time of an honest `samizdat push` to it during
// each attack. It is a benchmark tool, not part of samizdat, and not run
// by CI: it needs Linux (127.0.0.0/8 all loopback, /proc) and a minute.
//
//	go build -o /tmp/samizdat ./cmd/samizdat
//	go run ./bench/cmd/attackbench -bin /tmp/samizdat [-old /tmp/samizdat-old] [-attacks quic,tcp,garbage,flood,handshakes] [-for 10s]
//
// Each attack gets a fresh mirror process (a fresh store that first takes
// the bench publisher by one push), so that VmHWM is the attack's:
//
//   - quic, tcp: 16 sessions × 64 streams from 127.0.0.2, each stream an
//     announce whose header claims 1 MiB, followed by 1 MiB, never closed;
//     the attacker opens a new stream as each ends, a new session as each
//     dies.
//   - garbage: a hostile node offers the publisher's log, 16 articles
//     ahead of the mirror, from 4 sessions from 127.0.0.3 at once, each
//     dialed again every 3 s; it answers every bundle request with 96 MiB
//     of garbage, 8 streams at a time.
//   - flood: 16 addresses (127.0.0.2–17) × 16 idle sessions, each made
//     again as soon as the mirror closes it.
//   - handshakes: 100 TCP connections from 127.0.0.18 that never start
//     TLS, each made again as soon as the mirror closes it.
//
// During each attack the publisher publishes an article and pushes it
// (over TCP for tcp and handshakes, else QUIC) three times, 2 s apart.
// -old runs the same attacks against a second binary (the code before the
// fix), whose mirror is killed if its RSS passes -rss-cap.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "attackbench:", err)
	os.Exit(1)
}

func main() {
	bin := flag.String("bin", "", "the samizdat binary to attack (required)")
	old := flag.String("old", "", "another samizdat binary to attack the same way, e.g. built from before the fix")
	list := flag.String("attacks", "quic,tcp,garbage,flood,handshakes", "attacks to run, comma-separated")
	dur := flag.Duration("for", 10*time.Second, "length of each attack")
	work := flag.String("work", "", "work directory (default: a new temporary one, removed at the end)")
	rssCap := flag.Int64("rss-cap", 3<<30, "kill a mirror whose RSS passes this many bytes")
	logLevel := flag.String("log-level", "warn", "the mirrors' log level")
	logDir := flag.String("logs", "", "a directory to keep the mirrors' logs in")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: attackbench -bin SAMIZDAT [-old SAMIZDAT] [-attacks LIST] [-for D]")
		os.Exit(2)
	}
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "attackbench"); err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	b := &bench{dir: dir, dur: *dur, rssCap: *rssCap, logLevel: *logLevel, logDir: *logDir}
	b.pub = newPublisher()
	b.setup()
	bins := []string{*bin}
	if *old != "" {
		bins = append(bins, *old)
	}
	fmt.Printf("%-10s %-8s %12s %12s  %s\n", "attack", "binary", "peak RSS", "RSS before", "honest pushes during the attack")
	for _, name := range strings.Split(*list, ",") {
		a, ok := attacks[name]
		if !ok {
			fatal(fmt.Errorf("unknown attack %q", name))
		}
		for i, bn := range bins {
			label := "new"
			if i == 1 {
				label = "old"
			}
			r := b.run(bn, name, a)
			fmt.Printf("%-10s %-8s %9.1f MB %9.1f MB  %s\n", name, label, float64(r.peak)/1e6, float64(r.before)/1e6, r.pushes)
		}
	}
}

// bench holds what the attacks share: the publisher's stores.
type bench struct {
	dir    string
	dur    time.Duration
	rssCap int64
	pub    *publisher

	logLevel, logDir string
	mu               sync.Mutex // the publisher's store is used by one at a time
	n                int        // articles published so far
	image            int        // bytes of an incompressible image in each article published during an attack (0: none)

	pubFile string // the publisher's public key file, for --trust
	early   string // a copy of the publisher's store before its last 16 articles
	ahead   *logSnapshot
}

// publisher is the bench's publisher, with keys from fixed seeds.
type publisher struct {
	root, signer *keys.PrivateKey
	statement    []byte
	store        string
}

func benchKey(name string, role keys.Role) *keys.PrivateKey {
	seed := sha256.Sum256([]byte("samizdat attack bench key " + string(role) + " " + name))
	k, err := keys.NewPrivateKey(name, role, seed[:])
	if err != nil {
		fatal(err)
	}
	return k
}

func newPublisher() *publisher {
	p := &publisher{root: benchKey("attack-news", keys.RoleRoot), signer: benchKey("attack-news/signing-1", keys.RoleSigning)}
	st := &keys.Statement{Publisher: p.root.Public(), Version: 1, Issued: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Keys: []keys.Delegation{{Key: p.signer.Public(), NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	var err error
	if p.statement, err = st.Sign(p.root); err != nil {
		fatal(err)
	}
	return p
}

// publish adds k articles to the publisher's store.
func (b *bench) publish(k int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := store.Open(b.pub.store, &store.Options{Create: true})
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	pp, err := publish.New(st, b.pub.root.Public(), b.pub.statement, b.pub.signer, nil)
	if err != nil {
		fatal(err)
	}
	var items []publish.Item
	for range k {
		b.n++
		files := []bundle.File{{Type: "text/html", Data: fmt.Appendf(nil, "<p>The text of article %d.</p>", b.n)}}
		if b.image > 0 {
			img := make([]byte, b.image)
			rand.Read(img)
			copy(img, "\x89PNG\r\n\x1a\n")
			files = append(files, bundle.File{Name: "img/photo.png", Type: "image/png", Data: img})
		}
		items = append(items, publish.Item{
			Meta: bundle.Metadata{ID: fmt.Sprintf("article-%04d", b.n), Title: fmt.Sprintf("Article %d", b.n), Language: "en",
				Created: time.Now().UTC(), Updated: time.Now().UTC()},
			Files: files,
		})
	}
	if _, err := pp.Publish(items); err != nil {
		fatal(err)
	}
}

// logSnapshot is what a hostile node offers of the publisher: the real
// statement, leaves and checkpoint, read once (a store is locked while
// open, and `samizdat push` opens the publisher's).
type logSnapshot struct {
	entry     session.Entry
	statement []byte
	leaves    [][]byte
}

func (b *bench) setup() {
	b.pub.store = filepath.Join(b.dir, "publisher")
	b.pubFile = filepath.Join(b.dir, "publisher.pub")
	if err := os.WriteFile(b.pubFile, []byte(b.pub.root.Public().String()+"\n"), 0o644); err != nil {
		fatal(err)
	}
	b.publish(1)
	b.early = filepath.Join(b.dir, "publisher-early")
	if err := os.CopyFS(b.early, os.DirFS(b.pub.store)); err != nil {
		fatal(err)
	}
	b.publish(16)
	st, err := store.Open(b.pub.store, nil)
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	id := b.pub.root.Public().ID()
	p, err := st.Publisher(id)
	if err != nil {
		fatal(err)
	}
	leaves, err := st.Leaves(id, 0, p.Size)
	if err != nil {
		fatal(err)
	}
	b.ahead = &logSnapshot{entry: session.Entry{Pub: id, Version: 1, Checkpoint: p.Checkpoint}, statement: p.Statement, leaves: leaves}
}

// mirror is a running `samizdat mirror`.
type mirror struct {
	cmd             *exec.Cmd
	quic, tcp, http string
	killed          atomic.Bool
}

// pageAfter polls the mirror for the newest article's page, up to 10 s,
// and returns how long after t0 it was first served whole (every entry).
func (m *mirror) pageAfter(b *bench, t0 time.Time) string {
	b.mu.Lock()
	u := fmt.Sprintf("http://%s/p/%s/a/article-%04d/", m.http, b.pub.root.Public().ID(), b.n)
	img := b.image
	b.mu.Unlock()
	_ = img
	cl := &http.Client{Timeout: 4 * time.Second}
	for time.Since(t0) < 10*time.Second {
		r, err := cl.Get(u)
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				return fmt.Sprintf("%.2fs", time.Since(t0).Seconds())
			}
		}
		time.Sleep(50 * time.Millisecond) // an external process: polling is all there is
	}
	return "not served in 10s"
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer is a bytes.Buffer safe for the mirror's writes and our reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 16<<20 {
		return len(p), nil // enough to diagnose
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startMirror(bin, dir, pubFile, level string) (*mirror, *lockedBuffer) {
	q, t, hp := freePort(), freePort(), freePort()
	m := &mirror{quic: fmt.Sprintf("127.0.0.1:%d", q), tcp: fmt.Sprintf("127.0.0.1:%d", t), http: fmt.Sprintf("127.0.0.1:%d", hp)}
	log := &lockedBuffer{}
	m.cmd = exec.Command(bin, "mirror", "--store", dir, "--trust", pubFile, "--quic", m.quic, "--tcp", m.tcp, "--http", m.http, "--log-level", level)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		fatal(err)
	}
	// Ready once both listeners answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.tcp, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			fatal(fmt.Errorf("mirror did not start: %s", log.String()))
		}
		time.Sleep(20 * time.Millisecond) // an external process: polling is all there is
	}
	return m, log
}

// status reads a field of /proc/PID/status, in bytes.
func status(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v << 10
}

func (m *mirror) stop() {
	m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
}

// push runs `samizdat push` of the publisher's store to addr and returns
// how long it took.
func (b *bench) push(bin, addr string) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "push", "-s", b.pub.store, addr).CombinedOutput()
	el := time.Since(start)
	if err != nil {
		return el, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return el, nil
}

// pushFrom runs `samizdat push` of another store.
func pushFrom(bin, storeDir, addr string) error {
	out, err := exec.Command(bin, "push", "-s", storeDir, addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

type result struct {
	peak, before int64
	pushes       string
}

// attack is one attack: it runs against the mirror until ctx ends. push
// is the transport of the honest pushes during it; early, that the mirror
// first takes the publisher's early store, not its whole one.
type attack struct {
	run   func(ctx context.Context, b *bench, m *mirror)
	push  string
	early bool
	image int // bytes of the image in each article pushed during the attack
}

var attacks = map[string]attack{
	"quic":       {run: func(ctx context.Context, b *bench, m *mirror) { frames(ctx, quicDial, m.quic) }, push: "quic"},
	"tcp":        {run: func(ctx context.Context, b *bench, m *mirror) { frames(ctx, tcpDial, m.tcp) }, push: "tcp"},
	"garbage":    {run: func(ctx context.Context, b *bench, m *mirror) { garbage(ctx, b.ahead, m.quic) }, push: "quic", early: true},
	"flood":      {run: func(ctx context.Context, b *bench, m *mirror) { flood(ctx, m.quic) }, push: "quic"},
	"handshakes": {run: func(ctx context.Context, b *bench, m *mirror) { handshakes(ctx, m.tcp) }, push: "tcp"},
	"stall":      {run: func(ctx context.Context, b *bench, m *mirror) { stall(ctx, b.ahead, m.quic, 1, 65<<10+5) }, push: "quic", early: true, image: 200 << 10},
	"stall32":    {run: func(ctx context.Context, b *bench, m *mirror) { stall(ctx, b.ahead, m.quic, 32, 65<<10+5) }, push: "quic", early: true, image: 200 << 10},
	"stall13m":   {run: func(ctx context.Context, b *bench, m *mirror) { stall(ctx, b.ahead, m.quic, 1, 13<<20) }, push: "quic", early: true, image: 200 << 10},
	"probation":  {run: func(ctx context.Context, b *bench, m *mirror) { floodFrom(ctx, m.quic, 48, 17, time.Second) }, push: "quic"},
	"redial":     {run: func(ctx context.Context, b *bench, m *mirror) { floodFrom(ctx, m.quic, 48, 17, 10*time.Millisecond) }, push: "quic"},
}

func (b *bench) run(bin, name string, a attack) result {
	dir, err := os.MkdirTemp(b.dir, "mirror-"+name)
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	m, log := startMirror(bin, dir, b.pubFile, b.logLevel)
	defer m.stop()
	if b.logDir != "" {
		defer func() {
			os.WriteFile(filepath.Join(b.logDir, fmt.Sprintf("%s-%s.log", name, filepath.Base(bin))), []byte(log.String()), 0o644)
		}()
	}
	pid := m.cmd.Process.Pid
	src := b.pub.store
	if a.early {
		src = b.early
	}
	b.mu.Lock()
	err = pushFrom(bin, src, "quic://"+m.quic)
	b.mu.Unlock()
	if err != nil {
		fatal(fmt.Errorf("%s: first push: %v; mirror log: %s", name, err, log.String()))
	}
	before := status(pid, "VmRSS")
	ctx, cancel := context.WithTimeout(context.Background(), b.dur)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.run(ctx, b, m) })
	// A guard against a mirror that would eat the machine.
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if status(pid, "VmRSS") > b.rssCap {
					m.killed.Store(true)
					m.cmd.Process.Kill()
					return
				}
			}
		}
	})
	addr := "quic://" + m.quic
	if a.push == "tcp" {
		addr = "tcp://" + m.tcp
	}
	var pushes []string
	for range 3 {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		if ctx.Err() != nil || m.killed.Load() {
			break
		}
		b.image = a.image
		b.publish(1)
		b.image = 0
		t0 := time.Now()
		el, err := b.push(bin, addr)
		s := fmt.Sprintf("%.2fs", el.Seconds())
		if err != nil {
			s += " (failed: " + oneLine(err.Error()) + ")"
		}
		// How long until a reader gets the article's page.
		s += " (page " + m.pageAfter(b, t0) + ")"
		pushes = append(pushes, s)
	}
	<-ctx.Done()
	peak := status(pid, "VmHWM")
	if m.killed.Load() {
		pushes = append(pushes, fmt.Sprintf("mirror killed at RSS > %d MB", b.rssCap/1e6))
		peak = b.rssCap
	}
	wg.Wait()
	return result{peak: peak, before: before, pushes: strings.Join(pushes, ", ")}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}

type dialFunc func(ctx context.Context, d *session.Dialer, addr string, key ed25519.PrivateKey) (session.Conn, error)

func quicDial(ctx context.Context, d *session.Dialer, addr string, key ed25519.PrivateKey) (session.Conn, error) {
	return d.DialQUIC(ctx, addr, key, nil)
}

func tcpDial(ctx context.Context, d *session.Dialer, addr string, key ed25519.PrivateKey) (session.Conn, error) {
	return d.DialTCP(ctx, addr, key, nil)
}

// pause waits d or until ctx ends, and reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// frames runs 16 sessions of 64 streams from 127.0.0.2, each stream an
// announce (type 0x05) whose header claims 1 MiB, followed by 1 MiB.
func frames(ctx context.Context, dial dialFunc, addr string) {
	const sessions, streams, claim = 16, 64, 1 << 20
	hdr := []byte{0x05, 0, 0x10, 0, 0}
	payload := make([]byte, claim)
	d := &session.Dialer{LocalIP: net.ParseIP("127.0.0.2")}
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			_, key, _ := ed25519.GenerateKey(nil)
			for ctx.Err() == nil {
				c, err := dial(ctx, d, addr, key)
				if err != nil {
					pause(ctx, 50*time.Millisecond)
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				var sw sync.WaitGroup
				var dead atomic.Bool
				for range streams {
					sw.Go(func() {
						for ctx.Err() == nil && !dead.Load() {
							s, err := c.OpenStream(ctx)
							if err != nil {
								dead.Store(true)
								return
							}
							s.SetDeadline(time.Now().Add(40 * time.Second))
							var w sync.WaitGroup
							w.Go(func() {
								if _, err := s.Write(hdr); err == nil {
									s.Write(payload)
								}
							})
							buf := make([]byte, 512)
							for {
								if _, err := s.Read(buf); err != nil {
									break
								}
							}
							s.Reset()
							w.Wait()
						}
					})
				}
				sw.Wait()
				stop()
				c.Close()
			}
		})
	}
	wg.Wait()
}

// hostile is the model of a node that offers the publisher's real log and
// answers bundle requests with garbage.
type hostile struct {
	log     *logSnapshot
	garbage []byte
}

func (h *hostile) List() ([]session.Entry, error) { return []session.Entry{h.log.entry}, nil }
func (h *hostile) Statement(pub string) ([]byte, error) {
	return h.log.statement, nil
}
func (h *hostile) Leaves(pub string, from, to int64) ([][]byte, error) {
	to = min(to, int64(len(h.log.leaves)))
	if from >= to {
		return nil, nil
	}
	return h.log.leaves[from:to], nil
}
func (h *hostile) BundleSize(bundle.Digest) (int64, bool) { return int64(len(h.garbage)), true }
func (h *hostile) Bundle(bundle.Digest) ([]byte, error)   { return h.garbage, nil }
func (h *hostile) MirrorList(string) ([]byte, error) {
	return nil, session.NotFound(errors.New("none"))
}
func (h *hostile) Hello(session.Conn, string) string             { return "" }
func (h *hostile) Connected(ctx context.Context, _ session.Conn) { <-ctx.Done() }
func (h *hostile) Closed(session.Conn)                           {}
func (h *hostile) Announce(context.Context, session.Conn, *session.Entry) error {
	return session.Refused(errors.New("no"))
}

// garbage has a hostile node dial the mirror from 127.0.0.3 in 4
// sessions at once, each for 3 s: on each the mirror pulls the log, lacks
// its 16 newest bundles, and asks for them, 8 at a time.
func garbage(ctx context.Context, log *logSnapshot, addr string) {
	m := &hostile{log: log, garbage: make([]byte, 96<<20)}
	for i := range m.garbage {
		m.garbage[i] = byte(i * 31)
	}
	h := session.New(m, &session.Config{MaxSendBytes: 1 << 30, RateLimit: -1})
	d := &session.Dialer{LocalIP: net.ParseIP("127.0.0.3")}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, key, _ := ed25519.GenerateKey(nil)
			for ctx.Err() == nil {
				c, err := d.DialQUIC(ctx, addr, key, nil)
				if err != nil {
					pause(ctx, 50*time.Millisecond)
					continue
				}
				sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				h.ServeConn(sctx, c)
				cancel()
			}
		})
	}
	wg.Wait()
}

// flood keeps 16 idle sessions open from each of 16 addresses.
func flood(ctx context.Context, addr string) {
	h := session.New(&hostile{log: &logSnapshot{}}, nil)
	var wg sync.WaitGroup
	for i := range 16 {
		d := &session.Dialer{LocalIP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 2+i))}
		for range 16 {
			wg.Go(func() {
				_, key, _ := ed25519.GenerateKey(nil)
				for ctx.Err() == nil {
					c, err := d.DialQUIC(ctx, addr, key, nil)
					if err != nil {
						pause(ctx, 100*time.Millisecond)
						continue
					}
					// Held until the mirror closes it (or refuses it).
					for ctx.Err() == nil {
						if _, err := h.List(ctx, c); err != nil {
							break
						}
						if !pause(ctx, 20*time.Second) {
							break
						}
					}
					c.Close()
					pause(ctx, 100*time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
}

// handshakes keeps 100 TCP connections from 127.0.0.18 that never start
// TLS.
func handshakes(ctx context.Context, addr string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.18")}}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					pause(ctx, 100*time.Millisecond)
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				bufio.NewReader(c).ReadByte() // until the mirror closes it
				stop()
				c.Close()
				pause(ctx, 10*time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// stallConn is a session whose answers stop after their first stallAfter
// bytes until the session ends: a frame header claiming the whole bundle,
// then silence.
type stallConn struct {
	session.Conn
	ctx   context.Context
	after int
}

func (c *stallConn) AcceptStream(ctx context.Context) (session.Stream, error) {
	s, err := c.Conn.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return &stallStream{Stream: s, ctx: c.ctx, after: c.after}, nil
}

type stallStream struct {
	session.Stream
	ctx         context.Context
	sent, after int
}

func (s *stallStream) Write(p []byte) (int, error) {
	if s.sent+len(p) <= s.after {
		s.sent += len(p)
		return s.Stream.Write(p)
	}
	n, err := s.Stream.Write(p[:s.after-s.sent])
	s.sent += n
	if err != nil {
		return n, err
	}
	<-s.ctx.Done()
	return n, s.ctx.Err()
}

// stall has a hostile node dial the mirror from n addresses (127.0.0.3
// on), one session each, redialed when it ends: on each the mirror pulls
// the log, lacks its 16 newest bundles and asks for them; every answer
// claims 96 MiB, sends its first after bytes and stalls.
func stall(ctx context.Context, log *logSnapshot, addr string, n, after int) {
	m := &hostile{log: log, garbage: make([]byte, 96<<20)}
	h := session.New(m, &session.Config{MaxSendBytes: 1 << 30, RateLimit: -1, RequestTimeout: 10 * time.Minute})
	var wg sync.WaitGroup
	for i := range n {
		d := &session.Dialer{LocalIP: net.ParseIP(fmt.Sprintf("127.0.1.%d", 3+i))}
		wg.Go(func() {
			_, key, _ := ed25519.GenerateKey(nil)
			for ctx.Err() == nil {
				c, err := d.DialQUIC(ctx, addr, key, nil)
				if err != nil {
					pause(ctx, 50*time.Millisecond)
					continue
				}
				h.ServeConn(ctx, &stallConn{Conn: c, ctx: ctx, after: after})
			}
		})
	}
	wg.Wait()
}

// floodFrom keeps per idle sessions open from each of addrs addresses
// (127.0.2.2 on): more than the general pool and the probation pool. A
// session is dialed again wait after the mirror closes or refuses it.
func floodFrom(ctx context.Context, addr string, addrs, per int, wait time.Duration) {
	h := session.New(&hostile{log: &logSnapshot{}}, nil)
	var wg sync.WaitGroup
	for i := range addrs {
		d := &session.Dialer{LocalIP: net.ParseIP(fmt.Sprintf("127.0.2.%d", 2+i))}
		for range per {
			wg.Go(func() {
				_, key, _ := ed25519.GenerateKey(nil)
				for ctx.Err() == nil {
					c, err := d.DialQUIC(ctx, addr, key, nil)
					if err != nil {
						pause(ctx, 100*time.Millisecond)
						continue
					}
					for ctx.Err() == nil {
						if _, err := h.List(ctx, c); err != nil {
							break
						}
						if !pause(ctx, 20*time.Second) {
							break
						}
					}
					c.Close()
					pause(ctx, wait)
				}
			})
		}
	}
	wg.Wait()
}
