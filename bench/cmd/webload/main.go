// Command webload loads a mirror's HTTP server over real loopback HTTP,
// from many source addresses (Linux routes all of 127.0.0.0/8 to
// loopback), and reports what the server did: errors, throughput,
// latencies and the server process's resident memory. It is the tool of
// bench/web, a benchmark, not a test and not part of samizdat.
//
//	webload readers [-n 10000] [-addrs 64] [-for 20s]
//	webload slowloris [-mode new|new1024|old] [-slow 1100] [-for 20s]
//	webload serve -mode new|new1024|old   (the server, started by the others)
//
// readers runs n concurrent keep-alive readers, spread over addrs source
// addresses (127.0.1.1, ...), each fetching pages back to back for the
// given time after all have connected. slowloris holds 1,100 slow
// connections from 127.0.0.2 (request headers dripped a byte every 100 ms,
// never finished, reopened when the server drops them) while 8 readers
// from 127.0.0.3 fetch pages, each on a new connection, with a reader's
// 4 s patience.
//
// The server runs in a child process (webload serve), so that its memory
// and file descriptors are its own: it serves a store of 30 articles
// (pages of 5 to 12 KB) with web.New, behind
//   - new: web.NewServer with its defaults (16,384 connections, 256 per
//     address), loopback clients counted per address like any other
//     (netlimit's LimitLoopback), the rate limit off for loopback as in
//     `samizdat mirror`;
//   - new1024: the same with a total cap of 1,024, the old one;
//   - old: what samizdat mirror did before issue 8,
//     netutil.LimitListener(1024) around coalesce, 10 s header timeout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "webload:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: webload readers|slowloris|serve [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		runServe(args)
	case "readers":
		runReaders(args)
	case "slowloris":
		runSlowloris(args)
	default:
		fmt.Fprintln(os.Stderr, "webload: unknown command", os.Args[1])
		os.Exit(2)
	}
}

// child is the server process.
type child struct {
	cmd  *exec.Cmd
	base string // http://ADDR
	in   io.WriteCloser
}

// startServer starts `webload serve` and waits for its address.
func startServer(mode string) *child {
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command(exe, "serve", "-mode", mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		fatal(fmt.Errorf("server: %v", err))
	}
	return &child{cmd: cmd, base: "http://" + strings.TrimSpace(line), in: in}
}

// memory returns the server's peak and current resident memory, in KiB.
func (c *child) memory() (peak, now int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = n
		case "VmRSS:":
			now = n
		}
	}
	return peak, now
}

// metric returns a value of the server's /metrics, fetched from 127.0.0.1.
func (c *child) metric(name string) float64 {
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		return -1 // refused: every slot is taken
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func (c *child) stop() {
	c.in.Close() // the server exits when its stdin closes
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// fdLimit returns the process's file descriptor limit.
func fdLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		fatal(err)
	}
	return r.Cur
}

// addr returns the i-th source address of a range 127.0.X.1, ...
func addr(x, i int) string { return fmt.Sprintf("127.0.%d.%d", x+i/250, 1+i%250) }

func dialer(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 30 * time.Second}
}

// pages are what the readers fetch, in turn: mostly article pages.
func pages(n int) []string {
	var p []string
	for i := range n {
		p = append(p, fmt.Sprintf("/p/%s/a/article-%03d/", pubID, i))
	}
	return append(p, "/", "/p/"+pubID+"/", "/api/p/"+pubID+"/articles", "/static/style.css")
}

// pubID is set by the server's store; the client reads it from /api.
var pubID string

