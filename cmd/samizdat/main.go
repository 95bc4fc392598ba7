// Command samizdat signs, mirrors and verifies articles of publishers whose
// sites are blocked. Run "samizdat help" for the commands.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a check failed or the work could not be done
	exitUsage  = 2
)

// env is what a command sees of the world, so tests can run it in process.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"keygen", "make a publisher's root key, signing key and key statement", runKeygen},
		{"publish", "sign article files and add them to a store", runPublish},
		{"retract", "withdraw published articles", runRetract},
		{"mirrors", "add, remove or list the mirrors in the publisher's signed mirror list, which also vouches for verifier pages", runMirrors},
		{"refresh", "sign a fresh checkpoint, so readers see the publisher is alive", runRefresh},
		{"rotate", "replace the signing key (needs the root key)", runRotate},
		{"revoke", "revoke a signing key (needs the root key)", runRevoke},
		{"export", "write articles as one standalone, verifiable file", runExport},
		{"export-static", "write a static mirror to a directory or an S3 bucket, for any web server or CDN", runExportStatic},
		{"verify", "verify standalone files or a store against a publisher key", runVerify},
		{"inspect", "show what a bundle, standalone file or key file holds", runInspect},
		{"mirror", "run a mirror node: sync with peers over QUIC, serve readers over HTTP", runMirror},
		{"push", "send a publisher's store to mirrors", runPush},
		{"follow", "poll feeds, publish new and changed items, push to mirrors: the newsroom's daemon", runFollow},
		{"fetch", "fetch an article from mirrors, verify it and save it", runFetch},
		{"read", "run a local verifying reader to read a publisher in your browser", runRead},
		{"verifier", "write the verifier page: one HTML file that checks signatures in any browser; or check a copy against the publisher's signed hashes", runVerifier},
		{"demo", "see it work: keys, publishing, three chained mirrors and a reader, on loopback", runDemo},
		{"version", "print the version, the source revision and the Go version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(&env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// lineError is a mistake in the command line or a config file that its
// one line explains: exit 2.
type lineError struct{ msg string }

func (e *lineError) Error() string { return e.msg }

// checkFailed says a verification failed and was already reported: exit 1.
var errCheckFailed = errors.New("check failed")

func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run(e, []string{args[1], "--help"})
		}
		printUsage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(e, args[1:])
		var ue *usageError
		var le *lineError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(e.stderr, "samizdat %s: %s\nRun 'samizdat %s --help' for usage.\n", c.name, ue.msg, c.name)
			return exitUsage
		case errors.As(err, &le):
			fmt.Fprintf(e.stderr, "samizdat %s: %s\n", c.name, oneLine(le.msg))
			return exitUsage
		case errors.Is(err, errCheckFailed):
			return exitFailed
		default:
			fmt.Fprintf(e.stderr, "samizdat %s: %s\n", c.name, oneLine(err.Error()))
			return exitFailed
		}
	}
	fmt.Fprintf(e.stderr, "samizdat: unknown command %q\n", args[0])
	printUsage(e.stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "samizdat keeps a blocked publisher's articles reaching readers: signed, compressed bundles,")
	fmt.Fprintln(w, "copied between mirrors and verified by every reader.")
	fmt.Fprintln(w, "\nUsage: samizdat COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'samizdat COMMAND --help' for a command's flags. Passphrases come from")
	fmt.Fprintln(w, "SAMIZDAT_PASSPHRASE, or are asked for on the terminal.")
}

// oneLine keeps an error message to one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newFlags makes a flag set that reports usage errors instead of exiting,
// and prints its usage on stdout only when --help asks for it.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package writes a parse error to the output and then calls
	// Usage; for -h or --help it calls Usage alone. run reports parse errors
	// itself, so Usage stays quiet once an error was written.
	var parseErr bytes.Buffer
	fs.SetOutput(&parseErr)
	fs.Usage = func() {
		if parseErr.Len() > 0 {
			return
		}
		fmt.Fprintf(e.stdout, "Usage: samizdat %s %s\n\nFlags:\n", name, usage)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(&parseErr)
	}
	return fs
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err // fs.Usage has printed the usage
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// override sets *dst to v when v, a flag's value, was given.
func override(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// passphrase returns SAMIZDAT_PASSPHRASE or asks on the terminal.
func passphrase(e *env, prompt string, confirm bool) ([]byte, error) {
	if p := e.getenv("SAMIZDAT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errors.New("no passphrase: set SAMIZDAT_PASSPHRASE or run on a terminal")
	}
	defer tty.Close()
	ask := func(p string) ([]byte, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return b, err
	}
	p, err := ask(prompt)
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := ask("Repeat passphrase: ")
		if err != nil {
			return nil, err
		}
		if string(again) != string(p) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}
