package static_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/static"
)

// TestS3Blackholed (red team, fourth session): an S3 endpoint that
// accepts connections and never answers held each request for minio-go's
// minute, 10 times, and one that trickles its answer for good. With
// S3Config.RequestTimeout each request ends in time and a List or Put
// fails after about s3MaxTries timeouts, so a running mirror counts the
// export failed and tries again.
func TestS3Blackholed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	// An endpoint that answers at once, then trickles its body a byte
	// every 100 ms.
	stop := make(chan struct{})
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		for range 100000 {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(func() { close(stop); trickle.Close() })
	sink := func(ep string) *static.S3 {
		s, err := static.NewS3(&static.S3Config{Endpoint: ep, Bucket: "news-bucket",
			AccessKey: "AKIDSECRETNAME", SecretKey: "hunter2-secret-key", RequestTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	black, slow := sink("http://"+ln.Addr().String()), sink(trickle.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, op := range map[string]func() error{
		"list, blackholed": func() error { _, err := black.List(ctx); return err },
		"put, blackholed":  func() error { return black.Put(ctx, static.Object{Name: "x", Type: "text/plain"}, []byte("x")) },
		"get, trickled":    func() error { _, err := slow.Get(ctx, "x", 1<<20); return err },
		"list, trickled":   func() error { _, err := slow.List(ctx); return err },
	} {
		t0 := time.Now()
		err := op()
		d := time.Since(t0)
		t.Logf("%s: failed after %v: %v", name, d.Round(time.Millisecond), err)
		if err == nil || d > 10*time.Second || ctx.Err() != nil {
			t.Errorf("%s: %v after %v; want a failure within 10 s", name, err, d)
		}
	}
}
