// Package signing signs and verifies bytes with ed25519 under a domain
// separation prefix, so that a signature made for one purpose (a bundle
// manifest, say) can never be taken for another.
//
// The signed message is
//
//	"samizdat signature v1" || 0x00 || domain || 0x00 || msg
//
// The NUL bytes also keep every such message from being a valid signed note
// text (notes forbid control characters), so signatures made here and the
// note signatures on checkpoints and key statements cannot be confused.
// See FORMAT.md. The functions are safe for concurrent use.
package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/samizdat-news/samizdat/keys"
)

// Domain names what a signature is for.
type Domain string

// The domains samizdat signs in.
const (
	// Manifest is the domain of bundle manifest signatures.
	Manifest Domain = "bundle manifest"
	// MirrorList is the domain of signed mirror lists.
	MirrorList Domain = "mirror list"
)

// Size is the length of a signature in bytes.
const Size = ed25519.SignatureSize

const prefix = "samizdat signature v1\x00"

// InvalidSignatureError reports a signature that does not verify.
type InvalidSignatureError struct {
	Key    string // text form of the key
	Domain Domain
}

func (e *InvalidSignatureError) Error() string {
	return fmt.Sprintf("signing: invalid %s signature by key %s", e.Domain, e.Key)
}

// ErrRootKey is returned when a root key is asked to sign anything but a key
// statement.
var ErrRootKey = errors.New("signing: a root key signs only key statements")

func message(d Domain, msg []byte) []byte {
	m := make([]byte, 0, len(prefix)+len(d)+1+len(msg))
	m = append(m, prefix...)
	m = append(m, d...)
	m = append(m, 0)
	return append(m, msg...)
}

func checkDomain(d Domain) error {
	for i := 0; i < len(d); i++ {
		if d[i] == 0 {
			return fmt.Errorf("signing: domain %q contains NUL", d)
		}
	}
	if d == "" {
		return errors.New("signing: empty domain")
	}
	return nil
}

// Sign signs msg in domain d with a signing key.
func Sign(k *keys.PrivateKey, d Domain, msg []byte) ([]byte, error) {
	if k.Role() != keys.RoleSigning {
		return nil, ErrRootKey
	}
	if err := checkDomain(d); err != nil {
		return nil, err
	}
	return ed25519.Sign(k.Ed25519(), message(d, msg)), nil
}

// Verify checks that sig is k's signature of msg in domain d. It returns an
// *InvalidSignatureError when it is not.
func Verify(k *keys.PublicKey, d Domain, msg, sig []byte) error {
	if err := checkDomain(d); err != nil {
		return err
	}
	if !verify(k.Ed25519(), message(d, msg), sig) {
		return &InvalidSignatureError{Key: k.String(), Domain: d}
	}
	return nil
}

// verify is the one ed25519 verification everything here rests on. It is
// crypto/ed25519's: cofactorless, rejecting non-canonical S (S >= L), as
// pinned by the Wycheproof test.
func verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}
