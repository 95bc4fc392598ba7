package main

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

//go:embed demo/*.md
var demoArticles embed.FS

// demoPassphrase protects the throw-away keys the demo makes. It is not a
// secret: with --dir the demo prints it, so that the publisher's commands
// it prints work on the keys it leaves behind.
const demoPassphrase = "samizdat-demo-only"

// demoShell prints the commands the demo runs as a person would type them
// in the directory the demo was started in: this binary as it can be run
// again, and paths relative to that directory where they lie below it.
type demoShell struct {
	self string // how to run samizdat: see selfCommand
	cwd  string
}

func newDemoShell() *demoShell {
	cwd, _ := os.Getwd()
	return &demoShell{self: selfCommand(), cwd: cwd}
}

// path shows path as typed from sh.cwd.
func (sh *demoShell) path(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if rel, err := filepath.Rel(sh.cwd, path); err == nil && sh.cwd != "" && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return path
}

// cmd shows samizdat with args, each quoted for a POSIX shell if need be;
// args that are paths in dir are shown by path.
func (sh *demoShell) cmd(dir string, args ...string) string {
	out := []string{sh.self}
	for _, a := range args {
		if dir != "" && (a == dir || strings.HasPrefix(a, dir+string(filepath.Separator))) {
			a = sh.path(a)
		}
		out = append(out, shellQuote(a))
	}
	return strings.Join(out, " ")
}

// shellQuote quotes s for a POSIX shell unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,[]") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// selfCommand returns how a person runs this samizdat again: "samizdat"
// when that name on PATH is this binary; under "go run", whose binary goes
// away when it exits, "go run ./cmd/samizdat" from the source tree (or
// "go run" of the module path elsewhere); otherwise this binary's absolute
// path.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "samizdat"
	}
	if p, err := exec.LookPath("samizdat"); err == nil {
		a, errA := os.Stat(p)
		b, errB := os.Stat(exe)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return "samizdat"
		}
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if _, err := os.Stat(filepath.Join("cmd", "samizdat", "main.go")); err == nil {
			return "go run ./cmd/samizdat"
		}
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				return "go run " + bi.Path + "@" + v
			}
			return "go run " + bi.Path
		}
	}
	return shellQuote(exe)
}