func findPublisher(base string) {
	resp, err := http.Get(base + "/api/publishers")
	if err != nil {
		fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	i := strings.Index(string(b), `"id": "`)
	if i < 0 {
		fatal(fmt.Errorf("no publisher in %s", b))
	}
	pubID = string(b[i+7 : i+7+32])
}

func runReaders(args []string) {
	fs := flag.NewFlagSet("readers", flag.ExitOnError)
	n := fs.Int("n", 10000, "concurrent keep-alive readers")
	addrs := fs.Int("addrs", 64, "source addresses they come from")
	dur := fs.Duration("for", 20*time.Second, "how long they read, once all are connected")
	mode := fs.String("mode", "new", "server: new, new1024 or old")
	fs.Parse(args)
	if lim := fdLimit(); lim < uint64(*n+1000) {
		fatal(fmt.Errorf("%d readers need %d file descriptors; the limit is %d (ulimit -n)", *n, *n+1000, lim))
	}
	srv := startServer(*mode)
	defer srv.stop()
	findPublisher(srv.base)
	paths := pages(30)
	base0, _ := srv.memory()

	var transports []*http.Transport
	for a := range *addrs {
		per := (*n + *addrs - 1) / *addrs
		transports = append(transports, &http.Transport{DialContext: dialer(addr(1, a)).DialContext,
			MaxIdleConnsPerHost: per, MaxConnsPerHost: per, IdleConnTimeout: time.Minute, DisableCompression: true})
	}
	var connected, requests, errs atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lat []time.Duration
	allIn := make(chan struct{})
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *n {
		c := &http.Client{Transport: transports[i%*addrs], Timeout: 60 * time.Second}
		wg.Go(func() {
			get := func(p string) bool {
				t0 := time.Now()
				resp, err := c.Get(srv.base + p)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return false
				}
				requests.Add(1)
				if i%50 == 0 { // a sample of latencies
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				}
				return true
			}
			get(paths[i%len(paths)]) // connect
			if connected.Add(1) == int64(*n) {
				close(allIn)
			}
			<-allIn
			for k := i; !stop.Load(); k++ {
				get(paths[k%len(paths)])
			}
		})
		if i%500 == 499 {
			time.Sleep(20 * time.Millisecond) // under the kernel's accept backlog
		}
	}
	<-allIn
	ramp := time.Since(start)
	before := requests.Load()
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()
	t0 := time.Now()
	time.Sleep(*dur)
	open := srv.metric("samizdat_http_connections")
	stack, heap := srv.metric("go_memstats_stack_inuse_bytes"), srv.metric("go_memstats_heap_inuse_bytes")
	stop.Store(true)
	done := requests.Load() - before
	took := time.Since(t0)
	wg.Wait()
	peak, now := srv.memory()
	refusedAddr, refusedFull, reclaimed := srv.metric(`samizdat_http_connections_refused_total{reason="per_address"}`),
		srv.metric(`samizdat_http_connections_refused_total{reason="full"}`), srv.metric("samizdat_http_connections_reclaimed_total")
	slices.Sort(lat)
	fmt.Printf("readers=%d addrs=%d mode=%s fd_limit=%d ramp=%.1fs\n", *n, *addrs, *mode, fdLimit(), ramp.Seconds())
	fmt.Printf("server connections open during the run: %.0f (max %.0f); refused: %.0f per address, %.0f full; %.0f idle ones reclaimed; %.0f accepted in all\n",
		open, srv.metric("samizdat_http_connections_max"), refusedAddr, refusedFull, reclaimed, srv.metric("samizdat_http_connections_accepted_total"))
	fmt.Printf("requests=%d in %.1fs: %.0f/s, errors=%d (first: %v)\n", done, took.Seconds(), float64(done)/took.Seconds(), errs.Load(), firstErr.Load())
	fmt.Printf("latency (sampled, %d): p50=%v p99=%v\n", len(lat), pct(lat, .5), pct(lat, .99))
	fmt.Printf("server Go memory during the run: stacks %.1f MB, heap in use %.1f MB\n", stack/(1<<20), heap/(1<<20))
	fmt.Printf("server RSS: %.1f MB before, %.1f MB now, peak %.1f MB\n", float64(base0)/1024, float64(now)/1024, float64(peak)/1024)
	for _, t := range transports {
		t.CloseIdleConnections()
	}
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))].Round(100 * time.Microsecond)
}

