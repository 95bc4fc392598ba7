package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
)

func readPub(path string) *keys.PublicKey {
	data, err := os.ReadFile(path)
	if err != nil {
		fatal(err)
	}
	k, err := keys.ParsePublicKey(string(trimNL(data)))
	if err != nil {
		fatal(err)
	}
	return k
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func startCPUProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// runServe serves the mirror's HTTP handler (as `samizdat mirror --http`
// does, without sync) for a while, with a CPU profile, so that wrk can be
// run against it.
func runServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("store", "", "store")
	pub := fs.String("pub", "", "publisher.pub")
	addr := fs.String("http", "127.0.0.1:0", "address")
	prof := fs.String("cpuprofile", "", "CPU profile file")
	secs := fs.Duration("for", 20*time.Second, "serve this long")
	memprof := fs.String("memprofile", "", "heap profile file, written at the end")
	coalesced := fs.Bool("coalesce", true, "send net/http's full 4 KB buffer with the next write in one writev, as samizdat mirror --http does (package internal/coalesce); -coalesce=false for an A/B comparison")
	plain := fs.Bool("plain", false, "serve with a bare http.Server (no connection caps, timeouts or coalescing): what web.NewServer's wrappers cost")
	static := fs.String("static", "", "instead of the mirror's handler, serve this file's bytes at every path with a page's headers (net/http's own floor)")
	fs.Parse(args)
	st, err := store.Open(*dir, &store.Options{ReadOnly: true})
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	h, err := web.New(st, []*keys.PublicKey{readPub(*pub)}, nil)
	if err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal(err)
	}
	fmt.Println(ln.Addr())
	var handler http.Handler = h
	if *static != "" {
		page, err := os.ReadFile(*static)
		if err != nil {
			fatal(err)
		}
		handler = staticPage(page)
	}
	// The server samizdat mirror runs: web.NewServer's caps, timeouts and
	// coalescing.
	srv := web.NewServer(ln, handler, &web.ServerConfig{NoCoalesce: !*coalesced})
	if *plain {
		bare := &http.Server{Handler: handler}
		go bare.Serve(ln)
		defer bare.Close()
	} else {
		go srv.Serve()
	}
	stop := startCPUProfile(*prof)
	time.Sleep(*secs)
	stop()
	if *memprof != "" {
		runtime.GC()
		f, err := os.Create(*memprof)
		if err != nil {
			fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	srv.Close()
}

// runSyncProf runs a full sync of the store into a new one in this
// process over loopback QUIC, with a CPU profile: where a full sync's time
// goes.
func runSyncProf(args []string) {
	fs := flag.NewFlagSet("syncprof", flag.ExitOnError)
	dir := fs.String("store", "", "source store")
	pub := fs.String("pub", "", "publisher.pub")
	work := fs.String("work", "", "scratch directory (emptied)")
	prof := fs.String("cpuprofile", "", "CPU profile file")
	batch := fs.Int("batch", 0, "replica.Config.Batch (0: the default)")
	parallel := fs.Int("parallel", 0, "replica.Config.Parallel (0: the default)")
	traceFile := fs.String("trace", "", "execution trace file (go tool trace -pprof=syscall|sync)")
	push := fs.Bool("push", false, "the source pushes (Push) to a serving node, instead of the new node pulling (SyncWith)")
	fs.Parse(args)
	root := readPub(*pub)
	src, err := store.Open(*dir, &store.Options{ReadOnly: true})
	if err != nil {
		fatal(err)
	}
	defer src.Close()
	os.RemoveAll(*work)
	dst, err := store.Open(filepath.Join(*work, "dst"), &store.Options{Create: true})
	if err != nil {
		fatal(err)
	}
	defer dst.Close()
	a, err := replica.New(src, []*keys.PublicKey{root}, nil)
	if err != nil {
		fatal(err)
	}
	ln, err := session.ListenQUIC("127.0.0.1:0", a.Key())
	if err != nil {
		fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Serve(ctx, ln); close(done) }()
	b, err := replica.New(dst, []*keys.PublicKey{root}, &replica.Config{Batch: *batch, Parallel: *parallel})
	if err != nil {
		fatal(err)
	}
	c, err := session.DialQUIC(ctx, ln.Addr().String(), b.Key(), nil)
	if err != nil {
		fatal(err)
	}
	stop := startCPUProfile(*prof)
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fatal(err)
		}
		trace.Start(f)
		defer f.Close()
	}
	start := time.Now()
	if *push {
		err = pushTo(ctx, a, b)
	} else {
		err = b.SyncWith(ctx, c)
	}
	took := time.Since(start)
	stop()
	if *traceFile != "" {
		trace.Stop()
	}
	if err != nil {
		fatal(err)
	}
	n := b.Stats().BundlesAdded
	how := "SyncWith"
	if *push {
		how = "Push"
	}
	fmt.Printf("syncprof: %d bundles in %.2f s: %.0f bundles/s (in one process, %s)\n", n, took.Seconds(), float64(n)/took.Seconds(), how)
	c.Close()
	cancel()
	<-done
}

// pushTo serves b on a new QUIC listener and has a push to it, as
// `samizdat push` does to a mirror.
func pushTo(ctx context.Context, a, b *replica.Node) error {
	ln, err := session.ListenQUIC("127.0.0.1:0", b.Key())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	c, err := session.DialQUIC(ctx, ln.Addr().String(), a.Key(), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return a.Push(ctx, c)
}

// staticPage serves page at every path, with the headers of a mirror's
// article page, made once: the least a net/http handler can do for it.
func staticPage(page []byte) http.Handler {
	values := map[string][]string{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Content-Security-Policy": {web.PageCSP},
		"X-Frame-Options":         {"DENY"},
		"X-Content-Type-Options":  {"nosniff"},
		"Referrer-Policy":         {"no-referrer"},
		"Cache-Control":           {"public, max-age=60"},
		"Vary":                    {"Accept-Encoding"},
		"Content-Length":          {strconv.Itoa(len(page))},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		for k, v := range values {
			hd[k] = v
		}
		w.WriteHeader(http.StatusOK)
		w.Write(page)
	})
}
