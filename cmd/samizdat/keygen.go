package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/publish/source"
)

// Files of a publisher's key directory.
const (
	pubFile       = "publisher.pub"
	rootKeyFile   = "root.key"
	signKeyFile   = "signing.key"
	statementFile = "key-statement"
)

const defaultValidity = 2 * 365 * 24 * time.Hour

func runKeygen(e *env, args []string) error {
	fs := newFlags(e, "keygen", "-o DIR [--name NAME] [--valid DURATION]")
	out := fs.String("o", "", "directory to write publisher.pub, root.key, signing.key and key-statement to (created if missing)")
	name := fs.String("name", "", "publisher name, shown to readers (default: the directory's name)")
	valid := fs.Duration("valid", defaultValidity, "how long the signing key may sign")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) > 0 {
		return usagef("want -o DIR and no arguments")
	}
	if *valid <= 0 {
		return usagef("--valid must be positive")
	}
	if *name == "" {
		abs, _ := filepath.Abs(*out)
		*name = source.Slug(filepath.Base(abs))
		if len(*name) > keys.MaxNameLen {
			*name = (*name)[:keys.MaxNameLen]
		}
		if *name == "" {
			*name = "publisher"
		}
	}
	root, err := keys.Generate(nil, *name, keys.RoleRoot)
	if errors.Is(err, keys.ErrInvalidKey) {
		return usagef("--name: %v", err)
	}
	if err != nil {
		return err
	}
	signer, err := keys.Generate(nil, signingKeyName(*name, 1), keys.RoleSigning)
	if err != nil {
		return err
	}
	for _, f := range []string{pubFile, rootKeyFile, signKeyFile, statementFile} {
		if _, err := os.Lstat(filepath.Join(*out, f)); err == nil {
			return fmt.Errorf("%s already exists; keygen never overwrites keys", filepath.Join(*out, f))
		}
	}
	pass, err := passphrase(e, "Passphrase for the new keys: ", true)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := &keys.Statement{Publisher: root.Public(), Version: 1, Issued: now,
		Keys: []keys.Delegation{{Key: signer.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(*valid)}}}
	signed, err := st.Sign(root)
	if err != nil {
		return err
	}
	if _, err := keys.Seal(root, pass, nil); err != nil { // check the passphrase before creating anything
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	var written []string
	undo := func(err error) error {
		for _, f := range written {
			os.Remove(f)
		}
		return err
	}
	for _, w := range []struct {
		file  string
		write func(path string) error
	}{
		{rootKeyFile, func(p string) error { return keys.WriteKeyFile(p, root, pass, nil) }},
		{signKeyFile, func(p string) error { return keys.WriteKeyFile(p, signer, pass, nil) }},
		{statementFile, func(p string) error { return keys.WriteNewFile(p, signed, 0o644) }},
		{pubFile, func(p string) error { return keys.WriteNewFile(p, []byte(root.Public().String()+"\n"), 0o644) }},
	} {
		p := filepath.Join(*out, w.file)
		if err := w.write(p); err != nil {
			return undo(err)
		}
		written = append(written, p)
	}
	fmt.Fprintf(e.stdout, "publisher %s (id %s)\n", root.Public(), root.Public().ID())
	fmt.Fprintf(e.stdout, "wrote %s: give %s to mirrors and readers; move %s offline\n", *out, pubFile, rootKeyFile)
	return nil
}

// signingKeyName names a publisher's signing key of key statement version
// n "NAME/signing-N", shortening NAME so that the whole is a valid key name
// however long the publisher's name and however many rotations.
func signingKeyName(publisher string, n uint64) string {
	suffix := fmt.Sprintf("/signing-%d", n)
	if len(publisher)+len(suffix) > keys.MaxNameLen {
		publisher = publisher[:keys.MaxNameLen-len(suffix)] // names are ASCII
	}
	return publisher + suffix
}