func runDemo(e *env, args []string) error {
	fs := newFlags(e, "demo", "[--dir DIR] [--offline] [--once]\n\n"+
		"Without --dir the demo works in a temporary directory that it removes when it\n"+
		"ends, and the commands it prints stop working then. With --dir DIR it keeps\n"+
		"everything there (keys, stores, the reader's state) and prints commands that\n"+
		"work after it has stopped. DIR must not hold a demo's keys already.")
	dir := fs.String("dir", "", "work directory, kept afterwards (default: a new temporary directory, removed when the demo ends)")
	offline := fs.Bool("offline", false, "stop after the offline part: keys, signed articles, a standalone copy, verification")
	once := fs.Bool("once", false, "stop once the mirrors have shown the live article arrive, instead of serving until Ctrl-C")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("demo takes no arguments")
	}
	kept := *dir != ""
	if !kept {
		if *dir, err = os.MkdirTemp("", "samizdat-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	sh := newDemoShell()
	sub := &env{ctx: e.ctx, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr, getenv: func(k string) string {
		if k == "SAMIZDAT_PASSPHRASE" {
			return demoPassphrase
		}
		return e.getenv(k)
	}}
	p := func(name string) string { return filepath.Join(*dir, name) }
	names, err := demoArticles.ReadDir("demo")
	if err != nil {
		return err
	}
	var publish [][]string
	for _, n := range names {
		data, err := demoArticles.ReadFile("demo/" + n.Name())
		if err != nil {
			return err
		}
		f := p(n.Name())
		if err := os.WriteFile(f, data, 0o644); err != nil {
			return err
		}
		lang, _, _ := strings.Cut(n.Name(), "-")
		publish = append(publish, []string{"publish", "-k", p("keys"), "-s", p("store"), "--lang", lang, f})
	}
	steps := []struct {
		say  string
		cmds [][]string
	}{
		{"The publisher makes its keys once. publisher.pub is what readers and mirrors pin.",
			[][]string{{"keygen", "-o", p("keys"), "--name", "demo-news"}}},
		{"It signs three articles (English, Russian, Persian) into its store.", publish},
		{"It exports one as a standalone file that can travel by any means.",
			[][]string{{"export", "-s", p("store"), "-o", p("article.szb"), "fa-ayeneh"}}},
		{"A reader verifies the file and the whole store against publisher.pub alone.",
			[][]string{{"verify", "-t", p("keys/publisher.pub"), p("article.szb"), p("store")}}},
		{"And sees what was signed, and by whom.",
			[][]string{{"inspect", "-t", p("keys/publisher.pub"), p("article.szb")}}},
	}
	fmt.Fprintf(e.stdout, "samizdat demo: working in %s\n", sh.path(*dir))
	if kept {
		fmt.Fprintf(e.stdout, "Everything stays there. The keys' passphrase is %q (no secret: the keys are\n"+
			"for the demo only); the publisher's commands ask for it, or take it from SAMIZDAT_PASSPHRASE.\n", demoPassphrase)
	} else {
		fmt.Fprintf(e.stdout, "This temporary directory is removed when the demo ends, and the commands below\n"+
			"stop working then. To keep everything, run: %s demo --dir DIR\n", sh.self)
	}
	for i, s := range steps {
		fmt.Fprintf(e.stdout, "\n%d. %s\n", i+1, s.say)
		for _, args := range s.cmds {
			fmt.Fprintf(e.stdout, "$ %s\n", sh.cmd(*dir, args...))
			if code := run(sub, args); code != exitOK {
				return fmt.Errorf("step %d (samizdat %s) failed", i+1, args[0])
			}
		}
	}
	fmt.Fprintln(e.stdout, "\nEvery byte above was verified against the publisher's root key.")
	if kept {
		fmt.Fprintf(e.stdout, "Change one byte of %s and this refuses it: %s\n", sh.path(p("article.szb")), sh.cmd(*dir, "verify", "-t", p("keys/publisher.pub"), p("article.szb")))
	} else {
		fmt.Fprintln(e.stdout, "Change one byte of article.szb and 'verify' refuses it (keep the files with --dir to try).")
	}
	if !*offline {
		if err := demoMirrors(e, sh, *dir, len(steps)+1, *once, kept); err != nil {
			return err
		}
	} else {
		demoAfter(e, sh, *dir, kept, false)
	}
	return nil
}

// demoAfterPort is the HTTP port of the mirror the closing commands start
// again over mirror C's store.
const demoAfterPort = "8080"

// demoAfter prints the commands that work once the demo has stopped: with
// --dir, over what it kept; without, it says that nothing is kept.
func demoAfter(e *env, sh *demoShell, dir string, kept, mirrors bool) {
	p := func(name string) string { return filepath.Join(dir, name) }
	if !kept {
		fmt.Fprintf(e.stdout, "\nWhen the demo ends it removes %s, with the keys and stores the commands above use.\n"+
			"To keep them and go on afterwards, run: %s demo --dir DIR\n", sh.path(dir), sh.self)
		return
	}
	fmt.Fprintf(e.stdout, "\nEverything is kept in %s. Once the demo has stopped, these work from this directory:\n", sh.path(dir))
	verify := []string{"verify", "-t", p("keys/publisher.pub"), p("article.szb"), p("store")}
	if mirrors {
		verify = append(verify, p("mirror-C"))
	}
	fmt.Fprintf(e.stdout, "  %s\n", sh.cmd(dir, verify...))
	if mirrors {
		mirrorURL := "http://127.0.0.1:" + demoAfterPort
		fmt.Fprintf(e.stdout, "  %s\n", sh.cmd(dir, "mirror", "--store", p("mirror-C"), "--trust", p("keys/publisher.pub"), "--http", "127.0.0.1:"+demoAfterPort))
		fmt.Fprintf(e.stdout, "  %s\n", sh.cmd(dir, "fetch", "-t", p("keys/publisher.pub"), "--state", p("reader-state"), "-m", mirrorURL))
		fmt.Fprintf(e.stdout, "  %s\n", sh.cmd(dir, "read", "-t", p("keys/publisher.pub"), "--state", p("reader-state"), "-m", mirrorURL))
		fmt.Fprintln(e.stdout, "  (mirror serves mirror C's copy again, on its own, until Ctrl-C; fetch and read ask it)")
	}
	fmt.Fprintf(e.stdout, "  SAMIZDAT_PASSPHRASE=%s %s\n", demoPassphrase, sh.cmd(dir, "publish", "-k", p("keys"), "-s", p("store"), "YOUR-ARTICLE.md"))
}

// demoMirrors starts the publisher's sync node and three mirrors chained
// publisher -> A -> B -> C on loopback, shows the articles arrive at C, then
// publishes one more and times its arrival.
func demoMirrors(e *env, sh *demoShell, dir string, step int, once, kept bool) error {
	p := func(name string) string { return filepath.Join(dir, name) }
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()

	root, err := readPublicKey(p("keys/publisher.pub"))
	if err != nil {
		return err
	}
	kd, err := loadKeyDir(p("keys"))
	if err != nil {
		return err
	}
	signer, err := keys.ReadKeyFile(p("keys/"+signKeyFile), []byte(demoPassphrase))
	if err != nil {
		return err
	}
	pubStore, err := store.Open(p("store"), nil)
	if err != nil {
		return err
	}
	defer pubStore.Close()
	pubNode, err := replica.New(pubStore, []*keys.PublicKey{root}, &replica.Config{Logger: quiet})
	if err != nil {
		return err
	}
	l, err := session.ListenQUIC("127.0.0.1:0", pubNode.Key())
	if err != nil {
		return err
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- pubNode.Serve(ctx, l) }()
	defer func() { cancel(); l.Close(); <-served }()

	fmt.Fprintf(e.stdout, "\n%d. Three volunteers run mirrors, chained: the publisher -> A -> B -> C. Each copies\n"+
		"   from the one before over QUIC and verifies everything before storing it.\n", step)
	prev := l.Addr().String()
	var mirrors []*mirror.Mirror
	defer func() {
		for _, m := range mirrors {
			stopMirror(m)
		}
	}()
	start := time.Now()
	for _, name := range []string{"A", "B", "C"} {
		c := &mirror.Config{Store: p("mirror-" + name), Trust: []string{p("keys/publisher.pub")}, HTTP: "127.0.0.1:0", QUIC: "127.0.0.1:0", Peers: []string{"quic://" + prev}, Logger: quiet}
		m, err := mirror.Start(ctx, c)
		if err != nil {
			return fmt.Errorf("mirror %s: %w", name, err)
		}
		mirrors = append(mirrors, m)
		fmt.Fprintf(e.stdout, "$ %s\n", sh.cmd(dir, "mirror", "--store", c.Store, "--trust", c.Trust[0], "--http", m.HTTPAddr(), "--quic", m.QUICAddr(), "--peer", "quic://"+prev))
		prev = m.QUICAddr()
	}
	last := mirrors[len(mirrors)-1]
	ids := []string{"en-mirrors", "fa-ayeneh", "ru-zerkala"}
	if err := waitArticles(ctx, last.Store(), root.ID(), ids, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "All %d articles reached mirror C, verified, %s after the mirrors started.\n", len(ids), time.Since(start).Round(time.Millisecond))

	fmt.Fprintf(e.stdout, "\n%d. The publisher signs one more article while everything runs; it is pushed along the chain.\n", step+1)
	pub, err := publish.New(pubStore, root, kd.statement, signer, nil)
	if err != nil {
		return err
	}
	item := publish.Item{Meta: bundle.Metadata{ID: "live-report", Title: "Published while the mirrors run", Language: "en"},
		Files: []bundle.File{{Type: "text/markdown", Data: []byte("# Published while the mirrors run\n\nThis article was signed after the mirrors started, and crossed the chain by itself.\n")}}}
	start = time.Now()
	if _, err := pub.Publish([]publish.Item{item}); err != nil {
		return err
	}
	pubNode.Notify(root.ID())
	if err := waitArticles(ctx, last.Store(), root.ID(), []string{"live-report"}, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "live-report arrived at mirror C, verified, %s after it was published.\n", time.Since(start).Round(time.Millisecond))
	if probs, err := last.Store().Check(root, nil); err != nil || len(probs) > 0 {
		return fmt.Errorf("mirror C does not verify: %v %v", err, probs)
	}
	fmt.Fprintf(e.stdout, "Mirror C's whole store verifies against publisher.pub.\n")

	fmt.Fprintf(e.stdout, "\n%d. A reader, whose first mirror is blocked (it never answers), fetches the live article.\n"+
		"   The reader checks the signature, every hash, and that the article is the newest in the publisher's log.\n", step+2)
	hole, err := net.Listen("tcp", "127.0.0.1:0") // accepts nothing: a blocked mirror
	if err != nil {
		return err
	}
	defer hole.Close()
	fetchArgs := []string{"fetch", "-t", p("keys/publisher.pub"), "--state", p("reader-state"), "-m", "http://" + hole.Addr().String(), "-m", "http://" + last.HTTPAddr(), "-m", "http://" + mirrors[0].HTTPAddr(), "-o", p("live-report"), "live-report"}
	fmt.Fprintf(e.stdout, "$ %s\n", sh.cmd(dir, fetchArgs...))
	if code := run(&env{ctx: ctx, stdin: e.stdin, stdout: e.stdout, stderr: e.stdout, getenv: e.getenv}, fetchArgs); code != exitOK {
		return fmt.Errorf("the reader got no verified copy (exit %d)", code)
	}
	if !once {
		fmt.Fprintf(e.stdout, "While the demo runs, read through the mirrors in your browser, verified, from another terminal:\n  %s\n",
			sh.cmd(dir, "read", "-t", p("keys/publisher.pub"), "--state", p("reader-state"), "-m", "http://"+last.HTTPAddr()))
	}

	if once {
		fmt.Fprintf(e.stdout, "\n%d. While the mirrors ran, these pages were open to any browser (no JavaScript needed):\n", step+3)
	} else {
		fmt.Fprintf(e.stdout, "\n%d. Open these in any browser (no JavaScript needed) while the demo runs:\n", step+3)
	}
	base := "http://" + last.HTTPAddr()
	fmt.Fprintf(e.stdout, "  %s/                                   mirror C's index\n", base)
	for _, id := range append(ids, "live-report") {
		fmt.Fprintf(e.stdout, "  %s/p/%s/a/%s/\n", base, root.ID(), id)
	}
	fmt.Fprintf(e.stdout, "  %s/status                             sync and freshness\n", base)
	demoAfter(e, sh, dir, kept, true)
	if once {
		return nil
	}
	fmt.Fprintln(e.stdout, "\nThe mirrors run until you press Ctrl-C.")
	<-e.ctx.Done()
	return nil
}

// waitArticles waits, polling, until st holds every article of ids with its
// bundle, or the timeout passes.
func waitArticles(ctx context.Context, st *store.Store, publisher string, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, id := range ids {
			if a, err := st.Article(publisher, id); err != nil || !st.HasBundle(a.Digest) {
				missing = id
				break
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not arrive within %s", missing, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stopMirror shuts m down, giving it 5 s.
func stopMirror(m *mirror.Mirror) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.Shutdown(ctx)
}
