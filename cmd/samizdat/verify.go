package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/export"
	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"golang.org/x/mod/sumdb/tlog"
)

func runExport(e *env, args []string) error {
	fs := newFlags(e, "export", "-s STORE -o FILE [-t PUBFILE] ID...")
	storeDir := fs.String("s", "", "the store holding the articles")
	out := fs.String("o", "", "the file to write (never overwritten)")
	pubPath := fs.String("t", "", "the publisher's publisher.pub (needed when the store holds several publishers)")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *storeDir == "" || *out == "" || len(ids) == 0 {
		return usagef("want -s STORE -o FILE and at least one ID")
	}
	st, err := store.Open(*storeDir, &store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	root, err := storePublisher(st, *pubPath)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := export.Write(&buf, st, root, ids); err != nil {
		return err
	}
	// Never hand out a copy that would not verify (an article signed by a
	// key revoked since, say).
	if _, err := export.Verify(buf.Bytes(), root, nil); err != nil {
		return fmt.Errorf("not writing %s: the copy would not verify: %w", *out, err)
	}
	if err := keys.WriteNewFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d article(s), %d bytes\n", *out, len(ids), buf.Len())
	return nil
}

// storePublisher picks the publisher: the one of pubPath, or the store's
// only one.
func storePublisher(st *store.Store, pubPath string) (*keys.PublicKey, error) {
	if pubPath != "" {
		return readPublicKey(pubPath)
	}
	ids, err := st.Publishers()
	if err != nil {
		return nil, err
	}
	if len(ids) != 1 {
		return nil, usagef("the store holds %d publishers: name one with -t PUBFILE", len(ids))
	}
	p, err := st.Publisher(ids[0])
	if err != nil {
		return nil, err
	}
	return p.Root, nil
}

func runVerify(e *env, args []string) error {
	fs := newFlags(e, "verify", "-t PUBFILE PATH...")
	pubPath := fs.String("t", "", "the publisher's publisher.pub, the trust anchor")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *pubPath == "" || len(paths) == 0 {
		return usagef("want -t PUBFILE and at least one PATH (a standalone bundle file or a store)")
	}
	root, err := readPublicKey(*pubPath) // a damaged file is no usage error
	if err != nil {
		return err
	}
	failed := false
	for _, p := range paths {
		msg, problems := verifyPath(p, root)
		for _, pr := range problems {
			fmt.Fprintf(e.stderr, "%s: %s\n", p, oneLine(pr))
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		fmt.Fprintf(e.stdout, "%s: ok: %s\n", p, msg)
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

// verifyPath verifies one store or standalone file and returns a summary,
// or the problems found.
func verifyPath(path string, root *keys.PublicKey) (string, []string) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", []string{err.Error()}
	}
	if fi.IsDir() {
		st, err := store.Open(path, &store.Options{ReadOnly: true})
		if err != nil {
			return "", []string{err.Error()}
		}
		defer st.Close()
		rep, err := st.Audit(root, nil)
		if err != nil {
			return "", []string{err.Error()}
		}
		if len(rep.Problems) > 0 {
			var out []string
			for _, p := range rep.Problems {
				out = append(out, p.String())
			}
			return "", out
		}
		p, _ := st.Publisher(root.ID())
		arts, _ := st.Articles(root.ID())
		live := 0
		for _, a := range arts {
			if !a.Retracted {
				live++
			}
		}
		summary := fmt.Sprintf("store: publisher %s, %d leaves, %d articles (%d retracted), all verified", root.Name(), p.Size, live, len(arts)-live)
		if n := len(rep.Pending); n > 0 {
			// A mirror in the middle of a sync: what it holds verifies.
			summary += fmt.Sprintf(", %d bundle(s) not fetched yet", n)
		}
		return summary, nil
	}
	data, err := files.ReadAtMost(path, export.MaxSize)
	if err != nil {
		return "", []string{err.Error()}
	}
	if bytes.HasPrefix(data, []byte(bundle.Magic)) {
		return "", []string{"a bare bundle carries no key statement or proof; verify a store, or a file made by 'samizdat export'"}
	}
	f, err := export.Verify(data, root, nil)
	if err != nil {
		return "", []string{err.Error()}
	}
	var ids []string
	for _, a := range f.Articles {
		ids = append(ids, fmt.Sprintf("%s rev %d", a.Bundle.Manifest.ID, a.Bundle.Manifest.Revision))
	}
	return fmt.Sprintf("%s, signed by %s, in log of %d leaves as of %s", strings.Join(ids, ", "), f.Articles[0].Bundle.Signer, f.Checkpoint.Size, f.Checkpoint.Time.Format(time.RFC3339)), nil
}

func runInspect(e *env, args []string) error {
	fs := newFlags(e, "inspect", "[-t PUBFILE] PATH")
	pubPath := fs.String("t", "", "verify against this publisher.pub while inspecting")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) != 1 {
		return usagef("want one PATH")
	}
	data, err := files.ReadAtMost(paths[0], export.MaxSize)
	if err != nil {
		return err
	}
	var root *keys.PublicKey
	if *pubPath != "" {
		if root, err = readPublicKey(*pubPath); err != nil {
			return err
		}
	}
	w := e.stdout
	switch {
	case bytes.HasPrefix(data, []byte(export.Magic)):
		if root == nil {
			return usagef("a standalone file is shown once verified: give -t PUBFILE")
		}
		f, err := export.Verify(data, root, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "standalone bundle file, verified against %s\n", root)
		fmt.Fprintf(w, "key statement: version %d, issued %s\n", f.Trust.Statement().Version, f.Trust.Statement().Issued.Format(time.RFC3339))
		printCheckpoint(w, f.Checkpoint)
		for _, a := range f.Articles {
			fmt.Fprintf(w, "\nleaf %d:\n", a.Leaf)
			printManifest(w, a.Bundle.Manifest, a.Bundle.Signer.String(), a.Bundle.Digest, len(a.Bundle.Raw()))
		}
	case bytes.HasPrefix(data, []byte(bundle.Magic)):
		u, err := bundle.ParseUnverified(data, nil)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "bundle (NOT VERIFIED: a bare bundle's signer cannot be checked without its key statement)")
		printManifest(w, u.Manifest, fmt.Sprintf("%x", u.Signer), sha256.Sum256(data), u.Size)
	case bytes.HasPrefix(data, []byte("samizdat secret key")):
		info, err := keys.ParseKeyFile(data)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "encrypted %s key (scrypt 2^%d)\npublic key: %s\nid: %s\n", info.Role, info.ScryptLogN, info.Public, info.Public.ID())
	case bytes.HasPrefix(data, []byte("samizdat key statement")):
		if root == nil {
			return usagef("a key statement is shown once verified: give -t PUBFILE")
		}
		t, err := keys.NewTrust(root, data)
		if err != nil {
			return err
		}
		s := t.Statement()
		fmt.Fprintf(w, "key statement of %s, verified\nversion %d, issued %s\n", s.Publisher, s.Version, s.Issued.Format(time.RFC3339))
		for _, d := range s.Keys {
			fmt.Fprintf(w, "signing key %s valid %s to %s\n", d.Key, d.NotBefore.Format(time.RFC3339), d.NotAfter.Format(time.RFC3339))
		}
		for _, k := range s.Revoked {
			fmt.Fprintf(w, "revoked %s\n", k)
		}
	default:
		if k, err := keys.ParsePublicKey(string(data)); err == nil {
			fmt.Fprintf(w, "public key %s\nname: %s\nid: %s\n", k, k.Name(), k.ID())
			return nil
		}
		return fmt.Errorf("%s: not a samizdat bundle, standalone file, key file or key statement", filepath.Base(paths[0]))
	}
	return nil
}

