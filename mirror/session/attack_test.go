package session

// The hostile suite: each finding of the review of issue 8 that concerns
// the session layer, replayed over real loopback sockets, from source
// addresses of 127.0.0.0/8 (all loopback on Linux), with a bound that the
// fix holds and the code before it did not.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// transport is one of the two transports of a session, for table tests.
type transport struct {
	name   string
	listen func(addr string, key ed25519.PrivateKey) (Listener, error)
	dial   func(d *Dialer, ctx context.Context, addr string, key ed25519.PrivateKey) (Conn, error)
}

var transports = []transport{
	{"QUIC",
		func(addr string, key ed25519.PrivateKey) (Listener, error) { return ListenQUIC(addr, key) },
		func(d *Dialer, ctx context.Context, addr string, key ed25519.PrivateKey) (Conn, error) {
			return d.DialQUIC(ctx, addr, key, nil)
		}},
	{"TCP",
		func(addr string, key ed25519.PrivateKey) (Listener, error) { return ListenTCP(addr, key) },
		func(d *Dialer, ctx context.Context, addr string, key ed25519.PrivateKey) (Conn, error) {
			return d.DialTCP(ctx, addr, key, nil)
		}},
}

// serveOver runs h on a loopback listener of tr until the test ends.
func serveOver(t testing.TB, tr transport, h *Host, key ed25519.PrivateKey) string {
	t.Helper()
	l, err := tr.listen("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, h, l)
}

// dialFrom opens a session over tr to addr from the loopback address ip,
// with a new key; it is closed when the test ends.
func dialFrom(t testing.TB, tr transport, ip, addr string) Conn {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tr.dial(&Dialer{LocalIP: net.ParseIP(ip)}, ctx, addr, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// heapWatch samples the Go heap in use until stop, which returns the
// largest increase over the heap in use when it started.
func heapWatch() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

func header(typ byte, n int) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ}, uint32(n))
}

const mib = 1 << 20

// TestOversizedFrames: one address (four over TCP, see TestTCPConnsPerIP)
// opens 16 sessions of 64 streams, each a request whose header claims
// 1 MiB, with 256 KiB of it sent and the stream left open, and opens
// another as each is answered, 4 times. Before the fix a node read every
// request up to 1 MiB and held it until the stream's 30 s deadline
// (1.05 GB of RSS over QUIC, 3.5 GB over TCP in the review). Now each
// type's limit is checked from the header: the request budget is set far
// above the attack so that the limits alone bound the heap; over TCP, a
// stream whose peer keeps sending after its answer ends the session.
func TestOversizedFrames(t *testing.T) {
	const sessions, streams, rounds, sent = 16, 64, 4, 256 << 10
	// Without the frame limits: over 1 GiB over QUIC, over 500 MiB over
	// TCP. With them, what the transports buffer: over QUIC the stream
	// windows of 64 KiB; over TCP yamux's windows of 256 KiB (buffers of
	// up to 512 KiB) of 12 streams a session (tcpStreams, tcpBacklog):
	// 16 × 12 × 512 KiB = 96 MiB at most.
	bounds := map[string]uint64{"QUIC": 48 * mib, "TCP": 128 * mib}
	for _, tr := range transports {
		bound := bounds[tr.name]
		t.Run(tr.name, func(t *testing.T) {
			h, key := newHost(t, &Config{MaxRequestBytes: 1 << 30, RateLimit: -1})
			addr := serveOver(t, tr, h, key)
			// Over TCP one address holds tcpConnsPerIP sessions: the
			// sessions come from as many addresses as needed.
			perIP := sessions
			if tr.name == "TCP" {
				perIP = tcpConnsPerIP
			}
			var cs []Conn
			for i := range sessions {
				cs = append(cs, dialFrom(t, tr, fmt.Sprintf("127.0.0.%d", 2+i/perIP), addr))
			}
			payload := make([]byte, sent)
			stop := heapWatch()
			ctx := testContext(t)
			var wg sync.WaitGroup
			var refused atomic.Int64
			start := time.Now()
			for _, c := range cs {
				for range streams {
					wg.Go(func() {
						// A few requests in turn, each left open: the
						// attacker never closes its side.
						for range rounds {
							s, err := c.OpenStream(ctx)
							if err != nil {
								return
							}
							s.SetDeadline(time.Now().Add(10 * time.Second))
							if _, err := s.Write(header(typeAnnounce, MaxFrameSize)); err != nil {
								return
							}
							// The payload is sent while the answer is
							// read: the node may stop reading before its
							// end. The writer ends with the session.
							go s.Write(payload)
							typ, p, err := readFrame(s, anyLimit)
							var re *RemoteError
							if err != nil || typ != respError || !errors.As(decodeError(p), &re) {
								return
							}
							if re.Code == CodeBadRequest {
								refused.Add(1)
							}
						}
					})
				}
			}
			wg.Wait()
			peak := stop()
			t.Logf("%d sessions × %d streams: %d refused as bad requests in %v; heap peak +%.1f MiB",
				sessions, streams, refused.Load(), time.Since(start).Round(time.Millisecond), float64(peak)/mib)
			if peak > bound {
				t.Errorf("heap grew by %.1f MiB, want at most %d MiB", float64(peak)/mib, bound/mib)
			}
			if refused.Load() == 0 {
				t.Error("no oversized request was answered error 2")
			}
			if s := h.Stats(); s.BadRequests == 0 {
				t.Errorf("stats %+v: no bad request counted", s)
			}
		})
	}
}

