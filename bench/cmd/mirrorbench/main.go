// Command mirrorbench is the helper of bench/mirror: it makes the
// benchmark's publisher stores, waits for a mirror to hold them, and
// measures an incremental sync in one process with counted bytes and
// round trips. It is a benchmark tool, not part of samizdat.
//
//	mirrorbench gen -store DIR -pub FILE -n N [-batch B]
//	mirrorbench add -store DIR [-n N]
//	mirrorbench wait -url URL|-log FILE -metric NAME -n N [-timeout D]
//	mirrorbench freeport
//	mirrorbench incr -base DIR -work DIR
//	mirrorbench serve -store DIR -pub FILE -http ADDR [-coalesce=false] [-for D] [-cpuprofile FILE] [-memprofile FILE]
//	mirrorbench syncprof -store DIR -pub FILE -work DIR [-push] [-batch N] [-parallel N] [-cpuprofile FILE] [-trace FILE]
//
// serve and syncprof are for diagnosis: the mirror's HTTP handler, and a
// full sync, in one process with profiles.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mirrorbench:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mirrorbench gen|add|wait|incr|serve|syncprof [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "gen":
		runGen(args)
	case "add":
		runAdd(args)
	case "wait":
		runWait(args)
	case "incr":
		runIncr(args)
	case "freeport":
		runFreePort()
	case "serve":
		runServe(args)
	case "syncprof":
		runSyncProf(args)
	default:
		fmt.Fprintln(os.Stderr, "mirrorbench: unknown command", os.Args[1])
		os.Exit(2)
	}
}

// runWait polls a Prometheus endpoint every 5 ms until the metric reaches
// n, and fails after the timeout. It prints the seconds it waited.
func runWait(args []string) {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "metrics URL")
	logFile := fs.String("log", "", "instead of -url: a mirror's log, to read its HTTP address from")
	metric := fs.String("metric", "samizdat_sync_bundles_added_total", "metric name")
	n := fs.Float64("n", 0, "value to wait for")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	fs.Parse(args)
	start := time.Now()
	c := &http.Client{Timeout: 2 * time.Second}
	for *url == "" && time.Since(start) < *timeout {
		data, _ := os.ReadFile(*logFile)
		if m := httpAddr.FindSubmatch(data); m != nil {
			*url = "http://" + string(m[1]) + "/metrics"
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	last := -1.0
	for time.Since(start) < *timeout {
		if v, err := metricValue(c, *url, *metric); err == nil {
			last = v
			if v >= *n {
				fmt.Printf("%.3f\n", time.Since(start).Seconds())
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	fatal(fmt.Errorf("wait: %s at %s is %v after %v, want %v", *metric, *url, last, *timeout, *n))
}

var httpAddr = regexp.MustCompile(`msg="mirror: started" .* http=(\S+)`)

// runFreePort prints a free TCP port on 127.0.0.1 (also free for UDP
// unless something takes it meanwhile).
func runFreePort() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
}

func metricValue(c *http.Client, url, metric string) (float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == metric {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("no %s", metric)
}
