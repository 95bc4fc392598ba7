package main

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

//go:embed demo/*.md
var demoArticles embed.FS

// demoPassphrase protects the throw-away keys the demo makes in a
// temporary directory. It is not a secret and is never printed.
const demoPassphrase = "samizdat-demo-only"

func runDemo(e *env, args []string) error {
	fs := newFlags(e, "demo", "[--dir DIR]")
	dir := fs.String("dir", "", "work directory (default: a new temporary directory, removed afterwards)")
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
	return nil
}