// TestReadTimeout: a request that stops halfway is answered error 2 once
// Config.ReadTimeout has passed, not at the stream's whole deadline.
func TestReadTimeout(t *testing.T) {
	h, key := newHost(t, &Config{ReadTimeout: 200 * time.Millisecond, RequestTimeout: 20 * time.Second})
	c := dial(t, serve(t, h, key), nil)
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	s.Write(append(header(typeStatement, maxIDPayload), 32, 'a', 'b'))
	typ, p, err := readFrame(s, anyLimit)
	el := time.Since(start)
	var re *RemoteError
	if err != nil || typ != respError || !errors.As(decodeError(p), &re) || re.Code != CodeBadRequest {
		t.Fatalf("answer 0x%02x %q %v, want error 2", typ, p, err)
	}
	if el > 3*time.Second {
		t.Errorf("answered after %v, want about the read timeout (200 ms)", el)
	}
}

// TestRequestBudget: requests held at once take room in
// Config.MaxRequestBytes; one that finds none within a second is answered
// error 6, while those holding room are read until their read timeout.
func TestRequestBudget(t *testing.T) {
	const held, extra = 4, 4
	h, key := newHost(t, &Config{MaxRequestBytes: held * MaxRequestSize, ReadTimeout: 3 * time.Second, RateLimit: -1})
	c := dial(t, serve(t, h, key), nil)
	ctx := testContext(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[byte]int{}
	for range held + extra {
		wg.Go(func() {
			s, err := c.OpenStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Reset()
			s.SetDeadline(time.Now().Add(10 * time.Second))
			// A request of the largest size, sent halfway.
			s.Write(append(header(typeAnnounce, MaxRequestSize), make([]byte, MaxRequestSize/2)...))
			typ, p, err := readFrame(s, anyLimit)
			var re *RemoteError
			if err != nil || typ != respError || !errors.As(decodeError(p), &re) {
				t.Errorf("answer 0x%02x %v, want an error", typ, err)
				return
			}
			mu.Lock()
			codes[re.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[CodeBusy] != extra || codes[CodeBadRequest] != held {
		t.Errorf("answers by code %v; want %d × error 6 (no room) and %d × error 2 (timed out)", codes, extra, held)
	}
}

// TestGarbageBundles: a peer answers 8 parallel bundle requests with
// 16 MiB of garbage each. Before the fix each answer was read whole
// before its hash was checked (1.15 GB of RSS at 96 MiB in the review);
// now answers are hashed as they stream, held in chunks charged to the
// receive budget (4 MiB here), and refused as not matching their digest.
func TestGarbageBundles(t *testing.T) {
	const size, budget, parallel = 16 * mib, 4 * mib, 8
	const bound = 64 * mib // the budget, one answer received alone, slack; unfixed: 8 × 16 MiB and more
	garbage := make([]byte, size)
	addr := fakePeer(t, func(c Conn, typ byte, p []byte) (byte, []byte) {
		if typ == typeBundle {
			return respBundle, garbage
		}
		return respError, encodeError(CodeNotFound)
	})
	h := New(newTestModel(), &Config{MaxBundleSize: size, MaxReceiveBytes: budget})
	c := dial(t, addr, nil)
	ctx := testContext(t)
	stop := heapWatch()
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	start := time.Now()
	for i := range parallel {
		wg.Go(func() {
			d := bundle.Digest(sha256.Sum256(fmt.Appendf(nil, "bundle %d", i)))
			var b []byte
			b, errs[i] = h.Bundle(ctx, c, d)
			if errs[i] == nil {
				t.Errorf("bundle %d: garbage of %d bytes taken", i, len(b))
			}
		})
	}
	wg.Wait()
	peak := stop()
	var mismatch, busy int
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrDigestMismatch):
			mismatch++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Errorf("Bundle: %v, want a digest mismatch or a full budget", err)
		}
	}
	t.Logf("%d answers of %d MiB: %d refused as not matching, %d given up for room, in %v; heap peak +%.1f MiB; %v",
		parallel, size/mib, mismatch, busy, time.Since(start).Round(time.Millisecond), float64(peak)/mib, errs[0])
	if mismatch == 0 {
		t.Error("no answer was refused as not matching its digest")
	}
	if peak > bound {
		t.Errorf("heap grew by %.1f MiB, want at most %d MiB", float64(peak)/mib, bound/mib)
	}
}

// TestStalledAnswer: a peer answers a bundle request with a header that
// claims the largest bundle, sends a little more than the first chunk and
// stalls. Before the fix the answer then took room for all it claimed,
// the whole large part of the receive budget, until its request timed
// out (30 s by default): every other answer larger than the first chunk,
// from any peer, found no room and was given up, and a publisher's push
// of an article with a 200 KiB image did not land (the red team's
// "stall" attack). Now an answer holds room only for what it sent and
// the chunk being read, and an honest 300 KiB bundle from another peer
// passes at once.
func TestStalledAnswer(t *testing.T) {
	const claim = 16 * mib
	stalled := make(chan struct{})
	release := make(chan struct{})
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := ListenQUIC("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(release)
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := l.Accept(context.Background())
		if err != nil {
			return
		}
		defer c.Close()
		s, err := c.AcceptStream(context.Background())
		if err != nil {
			return
		}
		if _, _, err := readFrame(s, requestLimit); err != nil {
			return
		}
		hdr := []byte{respBundle, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], claim)
		s.Write(hdr)
		s.Write(make([]byte, firstChunk+1024))
		close(stalled)
		<-release
		s.Reset()
	})

	h := New(newTestModel(), &Config{MaxBundleSize: claim, MaxReceiveBytes: 4 * mib})
	ctx := testContext(t)
	var stallErr error
	stallDone := make(chan struct{})
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(stallDone)
		_, stallErr = h.Bundle(sctx, dial(t, l.Addr().String(), nil), bundle.Digest{1})
	}()
	<-stalled
	// The stalled answer has been sent; wait until the node has read its
	// first chunk and holds room in the large part for more (polled: the
	// budget has no event to wait on).
	for deadline := time.Now().Add(5 * time.Second); ; {
		if !h.recv.large.sem.TryAcquire(h.recv.large.max) {
			break
		}
		h.recv.large.sem.Release(h.recv.large.max)
		if time.Now().After(deadline) {
			t.Fatal("the stalled answer took no room in 5 s")
		}
		runtime.Gosched()
	}

	b := bytesN(300 << 10)
	honest, hkey := New(newTestModel(b), nil), func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }()
	addr := serve(t, honest, hkey)
	start := time.Now()
	got, err := h.Bundle(ctx, dial(t, addr, nil), sha256.Sum256(b))
	el := time.Since(start)
	t.Logf("an honest 300 KiB bundle while a %d MiB answer stalls: %v, %v", claim/mib, el.Round(time.Millisecond), err)
	if err != nil || string(got) != string(b) {
		t.Errorf("honest bundle: %d bytes, %v; want it whole", len(got), err)
	}
	select {
	case <-stallDone:
		t.Errorf("the stalled answer ended early: %v", stallErr)
	default:
	}
}

