package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/verifier"
)

// openPublisher opens the store and the signing key of a key directory.
func openPublisher(e *env, dir, storeDir string, create bool) (*publish.Publisher, *store.Store, error) {
	kd, err := loadKeyDir(dir)
	if err != nil {
		return nil, nil, err
	}
	signer, err := kd.privateKey(e, signKeyFile)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(storeDir, &store.Options{Create: create})
	if err != nil {
		return nil, nil, err
	}
	p, err := publish.New(st, kd.root, kd.statement, signer, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return p, st, nil
}

// mirrorsHelp explains the verifier lines of a mirror list.
const mirrorsHelp = `add and remove change the list's URLs; sign signs the list again with its
URLs as they are. Each signed list also vouches for up to 4 verifier pages
by their SHA-256 (FORMAT.md, "Mirror list"), which readers compare with
sha256sum of a page they were given: by default this samizdat's own page
(samizdat verifier) first, then those the list vouched for already, the
oldest dropped beyond 4. --verifier HEX (repeatable) gives the hashes
instead, in that order; --verifier none vouches for none.`

func runMirrors(e *env, args []string) error {
	fs := newFlags(e, "mirrors", "add|remove|sign|list -k DIR -s STORE [--verifier HEX|none]... [URL...]\n\n"+mirrorsHelp)
	dir := fs.String("k", "", "the publisher's key directory")
	storeDir := fs.String("s", "", "the publisher's store (created if missing)")
	var vouch multiFlag
	fs.Var(&vouch, "verifier", "the SHA-256 of a verifier page the list vouches for, 64 lowercase hex digits (repeatable), or none; default: this samizdat's page, then the list's")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want add, remove, sign or list")
	}
	verb, urls := pos[0], pos[1:]
	switch verb {
	case "add", "remove":
		if len(urls) == 0 {
			return usagef("%s: want at least one URL", verb)
		}
	case "list", "sign":
		if len(urls) > 0 {
			return usagef("%s takes no URLs", verb)
		}
	default:
		return usagef("unknown subcommand %q: want add, remove, sign or list", verb)
	}
	given, err := parseVouch(vouch)
	if err != nil {
		return err
	}
	if verb == "list" && vouch != nil {
		return usagef("list takes no --verifier")
	}
	if *storeDir == "" {
		return usagef("want -k DIR -s STORE")
	}
	for _, u := range urls {
		if err := catalog.CheckMirrorURL(u); err != nil {
			return usagef("%v", err)
		}
	}
	if verb == "list" {
		// Listing needs no passphrase: the store holds the signed list.
		kd, err := loadKeyDir(*dir)
		if err != nil {
			return err
		}
		st, err := store.Open(*storeDir, &store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		signed, err := st.MirrorList(kd.root.ID())
		if errors.Is(err, store.ErrNotFound) {
			return errors.New("no mirror list yet: add mirrors with 'samizdat mirrors add'")
		}
		if err != nil {
			return err
		}
		tr, err := st.Trust(kd.root)
		if err != nil {
			return err
		}
		m, err := catalog.OpenMirrorList(signed, tr)
		if err != nil {
			return err
		}
		printMirrors(e.stdout, m)
		return nil
	}
	p, st, err := openPublisher(e, *dir, *storeDir, verb == "add")
	if err != nil {
		return err
	}
	defer st.Close()
	cur, err := p.Mirrors()
	if err != nil {
		return err
	}
	var have []string
	if cur != nil {
		have = cur.URLs
	}
	next := slices.Clone(have)
	for _, u := range urls {
		i := slices.Index(next, u)
		switch {
		case verb == "add" && i >= 0:
			fmt.Fprintf(e.stderr, "samizdat mirrors: %s is already listed\n", u)
		case verb == "add":
			next = append(next, u)
		case i < 0:
			return fmt.Errorf("%s is not in the mirror list", u)
		default:
			next = slices.Delete(next, i, i+1)
		}
	}
	if len(next) > catalog.MaxMirrors {
		return fmt.Errorf("%d mirrors: a list holds at most %d", len(next), catalog.MaxMirrors)
	}
	if given == nil {
		given = defaultVouch(cur)
	}
	m, err := p.SetMirrorList(next, given)
	if err != nil {
		return err
	}
	printMirrors(e.stdout, m)
	return nil
}

// parseVouch parses the --verifier flags: nil if none were given, an
// empty list for "none".
func parseVouch(vouch multiFlag) ([][sha256.Size]byte, error) {
	if vouch == nil {
		return nil, nil
	}
	if slices.Contains(vouch, "none") {
		if len(vouch) > 1 {
			return nil, usagef("--verifier none vouches for no page: give it alone")
		}
		return [][sha256.Size]byte{}, nil
	}
	if len(vouch) > catalog.MaxVerifiers {
		return nil, usagef("%d --verifier hashes: a list vouches for at most %d", len(vouch), catalog.MaxVerifiers)
	}
	var hs [][sha256.Size]byte
	for _, v := range vouch {
		h, err := catalog.ParseVerifierHash(v)
		if err != nil {
			return nil, usagef("--verifier: %v", err)
		}
		if slices.Contains(hs, h) {
			return nil, usagef("--verifier %s given twice", v)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// defaultVouch returns the verifier pages a new list vouches for when no
// --verifier is given: this binary's page, then those cur vouches for,
// at most catalog.MaxVerifiers.
func defaultVouch(cur *catalog.MirrorList) [][sha256.Size]byte {
	hs := [][sha256.Size]byte{sha256.Sum256(verifier.Page())}
	if cur != nil {
		for _, h := range cur.Verifiers {
			if len(hs) < catalog.MaxVerifiers && !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
	}
	return hs
}

// printMirrors writes a list's version and time, its URLs, one a line,
// then the verifier pages it vouches for, one a line, marking this
// binary's.
func printMirrors(w io.Writer, m *catalog.MirrorList) {
	fmt.Fprintf(w, "mirror list version %d, signed %s, %d URLs\n", m.Version, m.Time.Format(time.RFC3339), len(m.URLs))
	for _, u := range m.URLs {
		fmt.Fprintln(w, u)
	}
	printVouched(w, m.Verifiers)
}

// printVouched writes a "verifier HEX" line per hash, marking the page
// of this samizdat.
func printVouched(w io.Writer, hs [][sha256.Size]byte) {
	own := sha256.Sum256(verifier.Page())
	for _, h := range hs {
		mark := ""
		if h == own {
			mark = " (this samizdat's page)"
		}
		fmt.Fprintf(w, "verifier %x%s\n", h, mark)
	}
}

func runRefresh(e *env, args []string) error {
	fs := newFlags(e, "refresh", "-k DIR -s STORE")
	dir := fs.String("k", "", "the publisher's key directory")
	storeDir := fs.String("s", "", "the publisher's store")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *storeDir == "" || len(pos) > 0 {
		return usagef("want -k DIR -s STORE and no arguments")
	}
	p, st, err := openPublisher(e, *dir, *storeDir, false)
	if err != nil {
		return err
	}
	defer st.Close()
	cp, err := p.Refresh()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "checkpoint of %d leaves, signed %s\n", cp.Size, cp.Time.Format(time.RFC3339))
	return nil
}
