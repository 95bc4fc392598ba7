package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// copyStore makes dst a copy of the store in src: bundle files are hard
// links (they are immutable and content-addressed), store.db is copied.
func copyStore(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case strings.HasPrefix(rel, "bundles"+string(filepath.Separator)):
			return os.Link(path, out)
		case rel == "store.db":
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			o, err := os.Create(out)
			if err != nil {
				return err
			}
			if _, err := io.Copy(o, in); err != nil {
				o.Close()
				return err
			}
			return o.Close()
		}
		return nil // node.key and the like: not copied
	})
}

// udpProxy relays datagrams between one client and a server on loopback
// and counts them: what crosses it is what the sync sends on the wire.
type udpProxy struct {
	front, back *net.UDPConn
	client      atomic.Pointer[net.UDPAddr]

	mu   gosync.Mutex
	pkts []pkt
}

type pkt struct {
	t    time.Time
	up   bool // client to server
	size int
}

func newUDPProxy(server *net.UDPAddr) (*udpProxy, error) {
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	back, err := net.DialUDP("udp", nil, server)
	if err != nil {
		front.Close()
		return nil, err
	}
	front.SetReadBuffer(4 << 20)
	back.SetReadBuffer(4 << 20)
	p := &udpProxy{front: front, back: back}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, addr, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.client.Store(addr)
			p.record(true, n)
			back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := p.client.Load(); c != nil {
				p.record(false, n)
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return p, nil
}

func (p *udpProxy) record(up bool, n int) {
	p.mu.Lock()
	p.pkts = append(p.pkts, pkt{time.Now(), up, n})
	p.mu.Unlock()
}

func (p *udpProxy) Close() { p.front.Close(); p.back.Close() }

// mark returns the number of datagrams so far.
func (p *udpProxy) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pkts)
}

// quiet waits until no datagram has crossed for d, at most max.
func (p *udpProxy) quiet(d, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		last := time.Time{}
		if len(p.pkts) > 0 {
			last = p.pkts[len(p.pkts)-1].t
		}
		p.mu.Unlock()
		if time.Since(last) >= d {
			return
		}
		time.Sleep(d / 10)
	}
}

type traffic struct {
	upB, downB, upN, downN int
	bigB, bigN             int // datagrams of 1,400 B or more: mostly path MTU probes
}

func (t traffic) payload() int { return t.upB + t.downB }
func (t traffic) n() int       { return t.upN + t.downN }

// ipUDPHeader is the IPv4 and UDP header of each datagram.
const ipUDPHeader = 28

func (t traffic) wire() int { return t.payload() + ipUDPHeader*t.n() }

// span sums datagrams [from, to), and those before the time cut into a
// and the rest into b.
func (p *udpProxy) span(from, to int, cut time.Time) (a, b traffic) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.pkts[from:to] {
		t := &b
		if k.t.Before(cut) {
			t = &a
		}
		if k.size >= 1400 {
			t.bigB += k.size
			t.bigN++
		}
		if k.up {
			t.upB += k.size
			t.upN++
		} else {
			t.downB += k.size
			t.downN++
		}
	}
	return a, b
}

// exchange is one request and its answer: one stream.
type exchange struct {
	byServer   bool // opened by the node behind the wrapped listener
	typ        byte
	start, end time.Time
}

// recorder wraps the listener of the serving node and records every
// stream of its sessions, in both directions.
type recorder struct {
	session.Listener
	mu       gosync.Mutex
	ex       []*exchange
	accepted time.Time // when the last session's handshake completed
}

func (r *recorder) Accept(ctx context.Context) (session.Conn, error) {
	c, err := r.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.accepted = time.Now()
	r.mu.Unlock()
	return &recConn{Conn: c, r: r}, nil
}

func (r *recorder) add(e *exchange) {
	r.mu.Lock()
	r.ex = append(r.ex, e)
	r.mu.Unlock()
}

func (r *recorder) since(i int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, e := range r.ex[i:] {
		out = append(out, *e)
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ex)
}

type recConn struct {
	session.Conn
	r *recorder
}

func (c *recConn) OpenStream(ctx context.Context) (session.Stream, error) {
	start := time.Now()
	s, err := c.Conn.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	e := &exchange{byServer: true, start: start}
	c.r.add(e)
	return &recStream{Stream: s, e: e, r: c.r}, nil
}

func (c *recConn) AcceptStream(ctx context.Context) (session.Stream, error) {
	s, err := c.Conn.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	e := &exchange{start: time.Now()}
	c.r.add(e)
	return &recStream{Stream: s, e: e, r: c.r}, nil
}

type recStream struct {
	session.Stream
	e *exchange
	r *recorder
}

func (s *recStream) Write(p []byte) (int, error) {
	s.r.mu.Lock()
	if s.e.byServer && s.e.typ == 0 && len(p) > 0 {
		s.e.typ = p[0]
	}
	s.r.mu.Unlock()
	return s.Stream.Write(p)
}

