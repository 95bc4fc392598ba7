// Package testkeys makes deterministic publisher keys for tests: of the
// formats, the publisher's side, the node and the CLI. Every key comes
// from a seed derived from its name, so test vectors and fuzz corpora
// stay stable. It is for tests only.
package testkeys

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/keys"
)

// The validity window of the signing keys New delegates, and the issue
// time of its key statements.
var (
	NotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	NotAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	Issued    = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Key returns the key of the given name and role. Its seed is
// SHA-256("samizdat test key " + role + " " + name).
func Key(tb testing.TB, name string, role keys.Role) *keys.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("samizdat test key " + string(role) + " " + name))
	k, err := keys.NewPrivateKey(name, role, seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Publisher is a root key, a signing key, and version 1 of a key statement
// that delegates the signing key from NotBefore to NotAfter.
type Publisher struct {
	Root      *keys.PrivateKey
	Signer    *keys.PrivateKey
	Statement []byte
	Trust     *keys.Trust
}

// New returns the publisher of the given name (a key name).
func New(tb testing.TB, name string) *Publisher {
	tb.Helper()
	p := &Publisher{
		Root:   Key(tb, name, keys.RoleRoot),
		Signer: Key(tb, name+"-signing", keys.RoleSigning),
	}
	p.Statement = p.Sign(tb, 1, []keys.Delegation{Delegate(p.Signer)})
	var err error
	if p.Trust, err = keys.NewTrust(p.Root.Public(), p.Statement); err != nil {
		tb.Fatal(err)
	}
	return p
}

// ID returns the publisher's ID.
func (p *Publisher) ID() string { return p.Root.Public().ID() }

// Sign returns a key statement of the given version, issued at Issued and
// signed by the root key, that delegates keys and revokes revoked.
func (p *Publisher) Sign(tb testing.TB, version uint64, delegated []keys.Delegation, revoked ...*keys.PublicKey) []byte {
	tb.Helper()
	s := &keys.Statement{Publisher: p.Root.Public(), Version: version, Issued: Issued, Keys: delegated, Revoked: revoked}
	signed, err := s.Sign(p.Root)
	if err != nil {
		tb.Fatal(err)
	}
	return signed
}

// Delegate returns a delegation of k from NotBefore to NotAfter.
func Delegate(k *keys.PrivateKey) keys.Delegation {
	return keys.Delegation{Key: k.Public(), NotBefore: NotBefore, NotAfter: NotAfter}
}
