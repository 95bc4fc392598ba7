package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/verifier"
)

// TestVerifierVouched runs the publisher's mirrors command, which vouches
// for this samizdat's verifier page by default, and a reader's
// "samizdat verifier -t" against a real mirror on loopback: the page
// written is vouched for and a changed copy is not. After the publisher
// vouches for another page instead, the reader's kept list follows.
func TestVerifierVouched(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	keyDir, pubStore, state := filepath.Join(dir, "keys"), filepath.Join(dir, "store"), filepath.Join(dir, "state")
	pub := filepath.Join(keyDir, "publisher.pub")
	runCmd(t, ctx, "keygen", "-o", keyDir)
	article := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(article, []byte("Article A\n\nBody.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, ctx, "publish", "-k", keyDir, "-s", pubStore, article)
	own := verifier.SHA256()
	if out := runCmd(t, ctx, "mirrors", "add", "-k", keyDir, "-s", pubStore, "https://m.example/"); !strings.Contains(out, "\nverifier "+own+" (this samizdat's page)\n") {
		t.Fatalf("mirrors add does not vouch for this samizdat's page:\n%s", out)
	}

	// The publisher's store, served by a mirror on loopback.
	serve := func() *mirror.Mirror {
		m, err := mirror.Start(ctx, &mirror.Config{Store: pubStore, Trust: []string{pub}, HTTP: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := serve()
	base := "http://" + m.HTTPAddr()
	page, changed := filepath.Join(dir, "verify.html"), filepath.Join(dir, "changed.html")
	check := func(file string, wantCode int, want string) {
		t.Helper()
		args := []string{"verifier", "-t", pub, "-m", base, "--state", state}
		if file == page {
			args = append(args, "-o", page)
		} else if file != "" {
			args = append(args, file)
		}
		code, out, errs := runExit(ctx, args...)
		if code != wantCode || !strings.Contains(out+errs, want) {
			t.Errorf("samizdat %s: exit %d, want %d with %q\n%s%s", strings.Join(args, " "), code, wantCode, want, out, errs)
		}
	}
	defer func() { stopMirror(m) }()
	check(page, exitOK, "verify.html (sha256 "+own+") is a page the publisher vouches for")
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "<script>alert(1)</script>"...)
	if err := os.WriteFile(changed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	other := fmt.Sprintf("%x", sha256.Sum256(b))
	check(changed, exitFailed, "changed.html (sha256 "+other+") is NOT a page the publisher vouches for")
	check("", exitOK, "this samizdat's page (sha256 "+own+") is a page the publisher vouches for")

	// The publisher vouches for the changed page alone (as it would for a
	// new release's), in a new list version.
	stopMirror(m)
	if out := runCmd(t, ctx, "mirrors", "sign", "-k", keyDir, "-s", pubStore, "--verifier", other); !strings.Contains(out, "mirror list version 2,") || !strings.Contains(out, "\nverifier "+other+"\n") || strings.Contains(out, own) {
		t.Fatalf("mirrors sign --verifier:\n%s", out)
	}
	m = serve()
	base = "http://" + m.HTTPAddr()
	check(changed, exitOK, "vouches for 1 verifier pages in its mirror list version 2")
	check(page, exitFailed, "is NOT a page the publisher vouches for")
}