func (s *recStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.r.mu.Lock()
	if !s.e.byServer && s.e.typ == 0 && n > 0 {
		s.e.typ = p[0]
	}
	if s.e.byServer && err != nil && s.e.end.IsZero() {
		s.e.end = time.Now()
	}
	s.r.mu.Unlock()
	return n, err
}

func (s *recStream) CloseWrite() error {
	s.r.mu.Lock()
	if !s.e.byServer && s.e.end.IsZero() {
		s.e.end = time.Now()
	}
	s.r.mu.Unlock()
	return s.Stream.CloseWrite()
}

var typeNames = map[byte]string{0x01: "list", 0x02: "statement", 0x03: "leaves", 0x04: "bundle", 0x05: "announce"}

// roundTrips is the longest chain of exchanges that wait for each other:
// one side's request that starts after its previous one ended, or the
// peer's request opened inside an announce (the announce's answer waits
// for the fetch it causes).
func roundTrips(ex []exchange) int {
	sort.Slice(ex, func(i, j int) bool { return ex[i].start.Before(ex[j].start) })
	best := make([]int, len(ex))
	longest := 0
	for j := range ex {
		best[j] = 1
		for i := range j {
			// A side's own requests wait for each other; a request by
			// the other side waits on nothing but an announce it
			// answers (it is opened inside the announce).
			after := ex[i].byServer == ex[j].byServer && !ex[i].end.IsZero() && !ex[j].start.Before(ex[i].end)
			nested := ex[i].typ == 0x05 && ex[i].byServer != ex[j].byServer && ex[j].start.After(ex[i].start) && !ex[j].end.IsZero() && !ex[i].end.Before(ex[j].end)
			if (after || nested) && best[i]+1 > best[j] {
				best[j] = best[i] + 1
			}
		}
		longest = max(longest, best[j])
	}
	return longest
}

func describe(ex []exchange, origin time.Time, server, client string) string {
	var parts []string
	for _, e := range ex {
		who := client
		if e.byServer {
			who = server
		}
		end := "open"
		if !e.end.IsZero() {
			end = fmt.Sprintf("%.1f", e.end.Sub(origin).Seconds()*1e3)
		}
		parts = append(parts, fmt.Sprintf("%s %s [%.1f-%s ms]", who, typeNames[e.typ], e.start.Sub(origin).Seconds()*1e3, end))
	}
	return strings.Join(parts, "; ")
}