// keyDir is a publisher's key directory, loaded.
type keyDir struct {
	dir       string
	root      *keys.PublicKey
	statement []byte
	trust     *keys.Trust
}

func loadKeyDir(dir string) (*keyDir, error) {
	if dir == "" {
		return nil, usagef("-k DIR is required")
	}
	root, err := readPublicKey(filepath.Join(dir, pubFile))
	if err != nil {
		return nil, err
	}
	stmt, err := files.ReadAtMost(filepath.Join(dir, statementFile), keys.MaxStatementSize)
	if err != nil {
		return nil, err
	}
	trust, err := keys.NewTrust(root, stmt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, statementFile), err)
	}
	return &keyDir{dir: dir, root: root, statement: stmt, trust: trust}, nil
}

func (k *keyDir) privateKey(e *env, file string) (*keys.PrivateKey, error) {
	pass, err := passphrase(e, "Passphrase for "+filepath.Join(k.dir, file)+": ", false)
	if err != nil {
		return nil, err
	}
	return keys.ReadKeyFile(filepath.Join(k.dir, file), pass)
}

// readPublicKey reads a publisher.pub file.
func readPublicKey(path string) (*keys.PublicKey, error) { return keys.ReadPublicKeyFile(path) }

// revokeTarget returns the signing key that arg names, in one of the forms
// revokeHelp lists, looking names up among the keys st delegates.
func revokeTarget(arg string, st *keys.Statement) (*keys.PublicKey, error) {
	if strings.Contains(arg, "+") {
		k, err := keys.ParsePublicKey(arg)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return k, nil
	}
	var named []*keys.PublicKey
	for _, d := range st.Keys {
		if n := d.Key.Name(); n == arg || strings.HasSuffix(n, "/"+arg) {
			named = append(named, d.Key)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) > 1:
		return nil, usagef("%d signing keys in force are named %q: give the key's public text form", len(named), arg)
	}
	if data, err := files.ReadAtMost(arg, maxKeyFileSize); err == nil {
		info, err := keys.ParseKeyFile(data)
		if err != nil {
			return nil, usagef("%s: %v", arg, err)
		}
		return info.Public, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var inForce []string
	for _, d := range st.Keys {
		inForce = append(inForce, d.Key.Name())
	}
	for _, k := range st.Revoked {
		if k.Name() == arg || strings.HasSuffix(k.Name(), "/"+arg) {
			return nil, fmt.Errorf("key %s is already revoked", k.Name())
		}
	}
	return nil, usagef("no signing key in force is named %q, and no such key file; the keys in force: %s", arg, strings.Join(inForce, ", "))
}

// maxKeyFileSize bounds a key file revoke reads for its public key; a key
// file is five short lines.
const maxKeyFileSize = 4096

// replaceFile writes data to path through a temporary file and a rename,
// so the old content stays whole until the new is on disk.
func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := keys.WriteNewFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return files.SyncDir(filepath.Dir(path))
}

