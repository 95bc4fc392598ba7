package keys

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Shared fixtures of the keys tests. Every key comes from a fixed seed, so
// failures are reproducible and the test vectors are stable.

// testSeed returns the 32-byte seed of the test key called label:
// SHA-256("samizdat test seed " || label).
func testSeed(label string) []byte {
	sum := sha256.Sum256([]byte("samizdat test seed " + label))
	return sum[:]
}

// testKey returns the key with the given name and role made from
// testSeed(name).
func testKey(t testing.TB, name string, role Role) *PrivateKey {
	t.Helper()
	k, err := NewPrivateKey(name, role, testSeed(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fastSeal is the scrypt cost the tests seal with: the cheapest accepted.
var fastSeal = &SealOptions{ScryptLogN: MinScryptLogN}

// testPassphrase is the passphrase of every test key file.
var testPassphrase = []byte("correct horse battery staple")

// t0 is the reference time of the statement tests.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// fixture holds a publisher: its root key and signing keys.
type fixture struct {
	root       *PrivateKey
	s1, s2, s3 *PrivateKey // signing keys; s3 is revoked in statement()
}

func newFixture(t testing.TB) *fixture {
	return &fixture{
		root: testKey(t, "example.org", RoleRoot),
		s1:   testKey(t, "example.org/signing-1", RoleSigning),
		s2:   testKey(t, "example.org/signing-2", RoleSigning),
		s3:   testKey(t, "example.org/signing-3", RoleSigning),
	}
}

// statement returns version v of the fixture's statement: s1 valid for a
// day from t0, s2 for a year from t0, s3 revoked.
func (f *fixture) statement(v uint64) *Statement {
	return &Statement{
		Publisher: f.root.Public(),
		Version:   v,
		Issued:    t0,
		Keys: []Delegation{
			{Key: f.s1.Public(), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)},
			{Key: f.s2.Public(), NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)},
		},
		Revoked: []*PublicKey{f.s3.Public()},
	}
}

// sign signs s with the fixture's root key.
func (f *fixture) sign(t testing.TB, s *Statement) []byte {
	t.Helper()
	signed, err := s.Sign(f.root)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// signText signs arbitrary note text with signers, bypassing every check of
// Statement, to make statements that are validly signed but malformed.
func signText(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	signed, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("note.Sign(%q): %v", text, err)
	}
	return signed
}

// rawText formats s as Text does but without checking it, so tests can sign
// statements that break the rules.
func rawText(s *Statement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\npublisher %s\nversion %d\nissued %s\n", statementMagic, s.Publisher, s.Version, formatTime(s.Issued))
	for _, d := range s.Keys {
		fmt.Fprintf(&b, "key %s %s %s\n", d.Key, formatTime(d.NotBefore), formatTime(d.NotAfter))
	}
	for _, k := range s.Revoked {
		fmt.Fprintf(&b, "revoked %s\n", k)
	}
	return b.String()
}

// fixedBytes returns the n bytes 0, 1, 2, ...
func fixedBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// fixedRand returns a reader of fixedBytes(n), for deterministic salts and
// nonces.
func fixedRand(n int) *bytes.Reader { return bytes.NewReader(fixedBytes(n)) }

// mustFail reports an error when err is nil or does not contain want.
func mustFail(t testing.TB, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want error containing %q", what, want)
	} else if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q, want it to contain %q", what, err, want)
	}
}
