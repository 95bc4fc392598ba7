package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/signing"
)

func TestRoundTrip(t *testing.T) {
	k := testKeys(t)
	meta := testMeta()
	files := testFiles()
	data := mustBuild(t, meta, files, k.signer, nil)

	b, err := Verify(data, k.trust, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	m := b.Manifest
	if !bytes.Equal(m.Publisher[:], k.root.Public().Ed25519()) {
		t.Errorf("Publisher = %x, want the root key", m.Publisher)
	}
	if m.ID != meta.ID || m.Revision != meta.Revision || m.Title != meta.Title || m.Language != meta.Language || m.CanonicalURL != meta.CanonicalURL {
		t.Errorf("manifest fields = %q %d %q %q %q, want %q %d %q %q %q",
			m.ID, m.Revision, m.Title, m.Language, m.CanonicalURL, meta.ID, meta.Revision, meta.Title, meta.Language, meta.CanonicalURL)
	}
	if !m.Created.Equal(meta.Created) || !m.Updated.Equal(meta.Updated) || m.Created.Location() != time.UTC {
		t.Errorf("times = %v, %v, want %v, %v in UTC", m.Created, m.Updated, meta.Created, meta.Updated)
	}
	if !slices.Equal(m.Authors, meta.Authors) {
		t.Errorf("Authors = %q, want %q", m.Authors, meta.Authors)
	}
	if m.HasDictionary() {
		t.Errorf("HasDictionary = true for a bundle built without one")
	}
	if !b.Signer.Equal(k.signer.Public()) {
		t.Errorf("Signer = %v, want %v", b.Signer, k.signer.Public())
	}
	if b.Digest != sha256.Sum256(data) || !bytes.Equal(b.Raw(), data) {
		t.Errorf("Digest or Raw do not match the bundle's bytes")
	}

	// Entries: the body first, then the images sorted by name.
	want := []struct {
		name, typ string
		comp      Compression
		data      []byte
	}{
		{"index.html", "text/html", Zstd, []byte(testBody)},
		{"img/chart.svg", "image/svg+xml", Zstd, []byte(testSVG)},
		{"img/vote.png", "image/png", Stored, testPNG},
	}
	if len(m.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(m.Entries), len(want))
	}
	for i, w := range want {
		e := m.Entries[i]
		if e.Name != w.name || e.Type != w.typ || e.Compression != w.comp || e.Size != uint64(len(w.data)) || e.SHA256 != sha256.Sum256(w.data) {
			t.Errorf("entry %d = %+v, want %s %s %v of %d bytes", i, e, w.name, w.typ, w.comp, len(w.data))
		}
		got, err := b.Entry(i)
		if err != nil {
			t.Fatalf("Entry(%d): %v", i, err)
		}
		if !bytes.Equal(got, w.data) {
			t.Errorf("Entry(%d) = %q, want %q", i, got, w.data)
		}
		if s := b.Stored(i); uint64(len(s)) != e.StoredSize || sha256.Sum256(s) != e.StoredSHA256 {
			t.Errorf("Stored(%d) does not match its manifest entry", i)
		}
		if b.Lookup(w.name) != i {
			t.Errorf("Lookup(%q) = %d, want %d", w.name, b.Lookup(w.name), i)
		}
	}
	body, err := b.Body()
	if err != nil || string(body) != testBody {
		t.Errorf("Body() = %q, %v", body, err)
	}
	if b.Lookup("img/missing.png") != -1 {
		t.Errorf("Lookup of a missing entry is not -1")
	}
	for _, i := range []int{-1, len(want)} {
		if _, err := b.Entry(i); err == nil {
			t.Errorf("Entry(%d) succeeded", i)
		}
	}

	// Open alone verifies the same bundle and agrees with Verify.
	ob, err := Open(data, k.trust, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(ob.Manifest.encode(), b.Manifest.encode()) {
		t.Errorf("Open and Verify read different manifests")
	}
}

func TestBuildDeterministic(t *testing.T) {
	k := testKeys(t)
	first := mustBuild(t, testMeta(), testFiles(), k.signer, nil)
	if again := mustBuild(t, testMeta(), testFiles(), k.signer, nil); !bytes.Equal(first, again) {
		t.Fatalf("two builds of the same input differ")
	}

	// The same article given differently: images in another order, times
	// in another zone and with fractions of a second.
	files := testFiles()
	files[1], files[2] = files[2], files[1]
	meta := testMeta()
	zone := time.FixedZone("UTC+3", 3*3600)
	meta.Created = meta.Created.In(zone).Add(999 * time.Millisecond)
	meta.Updated = meta.Updated.In(zone).Add(time.Nanosecond)
	if other := mustBuild(t, meta, files, k.signer, nil); !bytes.Equal(first, other) {
		t.Errorf("reordered images or unnormalised times change the bundle")
	}

	// Build must not reorder the caller's slice.
	in := testFiles()
	mustBuild(t, testMeta(), in, k.signer, nil)
	if in[1].Name != "img/vote.png" {
		t.Errorf("Build reordered its input")
	}

	// Any change to the input changes the bytes.
	meta = testMeta()
	meta.Revision++
	if other := mustBuild(t, meta, testFiles(), k.signer, nil); bytes.Equal(first, other) {
		t.Errorf("a new revision gives the same bytes")
	}
}

func TestBuildSortsImages(t *testing.T) {
	k := testKeys(t)
	names := []string{"z.png", "a/b.png", "A.png", "a.png", "a-b.png", "a/a.png", "_.png", "0.png"}
	files := []File{{Type: "text/plain", Data: []byte("body")}}
	for _, n := range names {
		files = append(files, File{Name: n, Type: "image/png", Data: []byte(n)})
	}
	b, err := Verify(mustBuild(t, testMeta(), files, k.signer, nil), k.trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range b.Manifest.Entries[1:] {
		got = append(got, e.Name)
	}
	want := slices.Clone(names)
	slices.Sort(want) // byte order
	if !slices.Equal(got, want) {
		t.Errorf("images in order %q, want %q", got, want)
	}
	if b.Manifest.Entries[0].Name != "index.txt" {
		t.Errorf("body named %q, want index.txt", b.Manifest.Entries[0].Name)
	}
	for i, n := range want {
		if e, _ := b.Entry(i + 1); string(e) != n {
			t.Errorf("entry %q holds %q", n, e)
		}
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"a.png", "img/a.png", "a/b/c/d.webp", "A-Z_0~9+x.png", "x", "a.b.c", strings.Repeat("a", MaxNameLen), "index.html"}
	bad := []string{
		"", "../x.png", "./x.png", "img/../x.png", "/abs.png", ".hidden", "img/.hidden", "a//b", "a/", "a\\b.png",
		"..\\x.png", "c:x.png", "a b.png", "a\x00.png", "a\n.png", "é.png", "a?.png", "a%2f.png", "a*.png",
		strings.Repeat("a", MaxNameLen+1), ".", "..", "img/", "a/./b",
	}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		err := CheckName(n)
		if err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", n)
		} else if !strings.HasPrefix(err.Error(), "bundle: ") {
			t.Errorf("CheckName(%q) = %q, not prefixed", n, err)
		}
	}
}

