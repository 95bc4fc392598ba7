package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current code")

var vectorsFile = filepath.Join("testdata", "vectors.json")

// vectorSet is testdata/vectors.json: bundles built with fixed-seed keys,
// for this package and for other implementations of FORMAT.md. Byte
// strings are base64, hashes and seeds lowercase hex, times RFC 3339.
type vectorSet struct {
	Comment []string `json:"comment"`
	// Root is the publisher's pinned root key and Statement its signed
	// key statement: together, the trust every vector is checked against.
	Root      string `json:"root"`
	Statement string `json:"statement"`
	// Signer and SignerSeed are the signing key that built the valid
	// vectors: keys.NewPrivateKey(name, "signing", seed).
	Signer     string `json:"signer"`
	SignerSeed string `json:"signer_seed"`

	Valid   []validVector   `json:"valid"`
	Invalid []invalidVector `json:"invalid"`
}

type validVector struct {
	Name string `json:"name"`
	// Inputs to Build.
	Meta       vectorMeta    `json:"meta"`
	Files      []vectorInput `json:"files"`
	Level      int           `json:"level"`
	Dictionary []byte        `json:"dictionary,omitempty"`
	// Expected outputs.
	Bundle   []byte         `json:"bundle"`
	Digest   string         `json:"digest"`
	Manifest vectorManifest `json:"manifest"`
}

