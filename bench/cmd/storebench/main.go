// Command storebench times opening and auditing a store: the helper of
// bench/store, which records how store.Open and `samizdat verify STORE`
// grow with the number of articles. It is a benchmark tool, not part of
// samizdat.
//
//	storebench open -store DIR [-count N] [-readonly]
//	storebench audit -store DIR -pub FILE [-cpuprofile FILE]
//
// open opens the store for writing (or reading, with -readonly) and
// closes it, count times, and prints the median and the fastest time in
// milliseconds. audit runs store.Audit once, in process, and prints how
// long it took; with -cpuprofile it writes a CPU profile, for diagnosis.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "storebench:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: storebench open|audit [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "open":
		runOpen(os.Args[2:])
	case "audit":
		runAudit(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "storebench: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func runOpen(args []string) {
	fs := flag.NewFlagSet("open", flag.ExitOnError)
	dir := fs.String("store", "", "store directory")
	count := fs.Int("count", 7, "times to open and close the store")
	ro := fs.Bool("readonly", false, "open for reading only")
	fs.Parse(args)
	if *dir == "" || *count < 1 {
		fatal(fmt.Errorf("open: want -store DIR and a positive -count"))
	}
	var times []time.Duration
	for range *count {
		start := time.Now()
		st, err := store.Open(*dir, &store.Options{ReadOnly: *ro})
		if err != nil {
			fatal(err)
		}
		if err := st.Close(); err != nil {
			fatal(err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	fmt.Printf("open %s: median %.2f ms, fastest %.2f ms (%d runs)\n", *dir, ms(times[len(times)/2]), ms(times[0]), len(times))
}

func runAudit(args []string) {
	fs := flag.NewFlagSet("audit", flag.ExitOnError)
	dir := fs.String("store", "", "store directory")
	pubFile := fs.String("pub", "", "the publisher's publisher.pub")
	prof := fs.String("cpuprofile", "", "write a CPU profile to this file")
	fs.Parse(args)
	data, err := os.ReadFile(*pubFile)
	if err != nil {
		fatal(err)
	}
	root, err := keys.ParsePublicKey(strings.TrimSpace(string(data)))
	if err != nil {
		fatal(err)
	}
	st, err := store.Open(*dir, &store.Options{ReadOnly: true})
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	r, err := st.Audit(root, nil)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("audit %s: %.0f ms, %d problems, %d pending\n", *dir, ms(time.Since(start)), len(r.Problems), len(r.Pending))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