// TestBundleAnswers: honest bundles of every size up to the limit pass
// through the chunks, larger than the budget's large part too (received
// alone); one byte more than asked for, or one byte less, does not.
func TestBundleAnswers(t *testing.T) {
	var bs [][]byte
	for _, n := range []int{1, firstChunk - 1, firstChunk, firstChunk + 1, 300 << 10, 3*mib + 5} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		bs = append(bs, b)
	}
	h, key := New(newTestModel(bs...), nil), func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }()
	addr := serve(t, h, key)
	client := New(newTestModel(), &Config{MaxBundleSize: 4 * mib, MaxReceiveBytes: 1 * mib})
	c := dial(t, addr, nil)
	for _, b := range bs {
		got, err := client.Bundle(testContext(t), c, sha256.Sum256(b))
		if err != nil || string(got) != string(b) {
			t.Errorf("bundle of %d bytes: %d bytes, %v", len(b), len(got), err)
		}
	}
	short := bytesN(100)
	long := append(bytesN(100), 0)
	addr = fakePeer(t, func(c Conn, typ byte, p []byte) (byte, []byte) { return respBundle, long })
	if _, err := client.Bundle(testContext(t), dial(t, addr, nil), sha256.Sum256(short)); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("a byte more: %v, want a digest mismatch", err)
	}
	addr = fakePeer(t, func(c Conn, typ byte, p []byte) (byte, []byte) { return respBundle, short[:99] })
	if _, err := client.Bundle(testContext(t), dial(t, addr, nil), sha256.Sum256(short)); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("a byte less: %v, want a digest mismatch", err)
	}
}

