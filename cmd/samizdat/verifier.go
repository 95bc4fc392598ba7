package main

import (
	"fmt"
	"os"

	"github.com/samizdat-news/samizdat/verifier"
)

// runVerifier writes the browser verifier page (package verifier), one
// self-contained HTML file, and prints its SHA-256 so that whoever passes
// it on can say which page they passed on.
func runVerifier(e *env, args []string) error {
	fs := newFlags(e, "verifier", "-o FILE")
	out := fs.String("o", "", "file to write the verifier page to (replaced if it exists), or - for standard output")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) > 0 {
		return usagef("want -o FILE and no arguments")
	}
	page := verifier.Page()
	if *out == "-" {
		_, err := e.stdout.Write(page)
		return err
	}
	if err := os.WriteFile(*out, page, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d bytes)\nsha256 %s\n", *out, len(page), verifier.SHA256())
	return nil
}