type vectorMeta struct {
	ID           string    `json:"id"`
	Revision     uint64    `json:"revision"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	Title        string    `json:"title"`
	Language     string    `json:"language"`
	CanonicalURL string    `json:"canonical_url"`
	Authors      []string  `json:"authors"`
}

type vectorInput struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Data []byte `json:"data"`
}

type vectorManifest struct {
	Publisher  string        `json:"publisher"`
	Meta       vectorMeta    `json:"meta"`
	Dictionary string        `json:"dictionary"`
	Entries    []vectorEntry `json:"entries"`
}

type vectorEntry struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Compression  string `json:"compression"`
	Size         uint64 `json:"size"`
	StoredSize   uint64 `json:"stored_size"`
	SHA256       string `json:"sha256"`
	StoredSHA256 string `json:"stored_sha256"`
}

type invalidVector struct {
	Name   string `json:"name"`
	Bundle []byte `json:"bundle"`
	// Error is a substring of the error Verify must return.
	Error string `json:"error"`
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	v := loadVectors(t)
	root, err := keys.ParsePublicKey(v.Root)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.NewTrust(root, []byte(v.Statement))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := hex.DecodeString(v.SignerSeed)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewPrivateKey(strings.Split(v.Signer, "+")[0], keys.RoleSigning, seed)
	if err != nil || signer.Public().String() != v.Signer {
		t.Fatalf("signer seed does not give %s: %v", v.Signer, err)
	}
	if len(v.Valid) < 5 || len(v.Invalid) < 20 {
		t.Fatalf("only %d valid and %d invalid vectors", len(v.Valid), len(v.Invalid))
	}

	for _, vv := range v.Valid {
		t.Run("valid/"+vv.Name, func(t *testing.T) {
			opts := &BuildOptions{Level: vv.Level}
			openOpts := &OpenOptions{}
			if vv.Dictionary != nil {
				d, err := NewDictionary(vv.Dictionary)
				if err != nil {
					t.Fatal(err)
				}
				opts.Dictionary = d
				openOpts.Dictionaries = func(h [32]byte) *Dictionary {
					if h == d.Hash() {
						return d
					}
					return nil
				}
			}
			var files []File
			for _, f := range vv.Files {
				files = append(files, File(f))
			}
			got, err := Build(vv.Meta.metadata(), files, root, signer, opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !bytes.Equal(got, vv.Bundle) {
				t.Fatalf("Build gives other bytes than the vector (run go test ./bundle -run TestVectors -update if the format changed on purpose)")
			}
			b, err := Verify(vv.Bundle, trust, openOpts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if b.Digest.String() != vv.Digest || Digest(sha256.Sum256(vv.Bundle)).String() != vv.Digest {
				t.Errorf("digest %s, want %s", b.Digest, vv.Digest)
			}
			if gotM := manifestVector(b.Manifest); !equalJSON(t, gotM, vv.Manifest) {
				t.Errorf("manifest differs from the vector")
			}
			// Every file comes back: the body first, then images by name.
			for _, f := range vv.Files {
				i := 0
				if f.Name != "" {
					i = b.Lookup(f.Name)
				}
				if data, err := b.Entry(i); err != nil || !bytes.Equal(data, f.Data) {
					t.Errorf("entry %q: %v", f.Name, err)
				}
			}
		})
	}
	for _, iv := range v.Invalid {
		t.Run("invalid/"+iv.Name, func(t *testing.T) {
			if iv.Error == "" {
				t.Fatal("vector has no expected error")
			}
			b, err := Verify(iv.Bundle, trust, nil)
			if b != nil {
				t.Errorf("Verify returned a bundle with an error")
			}
			wantRefusal(t, err, iv.Error)
		})
	}
}

// loadVectors reads testdata/vectors.json.
func loadVectors(t testing.TB) *vectorSet {
	t.Helper()
	f, err := os.Open(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := decodeVectors(f)
	if err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	return v
}

// decodeVectors decodes a vector file, refusing unknown fields so that a
// vector no code looks at cannot pass unnoticed.
func decodeVectors(r io.Reader) (*vectorSet, error) {
	var v vectorSet
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the vectors")
	}
	return &v, nil
}

func TestDecodeVectorsStrict(t *testing.T) {
	for _, bad := range []string{
		`{"root": "x", "extra": 1}`,
		`{"valid": [{"name": "x", "expected_error": "y"}]}`,
		`{"invalid": [{"name": "x", "bundle": "AA==", "eror": "typo"}]}`,
		`{} {}`,
	} {
		if _, err := decodeVectors(strings.NewReader(bad)); err == nil {
			t.Errorf("decodeVectors(%s) accepted", bad)
		}
	}
	if _, err := decodeVectors(strings.NewReader(`{"root": "x"}`)); err != nil {
		t.Errorf("decodeVectors of a known field: %v", err)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja, jb) {
		t.Logf("got  %s\nwant %s", ja, jb)
		return false
	}
	return true
}

func (m vectorMeta) metadata() Metadata {
	return Metadata{ID: m.ID, Revision: m.Revision, Created: m.Created, Updated: m.Updated, Title: m.Title,
		Language: m.Language, CanonicalURL: m.CanonicalURL, Authors: m.Authors}
}

func manifestVector(m *Manifest) vectorManifest {
	v := vectorManifest{
		Publisher: hex.EncodeToString(m.Publisher[:]),
		Meta: vectorMeta{ID: m.ID, Revision: m.Revision, Created: m.Created, Updated: m.Updated, Title: m.Title,
			Language: m.Language, CanonicalURL: m.CanonicalURL, Authors: m.Authors},
		Dictionary: hex.EncodeToString(m.Dictionary[:]),
	}
	for _, e := range m.Entries {
		v.Entries = append(v.Entries, vectorEntry{
			Name: e.Name, Type: e.Type, Compression: e.Compression.String(), Size: e.Size, StoredSize: e.StoredSize,
			SHA256: hex.EncodeToString(e.SHA256[:]), StoredSHA256: hex.EncodeToString(e.StoredSHA256[:]),
		})
	}
	return v
}

// writeVectors regenerates testdata/vectors.json.
func writeVectors(t *testing.T) {
	k := testKeys(t)
	v := vectorSet{
		Comment: []string{
			"Test vectors for the samizdat bundle format (FORMAT.md), written by",
			"go test ./bundle -run TestVectors -update. Byte strings are base64,",
			"hashes and seeds lowercase hex. Check each vector against the trust",
			"made of root and statement. Valid: Build(meta, files) with the signer",
			"and options gives bundle exactly; Verify accepts it with the digest and",
			"manifest given. Invalid: Verify refuses the bundle, with an error that",
			"contains error (this implementation's wording).",
		},
		Root:       k.root.Public().String(),
		Statement:  string(k.trust.SignedStatement()),
		Signer:     k.signer.Public().String(),
		SignerSeed: hex.EncodeToString(seed(2)),
	}
	dict := testDictionary(t)
	unicode := testMeta()
	unicode.ID, unicode.Title, unicode.Language, unicode.Authors = "vybory-2026", "Выборы: итоги голосования — «без сюрпризов»", "ru", []string{"Анна Писатель"}
	bare := testMeta()
	bare.ID, bare.Revision, bare.Title, bare.Language, bare.CanonicalURL, bare.Authors = "0", 1, "", "", "", nil
	bare.Created, bare.Updated = date(2025, 1, 1), date(2025, 1, 1)
	for _, c := range []struct {
		name  string
		meta  Metadata
		files []File
		level int
		dict  *Dictionary
	}{
		{"html body and two images", testMeta(), testFiles(), 0, nil},
		{"markdown at level 19, unicode metadata", unicode, []File{{Type: "text/markdown", Data: []byte("# Выборы\n\n" + string(prose(1500)))}}, 19, nil},
		{"text with a dictionary", testMeta(), []File{{Type: "text/plain", Data: []byte("Independent journalism since 1991. " + string(prose(300)))}, {Name: "x/y.webp", Type: "image/webp", Data: []byte("RIFF....WEBP")}}, 0, dict},
		{"empty body, bare metadata", bare, []File{{Type: "text/plain"}}, 1, nil},
		{"1024-byte body", testMeta(), []File{{Type: "text/plain", Data: prose(1024)}}, 0, nil},
	} {
		data := mustBuild(t, c.meta, c.files, k.signer, &BuildOptions{Level: c.level, Dictionary: c.dict})
		u, err := ParseUnverified(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		vv := validVector{Name: c.name, Meta: vectorMeta(manifestVector(u.Manifest).Meta), Level: c.level, Bundle: data,
			Digest: Digest(sha256.Sum256(data)).String(), Manifest: manifestVector(u.Manifest)}
		vv.Meta.Created, vv.Meta.Updated = c.meta.Created, c.meta.Updated
		if c.dict != nil {
			vv.Dictionary = c.dict.Content()
		}
		for _, f := range c.files {
			vv.Files = append(vv.Files, vectorInput(f))
		}
		v.Valid = append(v.Valid, vv)
	}
	for _, iv := range invalidVectors(t) {
		v.Invalid = append(v.Invalid, iv)
	}
	out, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// invalidVectors makes bundles that Verify must refuse, each for one reason.
func invalidVectors(t *testing.T) []invalidVector {
	k := testKeys(t)
	valid := mustBuild(t, testMeta(), testFiles(), k.signer, nil)
	mlen := int(binary.BigEndian.Uint32(valid[headerSize-4:]))
	edit := func(f func(d []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	withMeta := func(signer *keys.PrivateKey, publisher *keys.PrivateKey, f func(m *Metadata)) []byte {
		m := testMeta()
		f(&m)
		data, err := Build(m, testFiles(), publisher.Public(), signer, nil)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	body := []byte("the body")
	png := []byte("png")
	sealed := func(f func(m *Manifest) [][]byte) []byte {
		m := sealedManifest(t, storedEntry("index.txt", "text/plain", body), storedEntry("a.png", "image/png", png))
		stored := f(m)
		if stored == nil {
			stored = [][]byte{body, png}
		}
		return seal(t, k.signer, m.encode(), stored...)
	}
	enc, err := encoder(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(body, nil)
	dictFrame := func() []byte {
		e, err := encoder(0, testDictionary(t))
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(body, nil)
	}()

	return []invalidVector{
		{"empty", nil, "not a samizdat bundle"},
		{"bad magic", edit(func(d []byte) []byte { d[15] = 2; return d }), "not a samizdat bundle"},
		{"truncated header", valid[:headerSize-1], "not a samizdat bundle"},
		{"manifest length over the limit", edit(func(d []byte) []byte { d[headerSize-4] = 1; return d }), "exceeds limit"},
		{"truncated manifest", valid[:headerSize+mlen-1], "truncated: manifest length"},
		{"signature altered", edit(func(d []byte) []byte { d[len(Magic)+32+10] ^= 1; return d }), "signature does not verify"},
		{"manifest altered", edit(func(d []byte) []byte { d[headerSize+40] ^= 1; return d }), "signature does not verify"},
		{"signer altered", edit(func(d []byte) []byte { d[len(Magic)] ^= 1; return d }), "is not delegated"},
		{"stored entry altered", edit(func(d []byte) []byte { d[headerSize+mlen] ^= 1; return d }), "stored bytes do not match the signed hash"},
		{"trailing byte", append(bytes.Clone(valid), 0), "1 bytes after the last entry"},
		{"truncated entry", valid[:len(valid)-1], "truncated: entry"},
		{"signed by an undelegated key", withMeta(k.stranger, k.root, func(*Metadata) {}), "is not delegated by publisher"},
		{"signed by a revoked key", withMeta(k.revoked, k.root, func(*Metadata) {}), "was revoked"},
		{"signed outside the key's window", withMeta(k.expired, k.root, func(*Metadata) {}), "was not valid at"},
		{"signed after the key's window", withMeta(k.signer, k.root, func(m *Metadata) { m.Updated = date(2031, 1, 1) }), "was not valid at"},
		{"another publisher's manifest", withMeta(k.signer, k.other, func(*Metadata) {}), "manifest names publisher"},
		{"revision zero", sealed(func(m *Manifest) [][]byte { m.Revision = 0; return nil }), "revision must be at least 1"},
		{"updated before created", sealed(func(m *Manifest) [][]byte { m.Updated = m.Created.Add(-time.Second); return nil }), "before created"},
		{"path traversal", sealed(func(m *Manifest) [][]byte { m.Entries[1].Name = "../a.png"; return nil }), `entry name "../a.png"`},
		{"absolute path", sealed(func(m *Manifest) [][]byte { m.Entries[1].Name = "/a.png"; return nil }), `entry name "/a.png"`},
		{"hidden file", sealed(func(m *Manifest) [][]byte { m.Entries[1].Name = ".a.png"; return nil }), `entry name ".a.png"`},
		{"unsorted images", sealed(func(m *Manifest) [][]byte {
			m.Entries = append(m.Entries, storedEntry("0.png", "image/png", png))
			return [][]byte{body, png, png}
		}), "sorted by name"},
		{"image type", sealed(func(m *Manifest) [][]byte { m.Entries[1].Type = "application/javascript"; return nil }), "not an allowed image type"},
		{"body type", sealed(func(m *Manifest) [][]byte { m.Entries[0].Type = "text/html"; return nil }), "entry 0 must be the body"},
		{"unknown compression", sealed(func(m *Manifest) [][]byte { m.Entries[1].Compression = 2; return nil }), "unknown compression"},
		{"entry over the size limit", sealed(func(m *Manifest) [][]byte {
			m.Entries[0] = zstdEntry("index.txt", "text/plain", frame, make([]byte, DefaultLimits.EntrySize+1))
			return [][]byte{frame, png}
		}), "limit 16777216"},
		{"content does not match", sealed(func(m *Manifest) [][]byte {
			m.Entries[0] = zstdEntry("index.txt", "text/plain", frame, []byte("the bodY"))
			return [][]byte{frame, png}
		}), "content does not match the signed hash"},
		{"content shorter than signed", sealed(func(m *Manifest) [][]byte {
			m.Entries[0] = zstdEntry("index.txt", "text/plain", frame, []byte("the body!"))
			return [][]byte{frame, png}
		}), "manifest says 9"},
		{"zstd bomb", sealed(func(m *Manifest) [][]byte {
			bomb := rleFrame(64<<20, -1, 17)
			m.Entries[0] = zstdEntry("index.txt", "text/plain", bomb, []byte("ten bytes!"))
			return [][]byte{bomb, png}
		}), "exceeds configured limit"},
		{"dictionary needed", sealed(func(m *Manifest) [][]byte {
			m.Dictionary = testDictionary(t).Hash()
			m.Entries[0] = zstdEntry("index.txt", "text/plain", dictFrame, body)
			return [][]byte{dictFrame, png}
		}), "needs dictionary"},
		{"frame needs a dictionary the manifest does not name", sealed(func(m *Manifest) [][]byte {
			m.Entries[0] = zstdEntry("index.txt", "text/plain", dictFrame, body)
			return [][]byte{dictFrame, png}
		}), "unknown dictionary"},
		{"manifest trailing byte", func() []byte {
			m := sealedManifest(t, storedEntry("index.txt", "text/plain", body))
			return seal(t, k.signer, append(m.encode(), 0), body)
		}(), "1 bytes after the last entry"},
	}
}
