package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
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

func runMirrors(e *env, args []string) error {
	fs := newFlags(e, "mirrors", "add|remove|list -k DIR -s STORE [URL...]")
	dir := fs.String("k", "", "the publisher's key directory")
	storeDir := fs.String("s", "", "the publisher's store (created if missing)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want add, remove or list")
	}
	verb, urls := pos[0], pos[1:]
	switch verb {
	case "add", "remove":
		if len(urls) == 0 {
			return usagef("%s: want at least one URL", verb)
		}
	case "list":
		if len(urls) > 0 {
			return usagef("list takes no URLs")
		}
	default:
		return usagef("unknown subcommand %q: want add, remove or list", verb)
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
		printMirrors(e, m)
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
	m, err := p.SetMirrors(next)
	if err != nil {
		return err
	}
	printMirrors(e, m)
	return nil
}

// printMirrors writes a list's version and time, then its URLs, one a line.
func printMirrors(e *env, m *catalog.MirrorList) {
	fmt.Fprintf(e.stdout, "mirror list version %d, signed %s, %d URLs\n", m.Version, m.Time.Format(time.RFC3339), len(m.URLs))
	for _, u := range m.URLs {
		fmt.Fprintln(e.stdout, u)
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
