package bundle

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

const manifestMagic = "SZM1"

// Compression is how an entry's bytes are stored.
type Compression uint8

const (
	// Stored entries are kept as they are (images that are already
	// compressed).
	Stored Compression = 0
	// Zstd entries are one zstd frame, with the manifest's dictionary if it
	// names one.
	Zstd Compression = 1
)

func (c Compression) String() string {
	switch c {
	case Stored:
		return "stored"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// Manifest is the signed description of a bundle: the article's metadata
// and, for every entry, its size and SHA-256 before and after compression.
type Manifest struct {
	Publisher    [32]byte // the publisher's raw root public key
	ID           string
	Revision     uint64
	Created      time.Time // first publication of the article
	Updated      time.Time // this revision; the signing time
	Title        string
	Language     string
	CanonicalURL string
	Authors      []string
	Dictionary   [32]byte // SHA-256 of the zstd dictionary; zero for none
	Entries      []EntryInfo
}

// EntryInfo describes one entry. Entry 0 is the article body.
type EntryInfo struct {
	Name         string
	Type         string
	Compression  Compression
	Size         uint64   // uncompressed
	StoredSize   uint64   // as stored in the bundle
	SHA256       [32]byte // of the uncompressed bytes
	StoredSHA256 [32]byte // of the stored bytes
}

// HasDictionary reports whether the manifest names a dictionary.
func (m *Manifest) HasDictionary() bool { return m.Dictionary != [32]byte{} }

// BodyTypes are the media types an article body may have.
var BodyTypes = map[string]string{"text/html": "index.html", "text/markdown": "index.md", "text/plain": "index.txt"}

// ImageTypes are the media types other entries may have.
var ImageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true, "image/svg+xml": true}

func (m *Manifest) encode() []byte {
	b := make([]byte, 0, 256+len(m.Entries)*128)
	b = append(b, manifestMagic...)
	b = append(b, m.Publisher[:]...)
	b = appendStr8(b, m.ID)
	b = binary.BigEndian.AppendUint64(b, m.Revision)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Updated.Unix()))
	b = appendStr16(b, m.Title)
	b = appendStr8(b, m.Language)
	b = appendStr16(b, m.CanonicalURL)
	b = append(b, byte(len(m.Authors)))
	for _, a := range m.Authors {
		b = appendStr16(b, a)
	}
	b = append(b, m.Dictionary[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Entries)))
	for _, e := range m.Entries {
		b = appendStr8(b, e.Name)
		b = appendStr8(b, e.Type)
		b = append(b, byte(e.Compression))
		b = binary.BigEndian.AppendUint64(b, e.Size)
		b = binary.BigEndian.AppendUint64(b, e.StoredSize)
		b = append(b, e.SHA256[:]...)
		b = append(b, e.StoredSHA256[:]...)
	}
	return b
}

func appendStr8(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }
func appendStr16(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// reader decodes big-endian fields, remembering the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("truncated %s", what)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) u8(what string) uint8 {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if v := r.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) hash(what string) (h [32]byte) {
	copy(h[:], r.take(32, what))
	return h
}

func (r *reader) str8(what string, max int) string {
	return r.str(r.length(1, what), what, max)
}
func (r *reader) str16(what string, max int) string {
	return r.str(r.length(2, what), what, max)
}

// length reads the 1- or 2-byte length of a string field. It names the
// field only on failure: building "what length" for every field would
// cost an allocation each.
func (r *reader) length(n int, what string) int {
	if r.err != nil {
		return 0
	}
	if n > len(r.b)-r.off {
		r.fail("truncated %s length", what)
		return 0
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	if n == 1 {
		return int(v[0])
	}
	return int(binary.BigEndian.Uint16(v))
}

func (r *reader) str(n int, what string, max int) string {
	if r.err == nil && n > max {
		r.fail("%s is %d bytes, limit %d", what, n, max)
	}
	s := string(r.take(n, what))
	if r.err == nil {
		if err := checkText(s); err != nil {
			r.fail("%s: %v", what, err)
		}
	}
	return s
}

func (r *reader) time(what string) time.Time {
	v := int64(r.u64(what))
	if r.err == nil && (v < 0 || v > maxUnix) {
		r.fail("%s out of range", what)
	}
	return time.Unix(v, 0).UTC()
}

// maxUnix is 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// checkText refuses invalid UTF-8 and control characters.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 {
			return fmt.Errorf("control character %U", c)
		}
	}
	return nil
}