func bytesN(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// push announces testPub from a new session from ip, as a publisher's
// push does, and returns how long it took, dial included.
func push(t *testing.T, tr transport, ip, addr string) (time.Duration, error) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	pusher := New(newTestModel(), nil)
	ctx := testContext(t)
	start := time.Now()
	c, err := tr.dial(&Dialer{LocalIP: net.ParseIP(ip)}, ctx, addr, key)
	if err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	err = pusher.Announce(ctx, c, &Entry{Pub: testPub, Version: 1, Checkpoint: []byte("a checkpoint")})
	return time.Since(start), err
}

// TestSessionFlood: 16 addresses open 16 idle sessions each, which fills
// the general pool (256). Before the fix a publisher's push was then
// refused ("Application error 0x0"); now it is admitted on probation,
// promoted once its announce is taken, and done within a second.
func TestSessionFlood(t *testing.T) {
	h, m, key := newHostModel(t, nil)
	m.host = h
	tr := transports[0]
	addr := serveOver(t, tr, h, key)
	var wg sync.WaitGroup
	for i := range 16 {
		ip := fmt.Sprintf("127.0.0.%d", 2+i)
		wg.Go(func() {
			for range 16 {
				c := dialFrom(t, tr, ip, addr)
				// Answered: the session holds its slot.
				if _, _, err := rawRequest(testContext(t), c, typeList, nil); err != nil {
					t.Errorf("flood session from %s: %v", ip, err)
				}
			}
		})
	}
	wg.Wait()
	if s := h.Stats(); s.Sessions != 256 {
		t.Fatalf("stats %+v, want 256 sessions", s)
	}
	el, err := push(t, tr, "127.0.0.100", addr)
	t.Logf("push during the flood: %v, %v; stats %+v", el.Round(time.Millisecond), err, h.Stats())
	if err != nil || el > time.Second {
		t.Errorf("push: %v after %v, want done within 1 s", err, el)
	}
	if s := h.Stats(); s.Promoted != 1 {
		t.Errorf("stats %+v, want the push promoted", s)
	}
	// A flooding address gets one session more, on probation, then no
	// slot, and is told.
	if _, err := h.List(testContext(t), dialFrom(t, tr, "127.0.0.2", addr)); err != nil {
		t.Errorf("17th session from one address: %v, want it on probation", err)
	}
	_, err = h.List(testContext(t), dialFrom(t, tr, "127.0.0.2", addr))
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBusy {
		t.Errorf("18th session from one address: %v, want error 6", err)
	}
}