func TestCheckID(t *testing.T) {
	good := []string{"a", "0", "budget-vote-2026", "a.b_c-d", strings.Repeat("x", MaxIDLen)}
	bad := []string{"", "-a", ".a", "_a", "A", "a b", "a/b", "a\\b", "é", "a\x00", strings.Repeat("x", MaxIDLen+1), "..", "a+b"}
	for _, id := range good {
		if err := CheckID(id); err != nil {
			t.Errorf("CheckID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range bad {
		if CheckID(id) == nil {
			t.Errorf("CheckID(%q) = nil, want an error", id)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	k := testKeys(t)
	body := File{Type: "text/html", Data: []byte(testBody)}
	img := func(name, typ string) File { return File{Name: name, Type: typ, Data: []byte("x")} }
	tests := []struct {
		name  string
		meta  func(*Metadata)
		files []File
		opts  *BuildOptions
		want  string
	}{
		{"no files", nil, []File{}, nil, "no body"},
		{"body type", nil, []File{{Type: "application/pdf", Data: []byte("x")}}, nil, "body type"},
		{"body is an image", nil, []File{img("a.png", "image/png")}, nil, "body type"},
		{"parent dir", nil, []File{body, img("../x.png", "image/png")}, nil, "../x.png"},
		{"absolute", nil, []File{body, img("/abs.png", "image/png")}, nil, "/abs.png"},
		{"hidden", nil, []File{body, img(".hidden", "image/png")}, nil, ".hidden"},
		{"empty part", nil, []File{body, img("a//b", "image/png")}, nil, "a//b"},
		{"backslash", nil, []File{body, img(`a\b.png`, "image/png")}, nil, "not allowed"},
		{"empty name", nil, []File{body, img("", "image/png")}, nil, "entry name"},
		{"image type", nil, []File{body, img("a.png", "text/html")}, nil, "not an allowed image type"},
		{"unknown image type", nil, []File{body, img("a.bmp", "image/bmp")}, nil, "not an allowed image type"},
		{"duplicate", nil, []File{body, img("a.png", "image/png"), img("a.png", "image/png")}, nil, "without repeats"},
		{"image named like the body", nil, []File{body, img("index.html", "image/png")}, nil, "appears twice"},
		{"id", func(m *Metadata) { m.ID = "Budget" }, nil, nil, "article id"},
		{"empty id", func(m *Metadata) { m.ID = "" }, nil, nil, "article id"},
		{"revision", func(m *Metadata) { m.Revision = 0 }, nil, nil, "revision"},
		{"title length", func(m *Metadata) { m.Title = strings.Repeat("t", MaxTitleLen+1) }, nil, nil, "title"},
		{"title control", func(m *Metadata) { m.Title = "a\nb" }, nil, nil, "title: control character"},
		{"title C1 control", func(m *Metadata) { m.Title = "a\u0085b" }, nil, nil, "title: control character"},
		{"title UTF-8", func(m *Metadata) { m.Title = "a\xffb" }, nil, nil, "title: not valid UTF-8"},
		{"language", func(m *Metadata) { m.Language = strings.Repeat("e", MaxLanguageLen+1) }, nil, nil, "language"},
		{"URL", func(m *Metadata) { m.CanonicalURL = strings.Repeat("u", MaxURLLen+1) }, nil, nil, "canonical URL"},
		{"URL DEL", func(m *Metadata) { m.CanonicalURL = "https://x/\x7f" }, nil, nil, "canonical URL"},
		{"authors", func(m *Metadata) { m.Authors = make([]string, MaxAuthors+1) }, nil, nil, "authors"},
		{"empty author", func(m *Metadata) { m.Authors = []string{""} }, nil, nil, "author"},
		{"long author", func(m *Metadata) { m.Authors = []string{strings.Repeat("a", MaxAuthorLen+1)} }, nil, nil, "author"},
		{"author control", func(m *Metadata) { m.Authors = []string{"a\tb"} }, nil, nil, "author"},
		{"level", nil, nil, &BuildOptions{Level: 23}, "level 23"},
		{"negative level", nil, nil, &BuildOptions{Level: -1}, "level -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := testMeta()
			if tt.meta != nil {
				tt.meta(&meta)
			}
			files := tt.files
			if files == nil {
				files = testFiles()
			}
			data, err := Build(meta, files, k.root.Public(), k.signer, tt.opts)
			wantError(t, err, tt.want)
			if data != nil {
				t.Errorf("Build returned bytes with an error")
			}
			if !strings.HasPrefix(err.Error(), "bundle: ") {
				t.Errorf("error %q is not prefixed with the package name", err)
			}
		})
	}

	if _, err := Build(testMeta(), testFiles(), k.root.Public(), k.root, nil); !errors.Is(err, signing.ErrRootKey) {
		t.Errorf("Build signed with the root key: %v, want signing.ErrRootKey", err)
	}
}

func TestBuildTimes(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name             string
		created, updated time.Time
		want             string // empty for accepted
	}{
		{"ok", date(2026, 1, 1), date(2026, 2, 1), ""},
		{"same instant", date(2026, 1, 1), date(2026, 1, 1), ""},
		{"first second of 1970", time.Unix(0, 0), time.Unix(0, 0), ""},
		{"last second of 9999", date(2026, 1, 1), date(10000, 1, 1).Add(-time.Nanosecond), ""},
		{"same second once truncated", date(2026, 1, 1).Add(900 * time.Millisecond), date(2026, 1, 1).Add(100 * time.Millisecond), ""},
		{"zero created", time.Time{}, date(2026, 1, 1), "between 1970 and 9999"},
		{"zero both", time.Time{}, time.Time{}, "between 1970 and 9999"},
		{"before 1970", date(1969, 12, 31), date(2026, 1, 1), "between 1970 and 9999"},
		{"just before 1970", time.Unix(-1, 0), date(2026, 1, 1), "between 1970 and 9999"},
		{"after 9999", date(2026, 1, 1), date(10000, 1, 1), "between 1970 and 9999"},
		{"created after 9999", date(10000, 1, 1), date(10000, 1, 2), "between 1970 and 9999"},
		{"updated before 1970", date(2026, 1, 1), date(1969, 1, 1), "before created"},
		{"updated before created", date(2026, 2, 1), date(2026, 1, 1), "before created"},
		{"created after 9999, updated before", date(10001, 1, 1), date(2026, 1, 1), "before created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := testMeta()
			meta.Created, meta.Updated = tt.created, tt.updated
			data, err := Build(meta, testFiles(), k.root.Public(), k.stranger, nil)
			if tt.want != "" {
				wantError(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			u, err := ParseUnverified(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := u.Manifest
			if !m.Created.Equal(tt.created.Truncate(time.Second)) || !m.Updated.Equal(tt.updated.Truncate(time.Second)) {
				t.Errorf("times = %v, %v, want %v, %v truncated to seconds", m.Created, m.Updated, tt.created, tt.updated)
			}
		})
	}
}

func TestOpenTrust(t *testing.T) {
	k := testKeys(t)
	meta := testMeta()
	tests := []struct {
		name      string
		signer    *keys.PrivateKey
		publisher *keys.PrivateKey
		updated   time.Time
		want      string
		untrusted bool // wraps *keys.UntrustedKeyError
	}{
		{"not delegated", k.stranger, k.root, meta.Updated, "is not delegated by publisher", true},
		{"revoked", k.revoked, k.root, meta.Updated, "was revoked", true},
		{"expired key", k.expired, k.root, meta.Updated, "was not valid at 2026-03-01T12:00:00Z", true},
		{"signed after the window", k.signer, k.root, date(2030, 1, 1), "was not valid at 2030-01-01T00:00:00Z", true},
		{"signed before the window", k.signer, k.root, date(2024, 12, 31), "was not valid at 2024-12-31", true},
		{"another publisher", k.signer, k.other, meta.Updated, "manifest names publisher " + k.other.Public().ID(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMeta()
			m.Created, m.Updated = date(2020, 6, 1), tt.updated
			data, err := Build(m, testFiles(), tt.publisher.Public(), tt.signer, nil)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			for _, open := range []func([]byte, *keys.Trust, *OpenOptions) (*Bundle, error){Open, Verify} {
				b, err := open(data, k.trust, nil)
				if b != nil {
					t.Errorf("returned a bundle with an error")
				}
				be := wantRefusal(t, err, tt.want)
				var ue *keys.UntrustedKeyError
				if got := errors.As(err, &ue); got != tt.untrusted {
					t.Errorf("errors.As(%q, *keys.UntrustedKeyError) = %v, want %v", err, got, tt.untrusted)
				}
				if be.Reason == "" {
					t.Errorf("empty Reason")
				}
			}
		})
	}

	// The window's edges: NotBefore is inside, NotAfter is not.
	for _, at := range []time.Time{date(2025, 1, 1), date(2030, 1, 1).Add(-time.Second)} {
		m := testMeta()
		m.Created, m.Updated = at, at
		if _, err := Verify(mustBuild(t, m, testFiles(), k.signer, nil), k.trust, nil); err != nil {
			t.Errorf("signed at %v: %v", at, err)
		}
	}
	// The expired key's bundles from its own window still verify.
	m := testMeta()
	m.Created, m.Updated = date(2020, 6, 1), date(2020, 6, 1)
	if _, err := Verify(mustBuild(t, m, testFiles(), k.expired, nil), k.trust, nil); err != nil {
		t.Errorf("bundle signed inside the old key's window: %v", err)
	}
}

func TestOpenRefusesContainer(t *testing.T) {
	k := testKeys(t)
	data := mustBuild(t, testMeta(), testFiles(), k.signer, nil)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a samizdat bundle"},
		{"header only", data[:headerSize], "truncated: manifest length"},
		{"bad magic", append([]byte("SAMIZDAT-BUNDLE\x02"), data[len(Magic):]...), "not a samizdat bundle"},
		{"short", data[:headerSize-1], "not a samizdat bundle"},
		{"manifest length", func() []byte {
			d := bytes.Clone(data)
			d[headerSize-4] = 0xff
			return d
		}(), "exceeds limit"},
		{"manifest past the end", func() []byte {
			d := bytes.Clone(data)
			binary.BigEndian.PutUint32(d[headerSize-4:], uint32(len(d)-headerSize+1))
			return d
		}(), "truncated: manifest length"},
		{"signature", func() []byte {
			d := bytes.Clone(data)
			d[len(Magic)+32] ^= 1
			return d
		}(), "signature does not verify"},
		{"stored byte", func() []byte {
			d := bytes.Clone(data)
			d[len(d)-1] ^= 1
			return d
		}(), "stored bytes do not match the signed hash"},
		{"trailing", append(bytes.Clone(data), 0), "1 bytes after the last entry"},
		{"truncated entry", data[:len(data)-1], "truncated: entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(tt.data, k.trust, nil)
			if b != nil {
				t.Errorf("returned a bundle with an error")
			}
			wantRefusal(t, err, tt.want)
		})
	}

	// A signature by a delegated key must verify under the manifest
	// domain only: the same bytes signed in another domain are refused.
	mb := data[headerSize : headerSize+int(binary.BigEndian.Uint32(data[headerSize-4:]))]
	sig, err := signing.Sign(k.signer, signing.MirrorList, mb)
	if err != nil {
		t.Fatal(err)
	}
	d := bytes.Clone(data)
	copy(d[len(Magic)+32:], sig)
	_, err = Open(d, k.trust, nil)
	var se *signing.InvalidSignatureError
	if wantRefusal(t, err, "signature does not verify"); !errors.As(err, &se) {
		t.Errorf("error %q does not wrap *signing.InvalidSignatureError", err)
	}
}

func TestParseUnverified(t *testing.T) {
	k := testKeys(t)
	// Signed by a key nobody delegated: ParseUnverified still reads it.
	data := mustBuild(t, testMeta(), testFiles(), k.stranger, nil)
	u, err := ParseUnverified(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(u.Signer, k.stranger.Public().Ed25519()) || u.Size != len(data) || u.Manifest.ID != testMeta().ID {
		t.Errorf("ParseUnverified = %x, %d, %q", u.Signer, u.Size, u.Manifest.ID)
	}
	// The signer is a copy.
	u.Signer[0] ^= 1
	if data[len(Magic)] == u.Signer[0] {
		t.Errorf("Signer aliases the bundle")
	}
	for _, bad := range [][]byte{nil, data[:headerSize-1], data[:headerSize+10], append([]byte("X"), data[1:]...)} {
		if _, err := ParseUnverified(bad, nil); err == nil {
			t.Errorf("ParseUnverified accepted %d bytes", len(bad))
		}
	}
	if _, err := ParseUnverified(data, &Limits{ManifestSize: 100}); err == nil {
		t.Errorf("ParseUnverified ignored ManifestSize")
	}
}

func TestDigest(t *testing.T) {
	d := Digest(sha256.Sum256([]byte("x")))
	s := d.String()
	if got, err := ParseDigest(s); err != nil || got != d {
		t.Errorf("ParseDigest(%q) = %v, %v", s, got, err)
	}
	for _, bad := range []string{"", s[:63], s + "0", strings.ToUpper(s), "g" + s[1:], " " + s[1:]} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}

func TestCompressionString(t *testing.T) {
	for c, want := range map[Compression]string{Stored: "stored", Zstd: "zstd", 7: "compression(7)"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

// TestOpenManifestRules signs manifests that Build would never write and
// checks that Open refuses each one after the signature verifies.
func TestOpenManifestRules(t *testing.T) {
	k := testKeys(t)
	body := []byte("the body")
	png := []byte("png bytes")
	good := func() *Manifest {
		return sealedManifest(t, storedEntry("index.txt", "text/plain", body), storedEntry("a.png", "image/png", png))
	}
	tests := []struct {
		name   string
		edit   func(m *Manifest)
		raw    func(b []byte) []byte // edits the encoded manifest
		stored [][]byte
		want   string
	}{
		{"accepted", func(m *Manifest) {}, nil, nil, ""},
		{"revision 0", func(m *Manifest) { m.Revision = 0 }, nil, nil, "revision must be at least 1"},
		{"updated before created", func(m *Manifest) { m.Updated = m.Created.Add(-time.Second) }, nil, nil, "before created"},
		{"bad id", func(m *Manifest) { m.ID = "../etc" }, nil, nil, "article id"},
		{"body not first", func(m *Manifest) { m.Entries[0], m.Entries[1] = m.Entries[1], m.Entries[0] }, nil, [][]byte{png, body}, "entry 0 must be the body"},
		{"body name and type disagree", func(m *Manifest) { m.Entries[0].Name = "index.html" }, nil, nil, "entry 0 must be the body"},
		{"bad name", func(m *Manifest) { m.Entries[1].Name = "../a.png" }, nil, nil, "../a.png"},
		{"bad type", func(m *Manifest) { m.Entries[1].Type = "text/html" }, nil, nil, "not an allowed image type"},
		{"unsorted", func(m *Manifest) {
			m.Entries = append(m.Entries, storedEntry("0.png", "image/png", png))
		}, nil, [][]byte{body, png, png}, "sorted by name"},
		{"repeated", func(m *Manifest) {
			m.Entries = append(m.Entries, m.Entries[1])
		}, nil, [][]byte{body, png, png}, "without repeats"},
		{"unknown compression", func(m *Manifest) { m.Entries[1].Compression = 2 }, nil, nil, "unknown compression 2"},
		{"stored sizes differ", func(m *Manifest) { m.Entries[1].Size++ }, nil, nil, "stored entry's sizes or hashes differ"},
		{"stored hashes differ", func(m *Manifest) { m.Entries[1].SHA256[0] ^= 1 }, nil, nil, "stored entry's sizes or hashes differ"},
		{"entry too large", func(m *Manifest) {
			m.Entries[1].Size = uint64(DefaultLimits.EntrySize) + 1
			m.Entries[1].Compression = Zstd
		}, nil, nil, "limit"},
		{"no entries", func(m *Manifest) { m.Entries = nil }, nil, [][]byte{}, "0 entries"},
		{"trailing bytes", func(m *Manifest) {}, func(b []byte) []byte { return append(b, 0) }, nil, "1 bytes after the last entry"},
		{"bad magic", func(m *Manifest) {}, func(b []byte) []byte { b[0] = 'X'; return b }, nil, "bad magic"},
		{"truncated", func(m *Manifest) {}, func(b []byte) []byte { return b[:len(b)-1] }, nil, "truncated stored sha256"},
		{"created out of range", func(m *Manifest) {}, func(b []byte) []byte {
			off := 4 + 32 + 1 + len(m0.ID) + 8
			b[off] = 0x80
			return b
		}, nil, "created out of range"},
		{"updated after 9999", func(m *Manifest) {}, func(b []byte) []byte {
			off := 4 + 32 + 1 + len(m0.ID) + 16
			binary.BigEndian.PutUint64(b[off:], maxUnix+1)
			return b
		}, nil, "updated out of range"},
		{"updated at the end of 9999", func(m *Manifest) {}, func(b []byte) []byte {
			off := 4 + 32 + 1 + len(m0.ID) + 16
			binary.BigEndian.PutUint64(b[off:], maxUnix)
			return b
		}, nil, "was not valid at 9999-12-31T23:59:59Z"},
		{"title control", func(m *Manifest) { m.Title = "a\x1bb" }, nil, nil, "title: control character"},
		{"author count", func(m *Manifest) {}, func(b []byte) []byte {
			off := 4 + 32 + 1 + len(m0.ID) + 24 + 2 + len(m0.Title) + 1 + len(m0.Language) + 2 + len(m0.CanonicalURL)
			b[off] = MaxAuthors + 1
			return b
		}, nil, "authors, limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.edit(m)
			mb := m.encode()
			if tt.raw != nil {
				mb = tt.raw(mb)
			}
			stored := tt.stored
			if stored == nil {
				stored = [][]byte{body, png}
			}
			data := seal(t, k.signer, mb, stored...)
			_, err := Verify(data, k.trust, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantRefusal(t, err, tt.want)
			// Every rule but the key's window is the manifest's own.
			if _, err := ParseUnverified(data, nil); err == nil && !strings.Contains(tt.want, "was not valid") {
				t.Errorf("ParseUnverified accepted it")
			}
		})
	}
}

// m0 is the manifest the raw edits above count offsets in.
var m0 = testMeta()

// TestConcurrentUse opens and reads one bundle from many goroutines, for
// the race detector: a *Bundle is immutable and the codecs are shared.
func TestConcurrentUse(t *testing.T) {
	k := testKeys(t)
	dict := testDictionary(t)
	data := mustBuild(t, testMeta(), testFiles(), k.signer, &BuildOptions{Dictionary: dict})
	opts := &OpenOptions{Dictionaries: func([32]byte) *Dictionary { return dict }}
	b, err := Open(data, k.trust, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := b.Entry(g % 3); err != nil {
					t.Error(err)
					return
				}
				if _, err := Verify(data, k.trust, opts); err != nil {
					t.Error(err)
					return
				}
				if _, err := Build(testMeta(), testFiles(), k.root.Public(), k.signer, &BuildOptions{Dictionary: dict, Level: g%2 + 1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBuildManyEntries checks the entry count against the manifest's
// 16-bit field: raising Limits.Entries past it must not let Build write a
// count that wraps around.
func TestBuildManyEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 65,536-entry bundle")
	}
	k := testKeys(t)
	files := []File{{Type: "text/plain", Data: []byte("x")}}
	for i := range 1 << 16 {
		files = append(files, File{Name: fmt.Sprintf("%05d.png", i), Type: "image/png", Data: []byte{byte(i)}})
	}
	lim := &Limits{Entries: 1 << 20, ManifestSize: 64 << 20}
	data, err := Build(testMeta(), files, k.root.Public(), k.signer, &BuildOptions{Limits: lim})
	if err == nil {
		_, err = Open(data, k.trust, &OpenOptions{Limits: lim})
		t.Fatalf("Build wrote a bundle of %d entries; Open: %v", len(files), err)
	}
	wantError(t, err, "entries")
}
