// Command slowlink is the helper of bench/slowlink: a delaying TCP relay
// that, with the script's veth pair and tbf shaping, emulates a slow link
// (this kernel has no netem), and a timer that reports a command's wall
// time and peak resident memory. It is a benchmark tool, not part of
// samizdat.
//
//	slowlink relay -listen ADDR -to ADDR -delay D -stats ADDR [-max-conns N] [-queue N] [-for D]
//	slowlink run -o FILE [-timeout D] -- COMMAND [ARG]...
//
// relay accepts TCP connections on -listen and copies each to a new
// connection to -to, holding every chunk for -delay in each direction,
// so that a request and its answer take 2×delay more: the link's round
// trip. The first bytes of a connection also wait one more round trip,
// the TCP handshake's, since the relay itself answers the handshake at
// once. Each direction of a connection holds at most -queue chunks of
// 16 KiB; when they are full the relay stops reading and TCP pushes back.
// GET / on -stats answers one line of counters: connections accepted,
// open and refused (over -max-conns), and bytes relayed up (to -to) and
// down. It exits after -for, or on SIGINT or SIGTERM.
//
// run runs COMMAND with the standard streams passed through, kills it
// after -timeout, and writes one line to FILE:
//
//	wall=SECONDS maxrss_kb=KB exit=CODE
//
// where CODE is -1 when the command was killed or did not start.
//
// The relay's delay is in user space: the TCP connections on either side
// of it see the short round trip of the veth pair and loopback, not the
// emulated one, so TCP's own ramp-up (slow start, loss recovery) is
// faster than on a real long link. What a reader sees of the round trip
// per request, and of the rate, is emulated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// chunkSize is the most one read moves at a time.
	chunkSize = 16 << 10
	// dialTimeout bounds connecting to -to.
	dialTimeout = 5 * time.Second
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "slowlink:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: slowlink relay|run [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "relay":
		runRelay(os.Args[2:])
	case "run":
		runRun(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "slowlink: unknown command", os.Args[1])
		os.Exit(2)
	}
}

// relay is a delaying TCP relay. Its counters are safe for concurrent use.
type relay struct {
	to       string
	delay    time.Duration // one way
	queue    int           // chunks held per direction of a connection
	maxConns int

	conns, active, refused atomic.Int64
	up, down               atomic.Int64
}

func runRelay(args []string) {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	listen := fs.String("listen", "", "address to accept connections on")
	to := fs.String("to", "", "address to relay them to")
	delay := fs.Duration("delay", 100*time.Millisecond, "added in each direction (half the round trip)")
	stats := fs.String("stats", "", "address of the counters' HTTP listener")
	maxConns := fs.Int("max-conns", 64, "most connections open at once; more are closed at once")
	queue := fs.Int("queue", 64, "chunks of 16 KiB held per direction of a connection")
	life := fs.Duration("for", time.Hour, "exit after this long")
	fs.Parse(args)
	if *listen == "" || *to == "" || *stats == "" || *delay < 0 || *maxConns < 1 || *queue < 1 {
		fatal(errors.New("relay: want -listen, -to and -stats, -delay >= 0, -max-conns and -queue >= 1"))
	}
	r := &relay{to: *to, delay: *delay, queue: *queue, maxConns: *maxConns}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	sl, err := net.Listen("tcp", *stats)
	if err != nil {
		fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "conns=%d active=%d refused=%d up=%d down=%d\n",
				r.conns.Load(), r.active.Load(), r.refused.Load(), r.up.Load(), r.down.Load())
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(sl)
	go func() {
		<-ctx.Done()
		ln.Close()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "slowlink: relay %s -> %s, %v each way, stats on %s\n", ln.Addr(), *to, *delay, sl.Addr())
	r.serve(ctx, ln)
}

// serve accepts connections until ln is closed.
func (r *relay) serve(ctx context.Context, ln net.Listener) {
	sem := make(chan struct{}, r.maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			fmt.Fprintln(os.Stderr, "slowlink: accept:", err)
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			r.refused.Add(1)
			c.Close()
			continue
		}
		r.conns.Add(1)
		r.active.Add(1)
		wg.Go(func() {
			defer func() { <-sem; r.active.Add(-1) }()
			r.handle(ctx, c)
		})
	}
}

// handle relays one connection, both ways, until both are done or ctx
// ends.
func (r *relay) handle(ctx context.Context, c net.Conn) {
	accepted := time.Now()
	defer c.Close()
	d := net.Dialer{Timeout: dialTimeout}
	u, err := d.DialContext(ctx, "tcp", r.to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowlink: dial:", err)
		return
	}
	defer u.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); u.Close() })
	defer stop()
	var wg sync.WaitGroup
	// The handshake took no time here; on the emulated link it takes a
	// round trip before the first bytes can go up.
	wg.Go(func() { r.pipe(c, u, accepted.Add(2*r.delay), &r.up) })
	wg.Go(func() { r.pipe(u, c, accepted, &r.down) })
	wg.Wait()
}

// chunk is bytes read, and when they may be written on.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, writing each chunk delay after it was read,
// and never before notBefore plus delay. At src's end it half-closes
// dst; when dst fails it closes src, so that the reading side stops too.
func (r *relay) pipe(src, dst net.Conn, notBefore time.Time, n *atomic.Int64) {
	q := make(chan chunk, r.queue)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, chunkSize)
			k, err := src.Read(buf)
			if k > 0 {
				at := time.Now()
				if at.Before(notBefore) {
					at = notBefore
				}
				q <- chunk{buf[:k], at.Add(r.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for ch := range q {
		if failed {
			continue // drain, so the reader is not stuck on a full queue
		}
		if d := time.Until(ch.due); d > 0 {
			time.Sleep(d)
		}
		k, err := dst.Write(ch.data)
		n.Add(int64(k))
		if err != nil {
			failed = true
			src.Close()
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok && !failed {
		tc.CloseWrite()
	}
}

func runRun(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	out := fs.String("o", "", "file to write the line of figures to")
	timeout := fs.Duration("timeout", 30*time.Minute, "kill the command after this long")
	fs.Parse(args)
	cmdArgs := fs.Args()
	if *out == "" || len(cmdArgs) == 0 {
		fatal(errors.New("run: want -o FILE -- COMMAND [ARG]..."))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code, rss := -1, int64(0)
	if ps := cmd.ProcessState; ps != nil {
		code = ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss // KiB on Linux
		}
	}
	if err != nil && code == 0 {
		code = -1
	}
	line := fmt.Sprintf("wall=%.3f maxrss_kb=%d exit=%d\n", wall.Seconds(), rss, code)
	if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
		fatal(err)
	}
}