// TestProbationFlood: peers fill the general pool and then the probation
// pool too, one session from each of ProbationSessions more addresses,
// each dialed again as soon as it is closed (the red team's "probation"
// attack: 48 addresses × 17 sessions against the real mirror). Before the
// fix a publisher's push then found no slot and was refused with error
// 6; now it takes the place of the session on probation longest, whose
// peer is told code 6, and is done within a second.
func TestProbationFlood(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			h, m, key := newHostModel(t, &Config{MaxSessions: 4, MaxSessionsPerIP: 4, ProbationSessions: 4, ProbationTime: time.Minute})
			m.host = h
			addr := serveOver(t, tr, h, key)
			ctx := testContext(t)
			for range 4 {
				if _, err := h.List(ctx, dialFrom(t, tr, "127.0.0.2", addr)); err != nil {
					t.Fatalf("general pool: %v", err)
				}
			}
			var probation []Conn
			for i := range 4 {
				c := dialFrom(t, tr, fmt.Sprintf("127.0.0.%d", 3+i), addr)
				if _, err := h.List(ctx, c); err != nil {
					t.Fatalf("probation session %d: %v", i, err)
				}
				probation = append(probation, c)
			}
			if s := h.Stats(); s.Sessions != 8 || s.Probation != 4 {
				t.Fatalf("stats %+v, want 8 sessions, 4 on probation", s)
			}
			el, err := push(t, tr, "127.0.0.100", addr)
			t.Logf("push with every pool full: %v, %v; stats %+v", el.Round(time.Millisecond), err, h.Stats())
			if err != nil || el > time.Second {
				t.Errorf("push: %v after %v, want done within 1 s", err, el)
			}
			if s := h.Stats(); s.Promoted != 1 {
				t.Errorf("stats %+v, want the push promoted", s)
			}
			// The oldest session on probation made room, and was told.
			_, err = h.List(ctx, probation[0])
			var re *RemoteError
			if tr.name == "QUIC" && (!errors.As(err, &re) || re.Code != CodeBusy) {
				t.Errorf("oldest session on probation: %v, want closed with code 6", err)
			}
			if tr.name == "TCP" && err == nil {
				t.Error("oldest session on probation still answered, want it closed")
			}
		})
	}
}

// TestQUICHandshakeRate: one address dials QUIC sessions as fast as it
// can. Before the fix every handshake ran to its end (a TLS handshake
// with two signatures) before the session was judged, and peers redialing
// as fast as they were refused, from 48 addresses, kept quic-go's queue
// of completed handshakes full: a publisher's push was refused with
// CONNECTION_REFUSED (the red team's "redial" attack). Now an address
// starts at most quicHandshakeBurst handshakes at once and
// quicHandshakeRate a second; the rest are refused from their first
// packet, and another address is served.
func TestQUICHandshakeRate(t *testing.T) {
	const dials = 3 * quicHandshakeBurst
	h, key := newHost(t, &Config{MaxSessionsPerIP: -1, MaxSessions: 1000})
	addr := serve(t, h, key)
	d := &Dialer{LocalIP: net.ParseIP("127.0.0.2")}
	ctx := testContext(t)
	start := time.Now()
	var ok, refused int
	for range dials {
		_, k, _ := ed25519.GenerateKey(nil)
		c, err := d.DialQUIC(ctx, addr, k, nil)
		if err != nil {
			refused++
			continue
		}
		ok++
		t.Cleanup(func() { c.Close() })
	}
	el := time.Since(start)
	// What the bucket allows in the time the dials took.
	allowed := quicHandshakeBurst + int(el.Seconds()*quicHandshakeRate) + 1
	t.Logf("%d dials from one address in %v: %d sessions, %d refused (allowed %d)", dials, el.Round(time.Millisecond), ok, refused, allowed)
	if ok > allowed {
		t.Errorf("%d handshakes completed from one address, want at most %d", ok, allowed)
	}
	if _, err := h.List(ctx, dialFrom(t, transports[0], "127.0.0.3", addr)); err != nil {
		t.Errorf("another address: %v", err)
	}
}

