// Package bundle is samizdat's signed article format: a manifest signed by
// a publisher's signing key, followed by the article body and its images,
// each compressed with zstd (or stored as they are) and bound to the
// manifest by size and SHA-256.
//
// Open checks, in this order, before anything is decompressed or parsed
// further: the container's lengths against Limits, that the signing key is
// delegated by the publisher (keys.Trust), the signature over the exact
// manifest bytes, the manifest's fields, and the SHA-256 of every stored
// entry. Only then does Entry decompress, within Limits, and check the
// uncompressed SHA-256. The format is specified in FORMAT.md.
//
// Build is deterministic: the same input always gives the same bytes.
// Functions here are safe for concurrent use; a *Bundle is immutable.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/signing"
)

// Magic starts every bundle.
const Magic = "SAMIZDAT-BUNDLE\x01"

// headerSize is magic, signer key, signature and manifest length.
const headerSize = len(Magic) + 32 + signing.Size + 4

// Digest is the SHA-256 of a whole encoded bundle: its name in a store and
// in a catalog.
type Digest [32]byte

// String returns the digest in lowercase hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest parses 64 lowercase hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 64 {
		return d, fmt.Errorf("bundle: digest must be 64 hex digits, not %d characters", len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil || hex.EncodeToString(d[:]) != s {
		return d, fmt.Errorf("bundle: digest %q is not lowercase hex", s)
	}
	return d, nil
}

// Error reports a bundle refused by Open or Entry. Reason says what
// failed, in a form fit to show to a person.
type Error struct {
	Reason string
	Err    error // the underlying error, if any
}

func (e *Error) Error() string { return "bundle: " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

func refuse(err error, format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...), Err: err}
}

// refuseErr wraps an error from this package's own checks, whose message
// already starts with "bundle: ", without repeating the prefix.
func refuseErr(err error) error {
	return refuse(err, "%s", strings.TrimPrefix(err.Error(), "bundle: "))
}

// ErrDictionaryNeeded is wrapped when a bundle's entries need a dictionary
// that was not given.
var ErrDictionaryNeeded = errors.New("bundle: dictionary needed")

// File is one input to Build: the body (first) or an image.
type File struct {
	Name string // the body's name is set by Build from its type
	Type string
	Data []byte
}

// Metadata is the article's metadata for Build.
type Metadata struct {
	ID           string
	Revision     uint64
	Created      time.Time
	Updated      time.Time
	Title        string
	Language     string
	CanonicalURL string
	Authors      []string
}

// BuildOptions tunes Build. A nil *BuildOptions means the defaults.
type BuildOptions struct {
	// Level is the zstd level; zero means zstd's default (level 3).
	Level int
	// Dictionary, if set, compresses text entries with it.
	Dictionary *Dictionary
	// Limits are checked as Open would; nil means DefaultLimits.
	Limits *Limits
}

// Build compresses files, writes the manifest and signs it with signer, a
// signing key delegated by publisher (the root key). files[0] is the body
// and must have a body type; the rest are images, which Build sorts by
// name. Times are truncated to seconds. Build never reads the clock.
func Build(meta Metadata, files []File, publisher *keys.PublicKey, signer *keys.PrivateKey, opts *BuildOptions) ([]byte, error) {
	var o BuildOptions
	if opts != nil {
		o = *opts
	}
	lim := o.Limits.withDefaults()
	if len(files) == 0 {
		return nil, errors.New("bundle: no body")
	}
	m := &Manifest{
		ID: meta.ID, Revision: meta.Revision,
		Created: meta.Created.UTC().Truncate(time.Second), Updated: meta.Updated.UTC().Truncate(time.Second),
		Title: meta.Title, Language: meta.Language, CanonicalURL: meta.CanonicalURL,
		Authors: slices.Clone(meta.Authors),
	}
	if m.Created.Unix() < 0 || m.Updated.Unix() > maxUnix {
		return nil, errors.New("bundle: times must lie between 1970 and 9999")
	}
	copy(m.Publisher[:], publisher.Ed25519())
	enc, err := encoder(o.Level, o.Dictionary)
	if err != nil {
		return nil, err
	}
	if o.Dictionary != nil {
		m.Dictionary = o.Dictionary.hash
	}
	body := files[0]
	name, ok := BodyTypes[body.Type]
	if !ok {
		return nil, fmt.Errorf("bundle: body type %q is not text/html, text/markdown or text/plain", body.Type)
	}
	body.Name = name
	rest := slices.Clone(files[1:])
	slices.SortFunc(rest, func(a, b File) int { return bytesCompare(a.Name, b.Name) })
	all := append([]File{body}, rest...)
	if len(all) > lim.Entries {
		return nil, fmt.Errorf("bundle: %d entries, limit %d", len(all), lim.Entries)
	}
	stored := make([][]byte, len(all))
	for i, f := range all {
		if int64(len(f.Data)) > lim.EntrySize {
			return nil, fmt.Errorf("bundle: entry %q is %d bytes, limit %d", f.Name, len(f.Data), lim.EntrySize)
		}
		e := EntryInfo{Name: f.Name, Type: f.Type, Size: uint64(len(f.Data)), SHA256: sha256.Sum256(f.Data)}
		if compressible(f.Type) {
			e.Compression = Zstd
			stored[i] = enc.EncodeAll(f.Data, make([]byte, 0, len(f.Data)/2+64))
			e.StoredSHA256 = sha256.Sum256(stored[i])
		} else {
			stored[i] = f.Data
			e.StoredSHA256 = e.SHA256
		}
		e.StoredSize = uint64(len(stored[i]))
		m.Entries = append(m.Entries, e)
	}
	if err := m.check(&lim); err != nil {
		return nil, err
	}
	mb := m.encode()
	if len(mb) > lim.ManifestSize {
		return nil, fmt.Errorf("bundle: manifest is %d bytes, limit %d", len(mb), lim.ManifestSize)
	}
	sig, err := signing.Sign(signer, signing.Manifest, mb)
	if err != nil {
		return nil, err
	}
	size := headerSize + len(mb)
	for _, s := range stored {
		size += len(s)
	}
	if int64(size) > lim.BundleSize {
		return nil, fmt.Errorf("bundle: %d bytes, limit %d", size, lim.BundleSize)
	}
	out := make([]byte, 0, size)
	out = append(out, Magic...)
	out = append(out, signer.Public().Ed25519()...)
	out = append(out, sig...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(mb)))
	out = append(out, mb...)
	for _, s := range stored {
		out = append(out, s...)
	}
	return out, nil
}