func runRotate(e *env, args []string) error {
	fs := newFlags(e, "rotate", "-k DIR [--valid DURATION]")
	dir := fs.String("k", "", "the publisher's key directory")
	valid := fs.Duration("valid", defaultValidity, "how long the new signing key may sign")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *valid <= 0 {
		return usagef("want -k DIR, a positive --valid and no arguments")
	}
	kd, err := loadKeyDir(*dir)
	if err != nil {
		return err
	}
	root, err := kd.privateKey(e, rootKeyFile)
	if err != nil {
		return err
	}
	old, err := kd.privateKey(e, signKeyFile)
	if err != nil {
		return err
	}
	pass, err := passphrase(e, "Passphrase for the new signing key: ", true)
	if err != nil {
		return err
	}
	prev := kd.trust.Statement()
	next := &keys.Statement{Publisher: prev.Publisher, Version: prev.Version + 1, Revoked: prev.Revoked}
	now := time.Now().UTC().Truncate(time.Second)
	next.Issued = now
	signer, err := keys.Generate(nil, signingKeyName(prev.Publisher.Name(), next.Version), keys.RoleSigning)
	if err != nil {
		return err
	}
	// The old key signed until now; its signatures stay valid. Signing
	// times are whole seconds and a window excludes its end, so the window
	// ends a second after now: a bundle or checkpoint the old key signed
	// earlier in this second must still verify.
	end := now.Add(time.Second)
	for _, d := range prev.Keys {
		if d.Key.Equal(old.Public()) && d.NotAfter.After(end) {
			d.NotAfter = end
		}
		if d.NotAfter.After(d.NotBefore) {
			next.Keys = append(next.Keys, d)
		}
	}
	next.Keys = append(next.Keys, keys.Delegation{Key: signer.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(*valid)})
	if len(next.Keys) > keys.MaxDelegations {
		next.Keys = next.Keys[len(next.Keys)-keys.MaxDelegations:]
	}
	signed, err := next.Sign(root)
	if err != nil {
		return err
	}
	retired := filepath.Join(kd.dir, fmt.Sprintf("signing-%d.key.retired", prev.Version))
	newKey := filepath.Join(kd.dir, signKeyFile+".new")
	os.Remove(newKey)
	if err := keys.WriteKeyFile(newKey, signer, pass, nil); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(kd.dir, signKeyFile), retired); err != nil {
		os.Remove(newKey)
		return fmt.Errorf("keeping the old signing key as %s: %w", retired, err)
	}
	if err := replaceFile(filepath.Join(kd.dir, statementFile), signed, 0o644); err != nil {
		return err
	}
	if err := os.Rename(newKey, filepath.Join(kd.dir, signKeyFile)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new signing key %s (key statement version %d); old key kept as %s\n", signer.Public(), next.Version, retired)
	fmt.Fprintln(e.stdout, "the next publish carries the new key statement to the store")
	return files.SyncDir(kd.dir)
}

// revokeHelp says what revoke's KEY may be.
const revokeHelp = `KEY names the signing key to revoke, in any of these forms:
  NAME/signing-N    its name, as "samizdat inspect -t publisher.pub key-statement"
                    lists it (example-news/signing-1), or only signing-N
  NAME+HASH+KEY     its public text form, as "samizdat inspect" shows it
  FILE              its key file, such as signing-1.key.retired (no passphrase
                    is asked: only the public key is read)`

func runRevoke(e *env, args []string) error {
	fs := newFlags(e, "revoke", "-k DIR KEY\n\n"+revokeHelp)
	dir := fs.String("k", "", "the publisher's key directory")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one KEY: the signing key's name (NAME/signing-N), public text form or key file")
	}
	kd, err := loadKeyDir(*dir)
	if err != nil {
		return err
	}
	prev := kd.trust.Statement()
	bad, err := revokeTarget(pos[0], prev)
	if err != nil {
		return err
	}
	next := &keys.Statement{Publisher: prev.Publisher, Version: prev.Version + 1, Issued: time.Now().UTC().Truncate(time.Second), Revoked: append(prev.Revoked, bad)}
	found := false
	for _, d := range prev.Keys {
		if d.Key.Equal(bad) {
			found = true
			continue
		}
		next.Keys = append(next.Keys, d)
	}
	if !found {
		return fmt.Errorf("key %s is not a signing key in force", bad)
	}
	if len(next.Keys) == 0 {
		return errors.New("that is the only signing key: run 'samizdat rotate' first, then revoke the old key")
	}
	root, err := kd.privateKey(e, rootKeyFile)
	if err != nil {
		return err
	}
	signed, err := next.Sign(root)
	if err != nil {
		return err
	}
	if err := replaceFile(filepath.Join(kd.dir, statementFile), signed, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked %s (key statement version %d)\n", bad, next.Version)
	fmt.Fprintln(e.stdout, "every signature by it is now refused; the next publish signs again, with the current key, what it signed")
	return nil
}