// TestHandshakeFlood: one address opens 100 TCP connections and never
// starts TLS. Before the fix they took every handshake slot until their
// timeout, and TCP pushes from elsewhere took 8–10 s; now one address
// holds at most 4 and a push from another is done within a second.
func TestHandshakeFlood(t *testing.T) {
	h, m, key := newHostModel(t, nil)
	m.host = h
	tr := transports[1]
	addr := serveOver(t, tr, h, key)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 100 {
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	el, err := push(t, tr, "127.0.0.3", addr)
	t.Logf("TCP push during 100 idle handshakes: %v, %v", el.Round(time.Millisecond), err)
	if err != nil || el > time.Second {
		t.Errorf("push: %v after %v, want done within 1 s", err, el)
	}
}

// TestHandshakeRate: one address may start TLS handshakes at 8 a second,
// in bursts of 16; a connection over the rate is closed at once, before
// yamux buffers anything of it.
func TestHandshakeRate(t *testing.T) {
	const dials = 48
	h, key := newHost(t, nil)
	addr := serveOver(t, transports[1], h, key)
	_, ck, _ := ed25519.GenerateKey(nil)
	d := &Dialer{LocalIP: net.ParseIP("127.0.0.5")}
	ctx := testContext(t)
	start := time.Now()
	ok := 0
	for range dials {
		c, err := d.DialTCP(ctx, addr, ck, nil)
		if err == nil {
			ok++
			c.Close()
		}
	}
	most := tcpHandshakeBurst + int(tcpHandshakeRate*time.Since(start).Seconds()) + 1
	t.Logf("%d of %d handshakes from one address in %v", ok, dials, time.Since(start).Round(time.Millisecond))
	if ok > most || ok < tcpHandshakeBurst {
		t.Errorf("%d of %d handshakes done; want %d to %d", ok, dials, tcpHandshakeBurst, most)
	}
}

// TestTCPConnsPerIP: one address holds at most tcpConnsPerIP connections
// over TCP, in handshake or established; a further one is closed at once,
// and taken again once one ends.
func TestTCPConnsPerIP(t *testing.T) {
	h, m, key := newHostModel(t, nil)
	addr := serveOver(t, transports[1], h, key)
	ctx := testContext(t)
	var cs []Conn
	for range tcpConnsPerIP {
		c := dialFrom(t, transports[1], "127.0.0.6", addr)
		if _, err := h.List(ctx, c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	_, ck, _ := ed25519.GenerateKey(nil)
	d := &Dialer{LocalIP: net.ParseIP("127.0.0.6")}
	if c, err := d.DialTCP(ctx, addr, ck, nil); err == nil {
		c.Close()
		t.Fatalf("connection %d from one address was taken", tcpConnsPerIP+1)
	}
	cs[0].Close()
	select {
	case <-m.closed: // the session and its connection ended
	case <-ctx.Done():
		t.Fatal("the closed session did not end")
	}
	c, err := d.DialTCP(ctx, addr, ck, nil)
	if err != nil {
		t.Fatalf("no connection taken once one ended: %v", err)
	}
	c.Close()
}

// TestRefusedSession: a session that finds no slot is told code 6, over
// QUIC by the code it is closed with, over TCP by error frames.
func TestRefusedSession(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			h, key := newHost(t, &Config{MaxSessions: 1, ProbationSessions: -1})
			addr := serveOver(t, tr, h, key)
			if _, err := h.List(testContext(t), dialFrom(t, tr, "127.0.0.2", addr)); err != nil {
				t.Fatal(err)
			}
			// The refusal may reach a QUIC client before its handshake is
			// confirmed, failing the dial, or at its first request.
			_, ck, _ := ed25519.GenerateKey(nil)
			c, err := tr.dial(&Dialer{LocalIP: net.ParseIP("127.0.0.3")}, testContext(t), addr, ck)
			if err == nil {
				defer c.Close()
				_, err = h.List(testContext(t), c)
			}
			var re *RemoteError
			if !errors.As(err, &re) || re.Code != CodeBusy || re.Message != CodeText(CodeBusy) {
				t.Fatalf("session over the cap: %v, want error 6", err)
			}
			t.Log(err)
		})
	}
}

