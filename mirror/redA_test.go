package mirror

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestStaticExportBlackholedShutdown (red team, fourth session): an S3
// endpoint that accepts connections and never answers holds the running
// export; the mirror's shutdown still ends at once, well within its
// timeout, and the export is counted neither done nor failed.
func TestStaticExportBlackholedShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	var once sync.Once
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
			once.Do(func() { close(accepted) })
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	dir := t.TempDir()
	pubFile, _ := testPublisher(t, dir)
	m, err := Start(context.Background(), &Config{Store: filepath.Join(dir, "store"), Trust: []string{pubFile},
		HTTP: "127.0.0.1:0", ExportStatic: "s3://news-bucket/site", S3Endpoint: "http://" + ln.Addr().String(), S3AllowHTTP: true,
		ExportEvery: time.Second, S3AccessKey: "AKIDSECRETNAME", S3SecretKey: "hunter2-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the export never reached the endpoint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	err = m.Shutdown(ctx)
	d := time.Since(t0)
	t.Logf("shutdown with an export hanging on a blackholed S3 endpoint: %v (%v)", d, err)
	if err != nil || d > 5*time.Second {
		t.Errorf("Shutdown: %v after %v", err, d)
	}
	if m.exp.ok.Load() != 0 {
		t.Errorf("an export against a blackholed endpoint was counted done")
	}
}
