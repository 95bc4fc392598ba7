package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/verifier"
)

// verifierHelp explains the two uses of the verifier command.
const verifierHelp = `With -o, writes the browser verifier page (one self-contained HTML file)
and prints its SHA-256.

With -t, asks the mirrors for the publisher's signed mirror list, verified
as fetch verifies (the key statement against publisher.pub, the list's
signature by a key it delegates), prints the SHA-256 of the verifier pages
the list vouches for, and checks FILE against them: a page given as FILE,
else the one -o wrote, else this samizdat's own. Exit status 1 if the
publisher does not vouch for it.`

// runVerifier writes the browser verifier page (package verifier), one
// self-contained HTML file, and prints its SHA-256 so that whoever passes
// it on can say which page they passed on; or, with -t, checks a page
// against the SHA-256 the publisher vouches for in its signed mirror list.
func runVerifier(e *env, args []string) error {
	fs := newFlags(e, "verifier", "-o FILE | -t PUBFILE [-m URL]... [-o FILE | FILE]\n\n"+verifierHelp)
	out := fs.String("o", "", "file to write the verifier page to (replaced if it exists), or - for standard output")
	rf := addReaderFlags(e, fs, true)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	check := *rf.trust != ""
	switch {
	case !check && (*out == "" || len(pos) > 0):
		return usagef("want -o FILE and no arguments, or -t PUBFILE to check a page against the publisher's signed hashes")
	case check && (len(pos) > 1 || len(pos) == 1 && *out != ""):
		return usagef("-t checks one page: the FILE given, or the one -o writes")
	case check && *out == "-":
		return usagef("-t cannot check a page written to standard output: give -o FILE")
	case check && *rf.noDiscovery:
		return usagef("-t reads the publisher's mirror list, which --no-discovery does not fetch")
	}
	page := verifier.Page()
	if *out == "-" {
		_, err := e.stdout.Write(page)
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, page, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (%d bytes)\nsha256 %s\n", *out, len(page), verifier.SHA256())
		if !check {
			fmt.Fprintf(e.stdout, "The publisher vouches for verifier pages by SHA-256 in its signed mirror list: 'samizdat verifier -t publisher.pub -m MIRROR %s' compares them, and the page shows them; check a copy with 'sha256sum %s'.\n", *out, *out)
			return nil
		}
	}
	name := "this samizdat's page"
	switch {
	case len(pos) == 1:
		name = pos[0]
		if page, err = files.ReadAtMost(name, verifier.MaxSize); err != nil {
			return fmt.Errorf("%w (no verifier page is larger than %d bytes)", err, verifier.MaxSize)
		}
	case *out != "":
		name = *out
	}
	return checkVouched(e, rf, name, sha256.Sum256(page))
}

// checkVouched fetches the publisher's newest mirror list through a
// reader and reports whether it vouches for the page named name.
func checkVouched(e *env, rf *readerFlags, name string, sum [sha256.Size]byte) error {
	c, err := rf.client(e)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Newest(e.ctx, 1)
	var re *reader.Error
	if errors.As(err, &re) {
		forkAlarm(e, re.Forks(), c.ForkEvidence())
		fmt.Fprintf(e.stderr, "samizdat verifier: %s\n", printable(err.Error()))
		return errCheckFailed
	} else if err != nil {
		return err
	}
	forkAlarm(e, res.Forks(), c.ForkEvidence())
	if res.Stale {
		fmt.Fprintf(e.stderr, "samizdat verifier: warning: STALE: no mirror tried had a checkpoint newer than %s; the publisher may have signed a newer mirror list\n", res.Age.Round(time.Second))
	}
	version, hs, err := c.Verifiers()
	if err != nil {
		return err
	}
	who := fmt.Sprintf("publisher %s (%s)", res.Trust.Root().Name(), res.Publisher)
	if version == 0 {
		fmt.Fprintf(e.stderr, "samizdat verifier: %s has no signed mirror list at the mirrors asked: it vouches for no verifier page\n", who)
		return errCheckFailed
	}
	fmt.Fprintf(e.stdout, "%s vouches for %d verifier pages in its mirror list version %d:\n", who, len(hs), version)
	printVouched(e.stdout, hs)
	if !slices.Contains(hs, sum) {
		fmt.Fprintf(e.stderr, "samizdat verifier: %s (sha256 %x) is NOT a page the publisher vouches for: do not trust what it shows\n", printable(name), sum)
		return errCheckFailed
	}
	fmt.Fprintf(e.stdout, "%s (sha256 %x) is a page the publisher vouches for\n", name, sum)
	return nil
}