// TestProbation: a session admitted on probation that does not announce
// is closed at its end with code 6, one that announces news is promoted
// and stays; an address gets one session on probation at a time; a
// configured peer's key takes a reserved slot instead.
func TestProbation(t *testing.T) {
	_, peer, _ := ed25519.GenerateKey(nil)
	h, m, key := newHostModel(t, &Config{MaxSessions: 1, ProbationTime: 300 * time.Millisecond, PeerKeys: []ed25519.PublicKey{peer.Public().(ed25519.PublicKey)}})
	m.host = h
	tr := transports[0]
	addr := serveOver(t, tr, h, key)
	ctx := testContext(t)
	// The general pool's one session, admitted once it is answered.
	if _, err := h.List(ctx, dial(t, addr, nil)); err != nil {
		t.Fatal(err)
	}
	// A push: promoted by its announce.
	q := dialFrom(t, tr, "127.0.0.3", addr)
	if err := h.Announce(ctx, q, &Entry{Pub: testPub, Version: 1, Checkpoint: []byte("a checkpoint")}); err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.Probation != 0 || s.Promoted != 1 {
		t.Errorf("stats %+v, want the push promoted out of probation", s)
	}
	p := dial(t, addr, nil) // on probation
	if _, err := h.List(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.List(ctx, dial(t, addr, nil)); err == nil {
		t.Error("a second session on probation from one address")
	}
	pc, err := DialQUIC(ctx, addr, peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := h.List(ctx, pc); err != nil {
		t.Errorf("configured peer: %v", err)
	}
	// The end of the probation: the only session to end.
	select {
	case <-m.closed:
	case <-ctx.Done():
		t.Fatal("the session on probation was not closed")
	}
	_, err = h.List(ctx, p)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBusy {
		t.Errorf("after its probation: %v, want error 6", err)
	}
	if _, err := h.List(ctx, pc); err != nil {
		t.Errorf("configured peer after the probation: %v", err)
	}
	if _, err := h.List(ctx, q); err != nil {
		t.Errorf("promoted push after its probation: %v", err)
	}
	if s := h.Stats(); s.Closed != 1 {
		t.Errorf("stats %+v, want 1 closed", s)
	}
}

// TestProbationAnnounce: a session on probation is not closed while the
// model acts on its announce, which may mean fetching many bundles from
// it, but once it is done.
func TestProbationAnnounce(t *testing.T) {
	const probation = 500 * time.Millisecond
	h, m, key := newHostModel(t, &Config{MaxSessions: 1, ProbationTime: probation})
	m.acting, m.started = make(chan struct{}), make(chan struct{}, 1)
	addr := serve(t, h, key)
	ctx := testContext(t)
	if _, err := h.List(ctx, dial(t, addr, nil)); err != nil {
		t.Fatal(err)
	}
	p := dial(t, addr, nil) // on probation
	done := make(chan error, 1)
	go func() {
		done <- h.Announce(ctx, p, &Entry{Pub: testPub, Version: 1, Checkpoint: []byte("a checkpoint")})
	}()
	// The model acts until twice the probation has passed.
	<-m.started
	time.AfterFunc(2*probation, func() { close(m.acting) })
	if err := <-done; err != nil {
		t.Fatalf("announce on probation: %v", err)
	}
	select {
	case <-m.closed:
	case <-ctx.Done():
		t.Fatal("the session was not closed after its announce")
	}
}

// TestIdleTimeout: a session of the general pool in which nothing is
// asked for IdleTimeout is closed with code 7.
func TestIdleTimeout(t *testing.T) {
	h, m, key := newHostModel(t, &Config{IdleTimeout: 200 * time.Millisecond})
	addr := serve(t, h, key)
	ctx := testContext(t)
	c := dial(t, addr, nil)
	if _, err := h.List(ctx, c); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.closed:
	case <-ctx.Done():
		t.Fatal("the idle session was not closed")
	}
	_, err := h.List(ctx, c)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeIdle {
		t.Errorf("after the idle timeout: %v, want error 7", err)
	}
}

// recorder is a slog.Handler that keeps every record's text.
type recorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.recs, "\n")
}

// TestErrorsHideDetails: a store error with a file path in it reaches the
// peer as code 4 and its fixed text only; the node's log has the path.
func TestErrorsHideDetails(t *testing.T) {
	const path = "/var/lib/samizdat/store/publishers/0123/statement"
	for _, tc := range []struct {
		err  error
		code byte
	}{
		{fmt.Errorf("store: open %s: permission denied", path), CodeInternal},
		{NotFound(fmt.Errorf("store: open %s: no such file", path)), CodeNotFound},
		{Refused(fmt.Errorf("replica: %s refused", path)), CodeRefused},
	} {
		rec := &recorder{}
		h, m, key := newHostModel(t, &Config{Logger: slog.New(rec)})
		m.statement = tc.err
		_, err := h.Statement(testContext(t), dial(t, serve(t, h, key), nil), testPub)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != tc.code || re.Message != CodeText(tc.code) || strings.Contains(err.Error(), "/var/lib") {
			t.Errorf("peer got %v, want code %d and %q", err, tc.code, CodeText(tc.code))
		}
		if !strings.Contains(rec.text(), path) {
			t.Errorf("the log lacks the error: %q", rec.text())
		}
	}
}