func printCheckpoint(w io.Writer, c *catalog.Checkpoint) {
	fmt.Fprintf(w, "checkpoint: %s, %d leaves, root %s, %s\n", c.Origin, c.Size, c.Root, c.Time.Format(time.RFC3339))
	if c.Index != (tlog.Hash{}) {
		fmt.Fprintf(w, "article index root: %s\n", c.Index)
	}
}

func printManifest(w io.Writer, m *bundle.Manifest, signer string, digest [32]byte, size int) {
	fmt.Fprintf(w, "id:        %s\nrevision:  %d\ntitle:     %s\n", m.ID, m.Revision, m.Title)
	fmt.Fprintf(w, "language:  %s\nurl:       %s\nauthors:   %s\n", m.Language, m.CanonicalURL, strings.Join(m.Authors, "; "))
	fmt.Fprintf(w, "created:   %s\nupdated:   %s\n", m.Created.Format(time.RFC3339), m.Updated.Format(time.RFC3339))
	fmt.Fprintf(w, "publisher: %s\nsigner:    %s\ndigest:    %x\nsize:      %d bytes\n", keys.IDOf(m.Publisher[:]), signer, digest, size)
	if m.HasDictionary() {
		fmt.Fprintf(w, "dictionary: %x\n", m.Dictionary)
	}
	for _, en := range m.Entries {
		fmt.Fprintf(w, "  %-24s %-14s %-6s %8d -> %8d  sha256 %x\n", en.Name, en.Type, en.Compression, en.Size, en.StoredSize, en.SHA256)
	}
}
