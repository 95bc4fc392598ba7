package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/signing"
)

// corpusDir returns the shared test corpus (see internal/corpus).
func corpusDir(t testing.TB) string { return corpus.Dir(t) }

// testKeySet is a publisher built from fixed seeds, so that bundles signed
// in tests are the same on every run.
type testKeySet struct {
	root     *keys.PrivateKey // the publisher's root key
	signer   *keys.PrivateKey // delegated 2025-01-01 to 2030-01-01
	expired  *keys.PrivateKey // delegated 2020-01-01 to 2021-01-01
	revoked  *keys.PrivateKey // revoked by the statement
	stranger *keys.PrivateKey // a signing key the statement does not name
	other    *keys.PrivateKey // another publisher's root key
	trust    *keys.Trust
}

// seed returns a fixed 32-byte ed25519 seed.
func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

var testKeysOnce = sync.OnceValues(func() (*testKeySet, error) {
	k := &testKeySet{}
	for _, p := range []struct {
		dst  **keys.PrivateKey
		name string
		role keys.Role
		seed byte
	}{
		{&k.root, "example.org", keys.RoleRoot, 1},
		{&k.signer, "example.org/signing-2025", keys.RoleSigning, 2},
		{&k.expired, "example.org/signing-2020", keys.RoleSigning, 3},
		{&k.revoked, "example.org/stolen-laptop", keys.RoleSigning, 4},
		{&k.stranger, "mallory.example/signing", keys.RoleSigning, 5},
		{&k.other, "other.example", keys.RoleRoot, 6},
	} {
		var err error
		if *p.dst, err = keys.NewPrivateKey(p.name, p.role, seed(p.seed)); err != nil {
			return nil, err
		}
	}
	st := keys.Statement{
		Publisher: k.root.Public(),
		Version:   3,
		Issued:    date(2026, 1, 1),
		Keys: []keys.Delegation{
			{Key: k.signer.Public(), NotBefore: date(2025, 1, 1), NotAfter: date(2030, 1, 1)},
			{Key: k.expired.Public(), NotBefore: date(2020, 1, 1), NotAfter: date(2021, 1, 1)},
		},
		Revoked: []*keys.PublicKey{k.revoked.Public()},
	}
	signed, err := st.Sign(k.root)
	if err != nil {
		return nil, err
	}
	if k.trust, err = keys.NewTrust(k.root.Public(), signed); err != nil {
		return nil, err
	}
	return k, nil
})

// testKeys returns the fixed test publisher.
func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	k, err := testKeysOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// testMeta is an article's metadata, signed inside the signer's window.
func testMeta() Metadata {
	return Metadata{
		ID:           "budget-vote-2026",
		Revision:     2,
		Created:      time.Date(2026, 2, 27, 8, 30, 0, 0, time.UTC),
		Updated:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Title:        "Parliament passes the budget after an all-night session",
		Language:     "en",
		CanonicalURL: "https://example.org/news/budget-vote-2026",
		Authors:      []string{"Ana Writer", "Boris Editor"},
	}
}

const testBody = `<article><h1>Parliament passes the budget</h1>
<p>After an all-night session, parliament passed the budget by 212 votes to 188.
The opposition said it would challenge the vote in court.</p>
<img src="img/vote.png"><img src="img/chart.svg"></article>
`

// testPNG is a tiny image; its bytes need not be a valid PNG.
var testPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01")

const testSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`

// testFiles is a body and two images, the images deliberately unsorted.
func testFiles() []File {
	return []File{
		{Type: "text/html", Data: []byte(testBody)},
		{Name: "img/vote.png", Type: "image/png", Data: testPNG},
		{Name: "img/chart.svg", Type: "image/svg+xml", Data: []byte(testSVG)},
	}
}

// mustBuild builds a bundle signed by signer or fails the test.
func mustBuild(t testing.TB, meta Metadata, files []File, signer *keys.PrivateKey, opts *BuildOptions) []byte {
	t.Helper()
	k := testKeys(t)
	data, err := Build(meta, files, k.root.Public(), signer, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return data
}

// seal writes a bundle exactly as Build lays it out, but from a manifest
// and stored entries given as they are: nothing is checked, so tests can
// sign what Build would never write. It is a second, independent writer of
// the container format.
func seal(t testing.TB, signer *keys.PrivateKey, manifest []byte, stored ...[]byte) []byte {
	t.Helper()
	sig, err := signing.Sign(signer, signing.Manifest, manifest)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("SAMIZDAT-BUNDLE\x01")
	b.Write(signer.Public().Ed25519())
	b.Write(sig)
	binary.Write(&b, binary.BigEndian, uint32(len(manifest)))
	b.Write(manifest)
	for _, s := range stored {
		b.Write(s)
	}
	return b.Bytes()
}

// sealedManifest returns a manifest for the test publisher with the given
// entries and the test metadata.
func sealedManifest(t testing.TB, entries ...EntryInfo) *Manifest {
	k := testKeys(t)
	meta := testMeta()
	m := &Manifest{
		ID: meta.ID, Revision: meta.Revision, Created: meta.Created, Updated: meta.Updated,
		Title: meta.Title, Language: meta.Language, CanonicalURL: meta.CanonicalURL, Authors: meta.Authors,
		Entries: entries,
	}
	copy(m.Publisher[:], k.root.Public().Ed25519())
	return m
}

// zstdEntry describes a zstd entry whose stored bytes are frame and whose
// content is claimed to be content.
func zstdEntry(name, typ string, frame, content []byte) EntryInfo {
	return EntryInfo{
		Name: name, Type: typ, Compression: Zstd,
		Size: uint64(len(content)), SHA256: sha256.Sum256(content),
		StoredSize: uint64(len(frame)), StoredSHA256: sha256.Sum256(frame),
	}
}

// storedEntry describes an entry kept as it is.
func storedEntry(name, typ string, data []byte) EntryInfo {
	h := sha256.Sum256(data)
	return EntryInfo{
		Name: name, Type: typ, Compression: Stored,
		Size: uint64(len(data)), SHA256: h, StoredSize: uint64(len(data)), StoredSHA256: h,
	}
}

// sealFrame signs a bundle whose only entry is the text body frame,
// claimed to decompress to content.
func sealFrame(t testing.TB, frame, content []byte) []byte {
	t.Helper()
	m := sealedManifest(t, zstdEntry("index.txt", "text/plain", frame, content))
	return seal(t, testKeys(t).signer, m.encode(), frame)
}

// wantRefusal checks that err is a *Error whose message contains want.
func wantRefusal(t testing.TB, err error, want string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error containing %q", want)
	}
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("error %q (%T) is not a *bundle.Error", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if !strings.HasPrefix(err.Error(), "bundle: ") || strings.Contains(err.Error(), "bundle: bundle:") {
		t.Errorf("error %q is not prefixed with the package name exactly once", err)
	}
	return be
}

// wantError checks that err is not nil and contains want.
func wantError(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
