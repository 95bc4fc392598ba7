package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// Limits of private key files, see FORMAT.md.
const (
	// MaxKeyFileSize bounds how much of a key file is read.
	MaxKeyFileSize = 4096
	// MinPassphraseLen is the shortest passphrase accepted.
	MinPassphraseLen = 8
	// DefaultScryptLogN is the scrypt cost used when sealing (N = 2^15,
	// 32 MiB, about 0.1 s here).
	DefaultScryptLogN = 15
	// MinScryptLogN and MaxScryptLogN bound the cost accepted when opening,
	// so a hostile file can neither be cheap to attack nor exhaust memory.
	MinScryptLogN = 10
	MaxScryptLogN = 18
)

const (
	keyFileMagic = "samizdat secret key v1"
	scryptR      = 8
	scryptP      = 1
	saltSize     = 16
)

// ErrWrongPassphrase is returned when a key file does not open with the
// passphrase given (or the file's sealed part was altered).
var ErrWrongPassphrase = errors.New("keys: wrong passphrase, or the key file is damaged")

// SealOptions tunes Seal. A nil *SealOptions means the defaults.
type SealOptions struct {
	// ScryptLogN is log2 of scrypt's N; zero means DefaultScryptLogN.
	ScryptLogN int
	// Rand supplies salt and nonce; nil means crypto/rand.
	Rand io.Reader
}