func runSlowloris(args []string) {
	fs := flag.NewFlagSet("slowloris", flag.ExitOnError)
	mode := fs.String("mode", "new", "server: new, new1024 or old")
	slow := fs.Int("slow", 1100, "slow connections from 127.0.0.2")
	slowAddrs := fs.Int("slow-addrs", 1, "addresses the slow connections come from: 127.0.0.2, or 127.0.2.1, ... if more than 1")
	dur := fs.Duration("for", 20*time.Second, "how long readers read during the attack")
	fs.Parse(args)
	srv := startServer(*mode)
	defer srv.stop()
	findPublisher(srv.base)
	paths := pages(30)
	ctx, cancel := context.WithCancel(context.Background())
	var held atomic.Int64
	var wg sync.WaitGroup
	addr, addr2 := strings.TrimPrefix(srv.base, "http://"), addr
	for i := range *slow {
		from := "127.0.0.2"
		if *slowAddrs > 1 {
			from = addr2(2, i%*slowAddrs)
		}
		wg.Go(func() { slowConn(ctx, addr, from, &held) })
		if i%500 == 499 {
			time.Sleep(20 * time.Millisecond) // under the kernel's accept backlog
		}
	}
	time.Sleep(2 * time.Second) // the attack takes hold (a benchmark: no event to wait on)
	fmt.Printf("slow connections open (as the attacker sees them): %d; the server counts %.0f open\n", held.Load(), srv.metric("samizdat_http_connections"))
	var mu sync.Mutex
	var lat []time.Duration
	var errs, okN int
	var firstErr error
	end := time.Now().Add(*dur)
	var rw sync.WaitGroup
	for w := range 8 {
		rw.Go(func() {
			tr := &http.Transport{DialContext: dialer("127.0.0.3").DialContext, DisableKeepAlives: true}
			c := &http.Client{Transport: tr, Timeout: 4 * time.Second}
			for k := w; time.Now().Before(end); k++ {
				t0 := time.Now()
				resp, err := c.Get(srv.base + paths[k%len(paths)])
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d) // failures count at the time they took
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					okN++
				}
				mu.Unlock()
			}
		})
	}
	rw.Wait()
	cancel()
	wg.Wait()
	peak, _ := srv.memory()
	slices.Sort(lat)
	var failed time.Duration
	for _, d := range lat {
		if d >= 4*time.Second {
			failed += d
		}
	}
	fmt.Printf("mode=%s slow=%d from %d addresses: readers' requests=%d ok=%d errors=%d p50=%v p99=%v, %.0f%% of the readers' time in requests that timed out (first error: %v); server RSS peak %.1f MB\n",
		*mode, *slow, *slowAddrs, len(lat), okN, errs, pct(lat, .5), pct(lat, .99), 100*failed.Seconds()/(8*dur.Seconds()), firstErr, float64(peak)/1024)
}

// slowConn keeps one slow connection open from 127.0.0.2: it starts a
// request and drips a header byte every 100 ms, never finishing; when the
// server drops it (at its header timeout), it opens another at once, and
// when the server refuses it (within a second), after 500 ms.
func slowConn(ctx context.Context, addr, from string, held *atomic.Int64) {
	d := dialer(from)
	d.Timeout = 5 * time.Second
	for ctx.Err() == nil {
		t0 := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			held.Add(1)
			_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: mirror\r\nX-Slow: "))
			for err == nil && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
					c.SetWriteDeadline(time.Now().Add(time.Second))
					_, err = c.Write([]byte("a"))
				}
			}
			c.Close()
			held.Add(-1)
			if time.Since(t0) > time.Second {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitSignal returns when stdin closes or on SIGTERM/SIGINT.
func waitSignal() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
}
