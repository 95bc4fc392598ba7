package main

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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

// demoPassphrase protects the throw-away keys the demo makes in a
// temporary directory. It is not a secret and is never printed.
const demoPassphrase = "samizdat-demo-only"

func runDemo(e *env, args []string) error {
	fs := newFlags(e, "demo", "[--dir DIR] [--offline] [--once]")
	dir := fs.String("dir", "", "work directory (default: a new temporary directory, removed afterwards)")
	offline := fs.Bool("offline", false, "stop after the offline part: keys, signed articles, a standalone copy, verification")
	once := fs.Bool("once", false, "stop once the mirrors have shown the live article arrive, instead of serving until Ctrl-C")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("demo takes no arguments")
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "samizdat-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
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
	fmt.Fprintf(e.stdout, "samizdat demo: working in %s\n", *dir)
	for i, s := range steps {
		fmt.Fprintf(e.stdout, "\n%d. %s\n", i+1, s.say)
		for _, args := range s.cmds {
			fmt.Fprintf(e.stdout, "$ samizdat %s\n", strings.ReplaceAll(strings.Join(args, " "), *dir+string(filepath.Separator), ""))
			if code := run(sub, args); code != exitOK {
				return fmt.Errorf("step %d (samizdat %s) failed", i+1, args[0])
			}
		}
	}
	fmt.Fprintln(e.stdout, "\nEvery byte above was verified against the publisher's root key. Change one byte of")
	fmt.Fprintln(e.stdout, "article.szb and 'samizdat verify' refuses it (try: samizdat demo --dir DIR, then edit).")
	if *offline {
		return nil
	}
	return demoMirrors(e, *dir, len(steps)+1, *once)
}

// demoMirrors starts the publisher's sync node and three mirrors chained
// publisher -> A -> B -> C on loopback, shows the articles arrive at C, then
// publishes one more and times its arrival.
func demoMirrors(e *env, dir string, step int, once bool) error {
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
		fmt.Fprintf(e.stdout, "$ samizdat mirror --store mirror-%s --trust keys/publisher.pub --http %s --quic %s --peer quic://%s\n", name, m.HTTPAddr(), m.QUICAddr(), prev)
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
	fetchArgs := []string{"-t", "keys/publisher.pub", "--state", "reader-state", "-m", "http://" + hole.Addr().String(), "-m", "http://" + last.HTTPAddr(), "-m", "http://" + mirrors[0].HTTPAddr(), "-o", "live-report", "live-report"}
	fmt.Fprintf(e.stdout, "$ samizdat fetch %s\n", strings.Join(fetchArgs, " "))
	for i, a := range fetchArgs {
		if a == "keys/publisher.pub" || a == "reader-state" || a == "live-report" && fetchArgs[i-1] == "-o" {
			fetchArgs[i] = p(a)
		}
	}
	if code := run(&env{ctx: ctx, stdin: e.stdin, stdout: e.stdout, stderr: e.stdout, getenv: e.getenv}, append([]string{"fetch"}, fetchArgs...)); code != exitOK {
		return fmt.Errorf("the reader got no verified copy (exit %d)", code)
	}
	fmt.Fprintf(e.stdout, "To read in a browser through the mirrors, verified, run: samizdat read -t keys/publisher.pub -m http://%s\n", last.HTTPAddr())

	fmt.Fprintf(e.stdout, "\n%d. Open these in any browser (no JavaScript needed):\n", step+3)
	base := "http://" + last.HTTPAddr()
	fmt.Fprintf(e.stdout, "  %s/                                   mirror C's index\n", base)
	for _, id := range append(ids, "live-report") {
		fmt.Fprintf(e.stdout, "  %s/p/%s/a/%s/\n", base, root.ID(), id)
	}
	fmt.Fprintf(e.stdout, "  %s/status                             sync and freshness\n", base)
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