// runIncr measures an incremental sync when base's articles are shared:
// A holds base plus new articles, B holds base. Phase 1: B connects to A
// (as `samizdat mirror --peer A` does) and pulls the 1 new article.
// Phase 2: on that live session, A publishes 1 more and announces it
// (Notify), as after `samizdat publish` on a mirror's own store.
func runIncr(args []string) {
	fs := flag.NewFlagSet("incr", flag.ExitOnError)
	base := fs.String("base", "", "the shared store (not changed)")
	work := fs.String("work", "", "scratch directory (emptied)")
	fs.Parse(args)
	os.RemoveAll(*work)
	dirA, dirB := filepath.Join(*work, "a"), filepath.Join(*work, "b")
	t0 := time.Now()
	for _, d := range []string{dirA, dirB} {
		if err := copyStore(*base, d); err != nil {
			fatal(err)
		}
	}
	fmt.Printf("incr: copied the shared store twice in %.1f s\n", time.Since(t0).Seconds())
	p := newBenchPublisher()
	root := p.root.Public()
	stA, err := store.Open(dirA, nil)
	if err != nil {
		fatal(err)
	}
	defer stA.Close()
	stB, err := store.Open(dirB, nil)
	if err != nil {
		fatal(err)
	}
	defer stB.Close()
	pubA, err := stA.Publisher(root.ID())
	if err != nil {
		fatal(err)
	}
	shared := pubA.Size
	articles, err := stA.Articles(root.ID())
	if err != nil {
		fatal(err)
	}
	next := len(articles)
	publishOne := func() int {
		res, err := p.publisher(stA, benchEpoch.Add(time.Duration(next+1)*time.Second)).Publish([]publish.Item{item(next)})
		if err != nil {
			fatal(err)
		}
		b, err := stA.Bundle(res[0].Digest)
		if err != nil {
			fatal(err)
		}
		next++
		return len(b)
	}
	size1 := publishOne()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nodeA, err := replica.New(stA, []*keys.PublicKey{root}, &replica.Config{Logger: log})
	if err != nil {
		fatal(err)
	}
	lnA, err := session.ListenQUIC("127.0.0.1:0", nodeA.Key())
	if err != nil {
		fatal(err)
	}
	rec := &recorder{Listener: lnA}
	px, err := newUDPProxy(lnA.Addr().(*net.UDPAddr))
	if err != nil {
		fatal(err)
	}
	defer px.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Go(func() { nodeA.Serve(ctx, rec) })
	nodeB, err := replica.New(stB, []*keys.PublicKey{root}, &replica.Config{Logger: log, Peers: []replica.Peer{{Addr: "quic://" + px.front.LocalAddr().String()}}})
	if err != nil {
		fatal(err)
	}

	waitBundles := func(n uint64) {
		deadline := time.Now().Add(60 * time.Second)
		for nodeB.Stats().BundlesAdded < n {
			if time.Now().After(deadline) {
				fatal(fmt.Errorf("incr: B did not get the new bundle within 60 s"))
			}
			time.Sleep(time.Millisecond)
		}
	}

	fmt.Printf("incr: %d log entries shared (%d articles); new bundles of %d and", shared, len(articles), size1)
	// Phase 1.
	start := time.Now()
	wg.Go(func() { nodeB.Run(ctx) })
	waitBundles(1)
	took1 := time.Since(start)
	px.quiet(300*time.Millisecond, 5*time.Second)
	m1 := px.mark()
	rec.mu.Lock()
	accepted := rec.accepted
	rec.mu.Unlock()
	hs, after := px.span(0, m1, accepted)
	ex1 := rec.since(0)
	n1 := rec.count()

	// Phase 2.
	size2 := publishOne()
	fmt.Printf(" %d bytes\n", size2)
	start2 := time.Now()
	nodeA.Notify(root.ID())
	waitBundles(2)
	took2 := time.Since(start2)
	px.quiet(300*time.Millisecond, 5*time.Second)
	m2 := px.mark()
	_, t2 := px.span(m1, m2, time.Time{})
	ex2 := rec.since(n1)
	if os.Getenv("MIRRORBENCH_PACKETS") != "" {
		px.mu.Lock()
		for _, k := range px.pkts {
			fmt.Fprintf(os.Stderr, "%s up=%v %d\n", k.t.Format("15:04:05.000000"), k.up, k.size)
		}
		px.mu.Unlock()
	}

	cancel()
	wg.Wait()
	if pb, err := stB.Publisher(root.ID()); err != nil || pb.Size != shared+2 {
		fatal(fmt.Errorf("incr: B's log has %v entries, want %d (%v)", pb, shared+2, err))
	}
	if missing, err := stB.MissingBundles(root.ID()); err != nil || len(missing) != 0 {
		fatal(fmt.Errorf("incr: B lacks %d bundles (%v)", len(missing), err))
	}

	fmt.Printf("incr: phase 1, B connects to A and pulls 1 new article: %.0f ms\n", took1.Seconds()*1e3)
	fmt.Printf("incr:   QUIC handshake: %d B of UDP payload in %d datagrams (%d B with IP/UDP headers)\n", hs.payload(), hs.n(), hs.wire())
	fmt.Printf("incr:   after the handshake: %d B of UDP payload (B->A %d B in %d, A->B %d B in %d datagrams), %d B with IP/UDP headers; minus the %d-byte bundle: %d B\n",
		after.payload(), after.upB, after.upN, after.downB, after.downN, after.wire(), size1, after.payload()-size1)
	fmt.Printf("incr:   of which %d datagrams of 1,400 B or more (%d B): quic-go's path MTU probes (PING and padding) and their like, sent once per connection in its first second\n", after.bigN, after.bigB)
	fmt.Printf("incr:   exchanges (streams) %d, round trips %d: %s\n", len(ex1), roundTrips(ex1), describe(ex1, accepted, "A", "B"))
	fmt.Printf("incr: phase 2, A announces 1 new article on the live session: %.0f ms\n", took2.Seconds()*1e3)
	fmt.Printf("incr:   %d B of UDP payload (A->B %d B in %d, B->A %d B in %d datagrams), %d B with IP/UDP headers; minus the %d-byte bundle: %d B\n",
		t2.payload(), t2.downB, t2.downN, t2.upB, t2.upN, t2.wire(), size2, t2.payload()-size2)
	fmt.Printf("incr:   of which %d datagrams of 1,400 B or more (%d B)\n", t2.bigN, t2.bigB)
	fmt.Printf("incr:   exchanges (streams) %d, round trips %d: %s\n", len(ex2), roundTrips(ex2), describe(ex2, start2, "A", "B"))
	// One machine-readable line for the script's table.
	fmt.Printf("INCR p1_ms=%.0f p1_hs=%d p1_payload=%d p1_wire=%d p1_bundle=%d p1_big=%d p1_ex=%d p1_rt=%d p2_ms=%.0f p2_payload=%d p2_wire=%d p2_bundle=%d p2_ex=%d p2_rt=%d\n",
		took1.Seconds()*1e3, hs.payload(), after.payload(), after.wire(), size1, after.bigB, len(ex1), roundTrips(ex1),
		took2.Seconds()*1e3, t2.payload(), t2.wire(), size2, len(ex2), roundTrips(ex2))
}
