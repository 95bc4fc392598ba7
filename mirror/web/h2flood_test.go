package web_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// h2Stalled opens an HTTP/2 cleartext connection from ip to addr with its
// flow control window shut, and asks for path on n streams. It returns
// once every stream was answered (headers) or refused (a reset), with the
// server's MAX_CONCURRENT_STREAMS and the statuses seen; the connection
// stays open, every answer unread, until the test ends.
func h2Stalled(t *testing.T, ip, addr, path string, n int) (maxStreams uint32, statuses map[string]int) {
	t.Helper()
	c, err := dialFrom(ip).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(c)
	bw.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(bw, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range n {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", addr}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	statuses = map[string]int{}
	for done := 0; done < n; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d streams: %v", done, n, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				maxStreams = v
			}
			if !f.IsAck() {
				fr.WriteSettingsAck()
				bw.Flush()
			}
		case *http2.MetaHeadersFrame:
			statuses[f.PseudoValue("status")]++
			done++
		case *http2.RSTStreamFrame:
			statuses["reset"]++
			done++
		}
	}
	c.SetDeadline(time.Time{})
	return maxStreams, statuses
}

// TestH2StreamFlood: a client opens HTTP/2 cleartext connections whose
// flow control window it never opens, each with as many streams as the
// server allows; each stream's handler then waits, writing, until the
// write timeout. Before the fix, net/http's defaults (250 streams a
// connection) let one address hold 64,000 handlers through its 256
// connections: the red team saw a mirror's RSS reach 3.3 GB and other
// readers' p99 3.2 s. Now a connection carries at most
// DefaultMaxConcurrentStreams requests, and one address has at most as
// many handlers running as it may have connections (the rest are
// answered 503 at once, with no body), while other readers are served.
func TestH2StreamFlood(t *testing.T) {
	const perAddr, conns, streams = 4, 4, 32
	var running, peak atomic.Int64
	page := bytes.Repeat([]byte("a mirror's page "), 4<<10) // 64 KiB, more than any window
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		w.Write(page)
	})
	lim := netlimit.New(&netlimit.Config{MaxConnsPerAddr: perAddr, LimitLoopback: true})
	_, base := serve(t, h, &web.ServerConfig{Limiter: lim, NoCoalesce: true})
	addr := base[len("http://"):]
	var mu sync.Mutex
	all := map[string]int{}
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			ms, st := h2Stalled(t, "127.0.0.2", addr, "/", streams)
			if ms != web.DefaultMaxConcurrentStreams {
				t.Errorf("server allows %d streams a connection, want %d", ms, web.DefaultMaxConcurrentStreams)
			}
			mu.Lock()
			for k, v := range st {
				all[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	flood := peak.Load()
	start := time.Now()
	cl := &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{DialContext: dialFrom("127.0.0.3").DialContext}}
	r, err := cl.Get(base + "/")
	if err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	t.Logf("%d connections × %d streams with a shut window: %v; handlers at once, at most %d; another reader: %v in %v",
		conns, streams, all, flood, err, time.Since(start).Round(time.Millisecond))
	if p := flood; p > perAddr {
		t.Errorf("%d handlers ran at once for one address, want at most %d", p, perAddr)
	}
	if all["503"] == 0 {
		t.Errorf("no request was answered 503: %v", all)
	}
	if err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("another reader: %v", err)
	}
}
