// Package keys holds samizdat's ed25519 key types and their text forms,
// passphrase-encrypted private key files, the root-signed key statement that
// delegates signing keys, and the trust set a reader or mirror derives from a
// pinned root key.
//
// A publisher has one root key, kept offline, and one or more signing keys.
// The root key signs only key statements; signing keys sign bundles,
// checkpoints and mirror lists. Readers and operators pin the root key's
// public text form (publisher.pub).
//
// The byte-level formats are specified in FORMAT.md at the repository root.
// Keys are immutable and safe for concurrent use.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"filippo.io/edwards25519"
)

// Role says what a key may sign.
type Role string

const (
	// RoleRoot keys sign key statements and nothing else.
	RoleRoot Role = "root"
	// RoleSigning keys sign bundles, checkpoints and mirror lists.
	RoleSigning Role = "signing"
)

// MaxNameLen is the longest key name accepted.
const MaxNameLen = 64

// algEd25519 is the signed-note algorithm byte for Ed25519 keys.
const algEd25519 = 1

// ErrInvalidKey is wrapped by every error about a malformed public key.
var ErrInvalidKey = errors.New("keys: invalid public key")

// PublicKey is a named, validated ed25519 public key. Its text form is the
// signed-note verifier key "NAME+HASH+BASE64", see FORMAT.md.
//
// A PublicKey never holds a low-order or non-canonically encoded point.
// It implements note.Verifier, so it verifies signed notes directly.
type PublicKey struct {
	name string
	key  ed25519.PublicKey
	hash uint32
}

// PrivateKey is a named ed25519 private key with a role.
// It implements note.Signer.
type PrivateKey struct {
	role Role
	pub  *PublicKey
	priv ed25519.PrivateKey
}

// Generate makes a new key with the given name and role from rand
// (crypto/rand when nil).
func Generate(rnd io.Reader, name string, role Role) (*PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	return NewPrivateKey(name, role, seed[:])
}

// NewPrivateKey builds a private key from a 32-byte ed25519 seed.
func NewPrivateKey(name string, role Role, seed []byte) (*PrivateKey, error) {
	if role != RoleRoot && role != RoleSigning {
		return nil, fmt.Errorf("keys: unknown role %q", role)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keys: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub, err := NewPublicKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &PrivateKey{role: role, pub: pub, priv: priv}, nil
}

// NewPublicKey validates a raw 32-byte ed25519 public key and gives it a name.
// It refuses invalid names, non-canonical encodings and points of small order.
func NewPublicKey(name string, raw []byte) (*PublicKey, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := CheckPoint(raw); err != nil {
		return nil, err
	}
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	copy(k, raw)
	return &PublicKey{name: name, key: k, hash: keyHash(name, k)}, nil
}

// CheckPoint reports whether raw is a canonical encoding of an ed25519 point
// that is not of small order, the only public keys samizdat accepts.
func CheckPoint(raw []byte) error {
	if len(raw) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(raw), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return fmt.Errorf("%w: not a point on the curve", ErrInvalidKey)
	}
	if string(p.Bytes()) != string(raw) {
		return fmt.Errorf("%w: non-canonical point encoding", ErrInvalidKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: point of small order", ErrInvalidKey)
	}
	return nil
}

// checkName enforces the key name syntax of FORMAT.md: 1 to 64 bytes of
// [A-Za-z0-9._/-], starting with a letter or digit.
func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name must be 1 to %d bytes", ErrInvalidKey, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-' && c != '/') {
			return fmt.Errorf("%w: name %q: only letters, digits and . _ - / allowed, starting with a letter or digit", ErrInvalidKey, name)
		}
	}
	return nil
}

// keyHash is the signed-note key hash: the first four bytes of
// SHA-256(name || "\n" || 0x01 || key), big-endian.
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ParsePublicKey parses the text form "NAME+HASH+BASE64" of a public key.
// Surrounding white space, as left by an editor, is ignored; anything else
// that is not exactly the canonical form is refused.
func ParsePublicKey(text string) (*PublicKey, error) {
	text = strings.TrimSpace(text)
	// Base64 uses '+', so only the first two '+' separate the fields.
	name, rest, ok1 := strings.Cut(text, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: want NAME+HASH+KEY", ErrInvalidKey)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if len(hash16) != 8 || err != nil || strings.ToLower(hash16) != hash16 {
		return nil, fmt.Errorf("%w: hash must be 8 lowercase hex digits", ErrInvalidKey)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key data must be base64 of 33 bytes", ErrInvalidKey)
	}
	if raw[0] != algEd25519 {
		return nil, fmt.Errorf("%w: unknown algorithm %d", ErrInvalidKey, raw[0])
	}
	k, err := NewPublicKey(name, raw[1:])
	if err != nil {
		return nil, err
	}
	if k.hash != uint32(hash) {
		return nil, fmt.Errorf("%w: hash does not match name and key (damaged or edited)", ErrInvalidKey)
	}
	if k.String() != text {
		return nil, fmt.Errorf("%w: not in canonical form", ErrInvalidKey)
	}
	return k, nil
}

// parseKey parses a public key inside a file or statement, where it must be
// exactly in canonical form, without the white space ParsePublicKey allows.
func parseKey(text string) (*PublicKey, error) {
	k, err := ParsePublicKey(text)
	if err != nil {
		return nil, err
	}
	if k.String() != text {
		return nil, fmt.Errorf("%w: not in canonical form", ErrInvalidKey)
	}
	return k, nil
}

// String returns the text form "NAME+HASH+BASE64".
func (k *PublicKey) String() string {
	return fmt.Sprintf("%s+%08x+%s", k.name, k.hash, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, k.key...)))
}

// Name returns the key's name.
func (k *PublicKey) Name() string { return k.name }

// KeyHash returns the signed-note key hash.
func (k *PublicKey) KeyHash() uint32 { return k.hash }

// Raw returns a copy of the 32-byte ed25519 public key.
func (k *PublicKey) Raw() ed25519.PublicKey { return append(ed25519.PublicKey(nil), k.key...) }

// Ed25519 returns the key for use with crypto/ed25519. Callers must not
// modify it.
func (k *PublicKey) Ed25519() ed25519.PublicKey { return k.key }

// Equal reports whether k and o are the same key with the same name.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return o != nil && k.name == o.name && k.key.Equal(o.key)
}

// ID returns the 32-character hex identifier of the key: the first 16 bytes
// of SHA-256 of the raw key. A publisher's ID is its root key's ID.
func (k *PublicKey) ID() string { return IDOf(k.key) }

// IDOf returns the identifier of a raw public key, as PublicKey.ID does.
func IDOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// Verify reports whether sig is a valid signature of the signed note text
// msg. It implements note.Verifier; use package signing for anything that
// is not a signed note.
func (k *PublicKey) Verify(msg, sig []byte) bool {
	return ed25519.Verify(k.key, msg, sig)
}

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// Role returns what the key may sign.
func (k *PrivateKey) Role() Role { return k.role }

// Name returns the key's name.
func (k *PrivateKey) Name() string { return k.pub.name }

// KeyHash returns the signed-note key hash.
func (k *PrivateKey) KeyHash() uint32 { return k.pub.hash }

// Sign signs a signed note's text. It implements note.Signer; use package
// signing for anything that is not a signed note.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(k.priv, msg), nil
}

// Ed25519 returns the key for use with crypto/ed25519. Callers must not
// modify it.
func (k *PrivateKey) Ed25519() ed25519.PrivateKey { return k.priv }

// seed returns the 32-byte seed that the key file stores.
func (k *PrivateKey) seed() []byte { return k.priv.Seed() }
