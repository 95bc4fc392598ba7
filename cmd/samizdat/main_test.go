package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as the samizdat command, which the
// scripts under testdata call as "samizdat".
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"samizdat": main})
}

// testPassphrase is what SAMIZDAT_PASSPHRASE holds in every script.
const testPassphrase = "correct horse battery staple"

// TestScripts runs testdata/*.txtar. Besides testscript's own commands and
// conditions they have:
//
//	exitcode N PROG [ARGS...]  run PROG, which must exit with status N and
//	                           must not panic (no "goroutine" on stderr)
//	lines FILE N               FILE (or stdout, stderr) has N lines
//	perm FILE MODE             FILE has permission bits MODE (octal)
//	flipbyte FILE OFFSET       flip the low bit of a byte; OFFSET < 0
//	                           counts from the end
//	truncate FILE SIZE         cut FILE to SIZE bytes, keeping its mode
//	mkpng FILE                 write a small valid PNG image
//	capture FILE REGEXP VAR... set each VAR to a submatch of REGEXP's first
//	                           match in FILE (or stdout, stderr)
//	freeport VAR               set VAR to a TCP port on 127.0.0.1 that was
//	                           free a moment ago
//	waithttp URL [FILE]        poll URL until it answers 200 OK, at most
//	                           waitHTTPTimeout (for a samizdat running in
//	                           the background), and save the body in FILE
//	[corpus]                   the corpus is present; $CORPUS names it
//
// SAMIZDAT_PASSPHRASE is set to a valid passphrase.
func TestScripts(t *testing.T) {
	// Without the corpus, [corpus] scripts skip; under
	// SAMIZDAT_REQUIRE_CORPUS=1 the test fails first.
	corpusDir, err := corpus.Locate()
	if err == nil {
		_, err = os.Stat(filepath.Join(corpusDir, "seed", "rferl-geneva-talks.txt"))
	}
	haveCorpus := err == nil
	if !haveCorpus && corpus.Required() {
		t.Fatalf("corpus absent and %s=1: %v", corpus.RequireEnv, err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                "testdata",
		RequireUniqueNames: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("SAMIZDAT_PASSPHRASE", testPassphrase)
			// Under -race every samizdat process would sleep a second
			// before exiting (GORACE atexit_sleep_ms, default 1000).
			gorace := os.Getenv("GORACE")
			if !strings.Contains(gorace, "atexit_sleep_ms") {
				gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
			}
			e.Setenv("GORACE", gorace)
			if haveCorpus {
				e.Setenv("CORPUS", corpusDir)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "corpus" {
				return haveCorpus, nil
			}
			return false, errors.New("unknown condition " + cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
			"lines":    cmdLines,
			"perm":     cmdPerm,
			"flipbyte": cmdFlipbyte,
			"truncate": cmdTruncate,
			"mkpng":    cmdMkpng,
			"capture":  cmdCapture,
			"freeport": cmdFreeport,
			"waithttp": cmdWaithttp,
		},
	})
}

func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("%s does not support !", name)
	}
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "exitcode")
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("running %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if stderr := ts.ReadFile("stderr"); strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic:") {
		ts.Fatalf("%s panicked", args[1])
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "lines")
	if len(args) != 2 {
		ts.Fatalf("usage: lines FILE N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	text := ts.ReadFile(args[0])
	got := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		got++
	}
	if got != want {
		ts.Fatalf("%s has %d lines, want %d", args[0], got, want)
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "perm")
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %04o, want %04o", args[0], got, want)
	}
}

// rewrite changes a file's content in place, keeping its mode.
func rewrite(ts *testscript.TestScript, file string, f func([]byte) []byte) {
	path := ts.MkAbs(file)
	data, err := os.ReadFile(path)
	ts.Check(err)
	fi, err := os.Stat(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, f(data), fi.Mode().Perm()))
}

func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "flipbyte")
	if len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	rewrite(ts, args[0], func(data []byte) []byte {
		i := off
		if i < 0 {
			i += len(data)
		}
		if i < 0 || i >= len(data) {
			ts.Fatalf("offset %d outside %s (%d bytes)", off, args[0], len(data))
		}
		data[i] ^= 1
		return data
	})
}

func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "truncate")
	if len(args) != 2 {
		ts.Fatalf("usage: truncate FILE SIZE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	rewrite(ts, args[0], func(data []byte) []byte {
		if n < 0 || n > len(data) {
			ts.Fatalf("size %d outside %s (%d bytes)", n, args[0], len(data))
		}
		return data[:n]
	})
}

func cmdMkpng(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkpng")
	if len(args) != 1 {
		ts.Fatalf("usage: mkpng FILE")
	}
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range 4 {
		img.Set(i, i, color.NRGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	ts.Check(png.Encode(&buf, img))
	path := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	ts.Check(os.WriteFile(path, buf.Bytes(), 0o644))
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "capture")
	if len(args) < 3 {
		ts.Fatalf("usage: capture FILE REGEXP VAR...")
	}
	re, err := regexp.Compile(`(?m)` + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if m == nil {
		ts.Fatalf("no match for %#q in %s", args[1], args[0])
	}
	if len(m)-1 < len(args)-2 {
		ts.Fatalf("%#q has %d submatches, want %d", args[1], len(m)-1, len(args)-2)
	}
	for i, v := range args[2:] {
		ts.Setenv(v, m[i+1])
	}
}

func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "freeport")
	if len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	ts.Check(l.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// waitHTTPTimeout bounds waithttp: a mirror's start, under -race on a
// loaded machine.
const waitHTTPTimeout = 30 * time.Second

func cmdWaithttp(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "waithttp")
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waithttp URL [FILE]")
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitHTTPTimeout)
	for {
		resp, err := client.Get(args[0])
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				if len(args) == 2 {
					ts.Check(os.WriteFile(ts.MkAbs(args[1]), body, 0o644))
				}
				return
			}
			err = fmt.Errorf("%s %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 OK within %v: %v", args[0], waitHTTPTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
}