func bytesCompare(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// compressible reports whether entries of this type are worth zstd.
func compressible(typ string) bool {
	switch typ {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif":
		return false
	}
	return true
}

// Bundle is a verified bundle: its signature, manifest and stored entry
// hashes have been checked. Entries are decompressed on demand.
type Bundle struct {
	Manifest *Manifest
	Signer   *keys.PublicKey
	Digest   Digest

	raw     []byte
	offsets []int // start of each entry's stored bytes in raw
	lim     Limits
	dict    *Dictionary
}

// OpenOptions tunes Open. A nil *OpenOptions means the defaults.
type OpenOptions struct {
	// Limits bound the bundle; nil means DefaultLimits.
	Limits *Limits
	// Dictionaries returns the dictionary with the given SHA-256, or nil
	// if it is unknown. It is called only for bundles that name one.
	Dictionaries func(hash [32]byte) *Dictionary
}

// Open verifies a bundle against the publisher's trust and returns it.
// data is retained; the caller must not modify it afterwards.
func Open(data []byte, trust *keys.Trust, opts *OpenOptions) (*Bundle, error) {
	var o OpenOptions
	if opts != nil {
		o = *opts
	}
	lim := o.Limits.withDefaults()
	if int64(len(data)) > lim.BundleSize {
		return nil, refuse(nil, "%d bytes, limit %d", len(data), lim.BundleSize)
	}
	if len(data) < headerSize || string(data[:len(Magic)]) != Magic {
		return nil, refuse(nil, "not a samizdat bundle (bad magic or shorter than its header)")
	}
	p := len(Magic)
	signerRaw := data[p : p+32]
	sig := data[p+32 : p+32+signing.Size]
	mlen := int64(binary.BigEndian.Uint32(data[headerSize-4 : headerSize]))
	if mlen > int64(lim.ManifestSize) {
		return nil, refuse(nil, "manifest length %d exceeds limit %d", mlen, lim.ManifestSize)
	}
	if mlen > int64(len(data)-headerSize) {
		return nil, refuse(nil, "truncated: manifest length %d, only %d bytes follow", mlen, len(data)-headerSize)
	}
	mb := data[headerSize : headerSize+int(mlen)]

	// 1. The signing key must be one the root key delegated and did not
	// revoke; its validity window is checked once the signed time is known.
	signer, err := trust.SigningKey(signerRaw)
	if err != nil {
		return nil, refuse(err, "%v", err)
	}
	// 2. The signature over the exact manifest bytes.
	if err := signing.Verify(signer, signing.Manifest, mb, sig); err != nil {
		return nil, refuse(err, "signature does not verify: the bundle was altered or not signed by %s", signer)
	}
	// 3. Only now parse the manifest.
	m, err := parseManifest(mb, &lim)
	if err != nil {
		return nil, refuseErr(err)
	}
	if !bytes.Equal(m.Publisher[:], trust.Root().Ed25519()) {
		return nil, refuse(nil, "manifest names publisher %s, not %s", keys.IDOf(m.Publisher[:]), trust.PublisherID())
	}
	if _, err := trust.Authorize(signerRaw, m.Updated); err != nil {
		return nil, refuse(err, "%v", err)
	}
	// 4. Stored entries: exact lengths, then hashes.
	b := &Bundle{Manifest: m, Signer: signer, Digest: sha256.Sum256(data), raw: data, offsets: make([]int, 0, len(m.Entries)), lim: lim}
	off := headerSize + int(mlen)
	for _, e := range m.Entries {
		if e.StoredSize > uint64(len(data)-off) {
			return nil, refuse(nil, "truncated: entry %q needs %d bytes, %d remain", e.Name, e.StoredSize, len(data)-off)
		}
		b.offsets = append(b.offsets, off)
		off += int(e.StoredSize)
	}
	if off != len(data) {
		return nil, refuse(nil, "%d bytes after the last entry", len(data)-off)
	}
	for i, e := range m.Entries {
		if sha256.Sum256(b.stored(i)) != e.StoredSHA256 {
			return nil, refuse(nil, "entry %q: stored bytes do not match the signed hash", e.Name)
		}
	}
	if m.HasDictionary() {
		if o.Dictionaries != nil {
			b.dict = o.Dictionaries(m.Dictionary)
		}
		if b.dict == nil {
			return nil, refuse(ErrDictionaryNeeded, "needs dictionary %x, which is not available", m.Dictionary)
		}
		if b.dict.hash != m.Dictionary {
			return nil, refuse(nil, "needs dictionary %x, was given %x", m.Dictionary, b.dict.hash)
		}
	}
	return b, nil
}

func (b *Bundle) stored(i int) []byte {
	return b.raw[b.offsets[i] : b.offsets[i]+int(b.Manifest.Entries[i].StoredSize)]
}

// Raw returns the bundle's encoded bytes. Callers must not modify them.
func (b *Bundle) Raw() []byte { return b.raw }

// Stored returns entry i's bytes as stored (compressed or not), already
// checked against the signed hash. Callers must not modify them.
func (b *Bundle) Stored(i int) []byte { return b.stored(i) }

// Entry decompresses entry i within the limits and checks its size and
// SHA-256 against the manifest. A stored entry's bytes are returned as a
// slice of Raw, which callers must not modify.
func (b *Bundle) Entry(i int) ([]byte, error) {
	if i < 0 || i >= len(b.Manifest.Entries) {
		return nil, fmt.Errorf("bundle: no entry %d", i)
	}
	e := &b.Manifest.Entries[i]
	var out []byte
	switch e.Compression {
	case Stored:
		// Open checked these bytes against StoredSHA256, which the
		// manifest rules make equal to SHA256.
		return b.stored(i), nil
	case Zstd:
		var err error
		if out, err = decompress(b.stored(i), int(e.Size), b.dict, &b.lim); err != nil {
			return nil, refuse(err, "entry %q: %v", e.Name, err)
		}
	}
	if uint64(len(out)) != e.Size || sha256.Sum256(out) != e.SHA256 {
		return nil, refuse(nil, "entry %q: content does not match the signed hash", e.Name)
	}
	return out, nil
}

// Body returns the decompressed, checked article body.
func (b *Bundle) Body() ([]byte, error) { return b.Entry(0) }

// Lookup returns the index of the entry with the given name, or -1.
func (b *Bundle) Lookup(name string) int {
	for i, e := range b.Manifest.Entries {
		if e.Name == name {
			return i
		}
	}
	return -1
}

// Verify opens a bundle and decompresses and checks every entry: the
// whole verification a reader needs before showing the article.
func Verify(data []byte, trust *keys.Trust, opts *OpenOptions) (*Bundle, error) {
	b, err := Open(data, trust, opts)
	if err != nil {
		return nil, err
	}
	for i := range b.Manifest.Entries {
		if _, err := b.Entry(i); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Unverified is what ParseUnverified read from a bundle without checking
// its signature: fit only for showing to a person, never for trusting.
type Unverified struct {
	Signer   []byte // raw ed25519 key named in the header
	Manifest *Manifest
	Size     int
}

// ParseUnverified parses a bundle's header and manifest WITHOUT verifying
// the signature, for inspection tools. Anything it returns may be forged;
// use Open or Verify to trust a bundle.
func ParseUnverified(data []byte, lim *Limits) (*Unverified, error) {
	l := lim.withDefaults()
	if len(data) < headerSize || string(data[:len(Magic)]) != Magic {
		return nil, refuse(nil, "not a samizdat bundle (bad magic or shorter than its header)")
	}
	mlen := int(binary.BigEndian.Uint32(data[headerSize-4 : headerSize]))
	if mlen > l.ManifestSize || mlen > len(data)-headerSize {
		return nil, refuse(nil, "manifest length %d is too large or truncated", mlen)
	}
	m, err := parseManifest(data[headerSize:headerSize+mlen], &l)
	if err != nil {
		return nil, refuseErr(err)
	}
	return &Unverified{Signer: bytes.Clone(data[len(Magic) : len(Magic)+32]), Manifest: m, Size: len(data)}, nil
}