// parseManifest decodes a manifest whose signature has been verified and
// checks every rule of FORMAT.md.
func parseManifest(b []byte, lim *Limits) (*Manifest, error) {
	r := &reader{b: b}
	if string(r.take(len(manifestMagic), "magic")) != manifestMagic {
		return nil, fmt.Errorf("bundle: manifest: bad magic, want %q", manifestMagic)
	}
	m := &Manifest{}
	m.Publisher = r.hash("publisher")
	m.ID = r.str8("id", MaxIDLen)
	m.Revision = r.u64("revision")
	m.Created = r.time("created")
	m.Updated = r.time("updated")
	m.Title = r.str16("title", MaxTitleLen)
	m.Language = r.str8("language", MaxLanguageLen)
	m.CanonicalURL = r.str16("canonical URL", MaxURLLen)
	n := int(r.u8("author count"))
	if n > MaxAuthors {
		r.fail("%d authors, limit %d", n, MaxAuthors)
	}
	if n > 0 && r.err == nil {
		m.Authors = make([]string, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Authors = append(m.Authors, r.str16("author", MaxAuthorLen))
	}
	m.Dictionary = r.hash("dictionary")
	n = int(r.u16("entry count"))
	if r.err == nil && (n == 0 || n > lim.Entries) {
		r.fail("%d entries, want 1 to %d", n, lim.Entries)
	}
	if r.err == nil {
		m.Entries = make([]EntryInfo, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var e EntryInfo
		e.Name = r.str8("entry name", MaxNameLen)
		e.Type = r.str8("entry type", MaxTypeLen)
		e.Compression = Compression(r.u8("compression"))
		e.Size = r.u64("size")
		e.StoredSize = r.u64("stored size")
		e.SHA256 = r.hash("sha256")
		e.StoredSHA256 = r.hash("stored sha256")
		m.Entries = append(m.Entries, e)
	}
	if r.err == nil && r.off != len(b) {
		r.fail("%d bytes after the last entry", len(b)-r.off)
	}
	if r.err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", r.err)
	}
	if err := m.check(lim); err != nil {
		return nil, err
	}
	return m, nil
}

// check enforces the manifest rules that go beyond syntax. Build and
// parseManifest both run it.
func (m *Manifest) check(lim *Limits) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("bundle: manifest: "+format, args...)
	}
	if err := CheckID(m.ID); err != nil {
		return err
	}
	if m.Revision == 0 {
		return bad("revision must be at least 1")
	}
	if m.Updated.Before(m.Created) {
		return bad("updated %s is before created %s", m.Updated.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	}
	for _, s := range []struct {
		what string
		v    string
		max  int
	}{{"title", m.Title, MaxTitleLen}, {"language", m.Language, MaxLanguageLen}, {"canonical URL", m.CanonicalURL, MaxURLLen}} {
		if len(s.v) > s.max {
			return bad("%s is %d bytes, limit %d", s.what, len(s.v), s.max)
		}
		if err := checkText(s.v); err != nil {
			return bad("%s: %v", s.what, err)
		}
	}
	if len(m.Authors) > MaxAuthors {
		return bad("%d authors, limit %d", len(m.Authors), MaxAuthors)
	}
	for _, a := range m.Authors {
		if a == "" || len(a) > MaxAuthorLen || checkText(a) != nil {
			return bad("author %q must be 1 to %d bytes of text", a, MaxAuthorLen)
		}
	}
	if len(m.Entries) == 0 || len(m.Entries) > lim.Entries {
		return bad("%d entries, want 1 to %d", len(m.Entries), lim.Entries)
	}
	if want, ok := BodyTypes[m.Entries[0].Type]; !ok || m.Entries[0].Name != want {
		return bad("entry 0 must be the body: index.html, index.md or index.txt with its type, not %q (%s)", m.Entries[0].Name, m.Entries[0].Type)
	}
	var total uint64
	names := make(map[string]bool, len(m.Entries))
	for i, e := range m.Entries {
		if i > 0 {
			if err := CheckName(e.Name); err != nil {
				return err
			}
			if !ImageTypes[e.Type] {
				return bad("entry %q: type %q is not an allowed image type", e.Name, e.Type)
			}
			if e.Name <= m.Entries[i-1].Name && i > 1 {
				return bad("entry %q: entries after the body must be sorted by name, without repeats", e.Name)
			}
		}
		if names[e.Name] {
			return bad("entry %q appears twice", e.Name)
		}
		names[e.Name] = true
		switch e.Compression {
		case Stored:
			if e.StoredSize != e.Size || e.StoredSHA256 != e.SHA256 {
				return bad("entry %q: stored entry's sizes or hashes differ", e.Name)
			}
		case Zstd:
			// The decoder refuses to produce more than DecoderMemory
			// bytes; refuse such an entry here, where Build and Open
			// both see it, rather than only when Entry decompresses it.
			if e.Size > uint64(lim.DecoderMemory) {
				return bad("entry %q: decompressing %d bytes exceeds the decoder memory limit %d", e.Name, e.Size, lim.DecoderMemory)
			}
		default:
			return bad("entry %q: unknown compression %d", e.Name, e.Compression)
		}
		if e.Size > uint64(lim.EntrySize) || e.StoredSize > uint64(lim.EntrySize)+uint64(lim.EntrySize)/64+1024 {
			return bad("entry %q: %d bytes, limit %d", e.Name, e.Size, lim.EntrySize)
		}
		total += e.Size
		if total > uint64(lim.TotalSize) {
			return bad("entries total more than %d bytes", lim.TotalSize)
		}
	}
	return nil
}

// CheckID reports whether id is a valid article id: 1 to 128 bytes of
// lowercase letters, digits, '-', '_' and '.', starting with a letter or
// digit. Ids appear in URLs and file names, so the set is small.
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("bundle: article id must be 1 to %d bytes", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')) {
			return fmt.Errorf("bundle: article id %q: only a-z 0-9 - _ . allowed, starting with a letter or digit", id)
		}
	}
	return nil
}

// CheckName reports whether name is a valid entry name for an image: a
// relative slash-separated path of 1 to 255 bytes whose parts use
// [A-Za-z0-9._~+-] and do not start with a dot. Such a name is safe to use as
// a path below any directory.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("bundle: entry name must be 1 to %d bytes", MaxNameLen)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] == '.' {
			return fmt.Errorf("bundle: entry name %q: empty part or part starting with a dot", name)
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~+-", c) >= 0) {
				return fmt.Errorf("bundle: entry name %q: character %q not allowed", name, c)
			}
		}
	}
	return nil
}