// Seal encrypts k under passphrase and returns the key file's bytes:
// scrypt derives a key that seals the seed with XChaCha20-Poly1305, and the
// file's header lines are the AEAD's additional data.
func Seal(k *PrivateKey, passphrase []byte, opts *SealOptions) ([]byte, error) {
	if len(passphrase) < MinPassphraseLen {
		return nil, fmt.Errorf("keys: passphrase must be at least %d bytes", MinPassphraseLen)
	}
	var o SealOptions
	if opts != nil {
		o = *opts
	}
	if o.ScryptLogN == 0 {
		o.ScryptLogN = DefaultScryptLogN
	}
	if o.ScryptLogN < MinScryptLogN || o.ScryptLogN > MaxScryptLogN {
		return nil, fmt.Errorf("keys: scrypt cost 2^%d outside 2^%d..2^%d", o.ScryptLogN, MinScryptLogN, MaxScryptLogN)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	salt := make([]byte, saltSize)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(o.Rand, salt); err != nil {
		return nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	if _, err := io.ReadFull(o.Rand, nonce); err != nil {
		return nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	var header bytes.Buffer
	fmt.Fprintf(&header, "%s\nrole %s\nkey %s\nkdf scrypt %d %d %d %s\n", keyFileMagic, k.role, k.pub, o.ScryptLogN, scryptR, scryptP, base64.StdEncoding.EncodeToString(salt))
	aead, err := fileAEAD(passphrase, salt, o.ScryptLogN)
	if err != nil {
		return nil, err
	}
	sealed := aead.Seal(nonce, nonce, k.seed(), header.Bytes())
	header.WriteString("sealed " + base64.StdEncoding.EncodeToString(sealed) + "\n")
	return header.Bytes(), nil
}

func fileAEAD(passphrase, salt []byte, logN int) (interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, error) {
	key, err := scrypt.Key(passphrase, salt, 1<<logN, scryptR, scryptP, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("keys: scrypt: %w", err)
	}
	return chacha20poly1305.NewX(key)
}

// KeyFileInfo is what a key file says about itself without the passphrase.
type KeyFileInfo struct {
	Role       Role
	Public     *PublicKey
	ScryptLogN int

	salt, sealed, header []byte
}

// ParseKeyFile parses a key file's header without decrypting it. It checks
// the syntax of every line and the limits above.
func ParseKeyFile(data []byte) (*KeyFileInfo, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("keys: key file larger than %d bytes", MaxKeyFileSize)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		return nil, errors.New("keys: key file: missing final newline (truncated?)")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if len(lines) != 5 || lines[0] != keyFileMagic {
		return nil, errors.New("keys: not a samizdat secret key file (want 5 lines starting with \"" + keyFileMagic + "\")")
	}
	info := &KeyFileInfo{}
	role, ok := strings.CutPrefix(lines[1], "role ")
	if !ok || Role(role) != RoleRoot && Role(role) != RoleSigning {
		return nil, errors.New("keys: key file: line 2 must be \"role root\" or \"role signing\"")
	}
	info.Role = Role(role)
	pub, ok := strings.CutPrefix(lines[2], "key ")
	if !ok {
		return nil, errors.New("keys: key file: line 3 must be \"key NAME+HASH+KEY\"")
	}
	var err error
	if info.Public, err = parseKey(pub); err != nil {
		return nil, fmt.Errorf("keys: key file: public key line: %w", err)
	}
	kdf := strings.Split(lines[3], " ")
	if len(kdf) != 6 || kdf[0] != "kdf" || kdf[1] != "scrypt" || kdf[3] != strconv.Itoa(scryptR) || kdf[4] != strconv.Itoa(scryptP) {
		return nil, fmt.Errorf("keys: key file: line 4 must be \"kdf scrypt LOGN %d %d SALT\"", scryptR, scryptP)
	}
	logN, err := strconv.Atoi(kdf[2])
	if err != nil || strconv.Itoa(logN) != kdf[2] || logN < MinScryptLogN || logN > MaxScryptLogN {
		return nil, fmt.Errorf("keys: key file: scrypt cost must be a number from %d to %d", MinScryptLogN, MaxScryptLogN)
	}
	info.ScryptLogN = logN
	if info.salt, ok = decodeBase64(kdf[5], saltSize); !ok {
		return nil, fmt.Errorf("keys: key file: salt must be base64 of %d bytes", saltSize)
	}
	sealed, ok := strings.CutPrefix(lines[4], "sealed ")
	if !ok {
		return nil, errors.New("keys: key file: line 5 must be \"sealed DATA\"")
	}
	wantLen := chacha20poly1305.NonceSizeX + 32 + chacha20poly1305.Overhead
	if info.sealed, ok = decodeBase64(sealed, wantLen); !ok {
		return nil, fmt.Errorf("keys: key file: sealed data must be base64 of %d bytes", wantLen)
	}
	info.header = data[:len(data)-len(lines[4])-1]
	return info, nil
}

// decodeBase64 decodes s, which must be exactly the standard padded base64
// encoding of n bytes. The decoder alone skips CR and LF even in strict
// mode, which would let a file that is not canonical open (the sealed line
// is not covered by the AEAD).
func decodeBase64(s string, n int) ([]byte, bool) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != n || base64.StdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// OpenKeyFile decrypts a key file with passphrase. The public key in the
// file's header must match the decrypted private key.
func OpenKeyFile(data, passphrase []byte) (*PrivateKey, error) {
	info, err := ParseKeyFile(data)
	if err != nil {
		return nil, err
	}
	aead, err := fileAEAD(passphrase, info.salt, info.ScryptLogN)
	if err != nil {
		return nil, err
	}
	nonce, ct := info.sealed[:chacha20poly1305.NonceSizeX], info.sealed[chacha20poly1305.NonceSizeX:]
	seed, err := aead.Open(nil, nonce, ct, info.header)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	k, err := NewPrivateKey(info.Public.Name(), info.Role, seed)
	if err != nil {
		return nil, err
	}
	if !k.Public().Equal(info.Public) {
		return nil, errors.New("keys: key file: private key does not match its public key line")
	}
	return k, nil
}

// WriteKeyFile seals k and writes it to path with mode 0600. It refuses to
// overwrite an existing file, and removes a partly written one.
func WriteKeyFile(path string, k *PrivateKey, passphrase []byte, opts *SealOptions) error {
	data, err := Seal(k, passphrase, opts)
	if err != nil {
		return err
	}
	return WriteNewFile(path, data, 0o600)
}

// MaxPublicKeyFileSize bounds a public key file (publisher.pub) read by
// ReadPublicKeyFile: one line of a key's text form, whose name has at most
// MaxNameLen bytes, with room for an editor's white space.
const MaxPublicKeyFileSize = 1024

// ReadPublicKeyFile reads a public key file, such as a publisher's
// publisher.pub: the key's text form on one line (ParsePublicKey). It
// reads at most MaxPublicKeyFileSize bytes.
func ReadPublicKeyFile(path string) (*PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("keys: %s is a directory: give the publisher.pub file in it", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPublicKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	// The files beside publisher.pub are the usual mistake: say so.
	for magic, what := range map[string]string{keyFileMagic: "a private key file", statementMagic: "a key statement"} {
		if bytes.HasPrefix(data, []byte(magic)) {
			return nil, fmt.Errorf("keys: %s is %s, not a public key: give publisher.pub", path, what)
		}
	}
	if len(data) > MaxPublicKeyFileSize {
		return nil, fmt.Errorf("keys: %s is larger than %d bytes", path, MaxPublicKeyFileSize)
	}
	k, err := ParsePublicKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadKeyFile reads and decrypts the key file at path. A key file readable
// by group or others is refused.
func ReadKeyFile(path string, passphrase []byte) (*PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s is readable by others (mode %04o); run chmod 600 on it", path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	k, err := OpenKeyFile(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// WriteNewFile writes data to a new file at path with the given mode,
// opened with O_EXCL so an existing file is never replaced, and synced to
// disk. On failure nothing is left at path.
func WriteNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	return nil
}
