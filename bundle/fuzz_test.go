package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// fuzzLimits keep fuzzing fast; they are tighter than the defaults but
// bound the same things.
var fuzzLimits = Limits{BundleSize: 4 << 20, ManifestSize: 64 << 10, Entries: 64, EntrySize: 1 << 20, TotalSize: 2 << 20, DecoderMemory: 2 << 20}

// fuzzBundles are valid bundles and the test vectors, as seeds.
func fuzzBundles(f *testing.F) [][]byte {
	k := testKeys(f)
	v := loadVectors(f)
	var out [][]byte
	for _, vv := range v.Valid {
		out = append(out, vv.Bundle)
	}
	for _, iv := range v.Invalid {
		out = append(out, iv.Bundle)
	}
	out = append(out,
		mustBuild(f, testMeta(), testFiles(), k.signer, nil),
		mustBuild(f, testMeta(), testFiles(), k.signer, &BuildOptions{Dictionary: testDictionary(f)}),
		mustBuild(f, testMeta(), []File{{Type: "text/plain", Data: prose(3000)}}, k.signer, &BuildOptions{Level: 19}),
		mustBuild(f, testMeta(), []File{{Type: "text/markdown"}}, k.signer, nil),
	)
	return out
}

// fuzzOpenOptions offers the test dictionary and nothing else.
func fuzzOpenOptions(f *testing.F) *OpenOptions {
	dict := testDictionary(f)
	lim := fuzzLimits
	return &OpenOptions{Limits: &lim, Dictionaries: func(h [32]byte) *Dictionary {
		if h == dict.Hash() {
			return dict
		}
		return nil
	}}
}

// checkOpened checks what Open promises about a bundle it accepted.
func checkOpened(t *testing.T, b *Bundle, data []byte) {
	t.Helper()
	if b.Digest != sha256.Sum256(data) || !bytes.Equal(b.Raw(), data) {
		t.Fatalf("Digest or Raw do not match the input")
	}
	mlen := int(binary.BigEndian.Uint32(data[headerSize-4:]))
	if !bytes.Equal(b.Manifest.encode(), data[headerSize:headerSize+mlen]) {
		t.Fatalf("the accepted manifest does not re-encode to the signed bytes")
	}
	var total uint64
	for i, e := range b.Manifest.Entries {
		if s := b.Stored(i); uint64(len(s)) != e.StoredSize || sha256.Sum256(s) != e.StoredSHA256 {
			t.Fatalf("entry %d: stored bytes do not match the manifest", i)
		}
		total += e.StoredSize
		out, err := b.Entry(i)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || out != nil {
				t.Fatalf("Entry(%d) = %d bytes, %v (%T)", i, len(out), err, err)
			}
			continue
		}
		if uint64(len(out)) != e.Size || sha256.Sum256(out) != e.SHA256 {
			t.Fatalf("Entry(%d) returned bytes that do not match the signed hash", i)
		}
	}
	if uint64(headerSize+mlen)+total != uint64(len(data)) {
		t.Fatalf("entries do not cover the bundle exactly")
	}
	if u, err := ParseUnverified(data, &b.lim); err != nil || !bytes.Equal(u.Manifest.encode(), b.Manifest.encode()) {
		t.Fatalf("ParseUnverified disagrees with Open: %v", err)
	}
}

// FuzzOpen feeds arbitrary bytes to Open and, when it accepts them, to
// Entry. Open must never panic, must return a *Error when it refuses, and
// what it accepts must match its signed manifest.
func FuzzOpen(f *testing.F) {
	for _, b := range fuzzBundles(f) {
		f.Add(b)
	}
	k := testKeys(f)
	opts := fuzzOpenOptions(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Open(data, k.trust, opts)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || b != nil || !strings.HasPrefix(err.Error(), "bundle: ") {
				t.Fatalf("Open = %v, %v (%T)", b, err, err)
			}
			return
		}
		checkOpened(t, b, data)
	})
}

// FuzzOpenSigned signs an arbitrary manifest with a delegated key and
// appends arbitrary entry bytes, so that the fuzzer reaches what FuzzOpen
// cannot: the manifest parser and the entry layout after the signature
// verifies.
func FuzzOpenSigned(f *testing.F) {
	for _, b := range fuzzBundles(f) {
		if len(b) < headerSize {
			continue
		}
		mlen := int(binary.BigEndian.Uint32(b[headerSize-4:]))
		if mlen > len(b)-headerSize {
			continue
		}
		f.Add(b[headerSize:headerSize+mlen], b[headerSize+mlen:])
	}
	k := testKeys(f)
	opts := fuzzOpenOptions(f)
	f.Fuzz(func(t *testing.T, manifest, entries []byte) {
		data := seal(t, k.signer, manifest, entries)
		b, err := Open(data, k.trust, opts)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || b != nil {
				t.Fatalf("Open = %v, %v (%T)", b, err, err)
			}
			return
		}
		checkOpened(t, b, data)
	})
}

// FuzzEntry signs a bundle whose body is an arbitrary zstd frame and
// compares Entry with a plain decoder under the same window limit: what
// the plain decoder refuses, Entry refuses; what it decodes within the
// limits, Entry returns byte for byte.
func FuzzEntry(f *testing.F) {
	enc, err := encoder(0, nil)
	if err != nil {
		f.Fatal(err)
	}
	dict := testDictionary(f)
	dictEnc, err := encoder(0, dict)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc.EncodeAll(prose(3000), nil), false)
	f.Add(enc.EncodeAll(nil, nil), false)
	f.Add(dictEnc.EncodeAll([]byte(testBody), nil), true)
	f.Add(rleFrame(3<<20, -1, 17), false)
	f.Add(rleFrame(1000, 1000, 10), true)
	if zf, err := readCorpusZip("bad.zip"); err == nil {
		for name, frame := range zf {
			if strings.HasSuffix(name, ".zst") {
				f.Add(frame, false)
			}
		}
	}
	if zf, err := readCorpusZip("good.zip"); err == nil {
		for name, frame := range zf {
			if strings.HasSuffix(name, ".zst") {
				f.Add(frame, false)
			}
		}
	}
	lim := fuzzLimits
	plainOpts := []zstd.DOption{zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(uint64(lim.EntrySize)), zstd.WithDecoderMaxMemory(64 << 20)}
	plain, err := zstd.NewReader(nil, plainOpts...)
	if err != nil {
		f.Fatal(err)
	}
	plainDict, err := zstd.NewReader(nil, append(plainOpts, zstd.WithDecoderDictRaw(dict.id(), dict.content))...)
	if err != nil {
		f.Fatal(err)
	}
	k := testKeys(f)
	f.Fuzz(func(t *testing.T, frame []byte, useDict bool) {
		p := plain
		if useDict {
			p = plainDict
		}
		want, plainErr := p.DecodeAll(frame, nil)
		if len(want) > int(lim.EntrySize) {
			return // too large to sign under these limits
		}
		m := sealedManifest(t, zstdEntry("index.txt", "text/plain", frame, want))
		opts := &OpenOptions{Limits: &lim}
		if useDict {
			m.Dictionary = dict.Hash()
			opts.Dictionaries = func([32]byte) *Dictionary { return dict }
		}
		b, err := Open(seal(t, k.signer, m.encode(), frame), k.trust, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		got, err := b.Entry(0)
		switch {
		case plainErr != nil && err == nil:
			t.Fatalf("Entry accepted a frame the plain decoder refuses (%v)", plainErr)
		case plainErr == nil && err != nil:
			t.Fatalf("Entry refused a frame the plain decoder decodes to %d bytes: %v", len(want), err)
		case err == nil && !bytes.Equal(got, want):
			t.Fatalf("Entry and the plain decoder disagree")
		}
	})
}

// FuzzParseUnverified feeds arbitrary bytes to ParseUnverified: it must
// not panic, and a manifest it accepts must re-encode to exactly the bytes
// it was read from.
func FuzzParseUnverified(f *testing.F) {
	for _, b := range fuzzBundles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUnverified(data, nil)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || u != nil {
				t.Fatalf("ParseUnverified = %v, %v (%T)", u, err, err)
			}
			return
		}
		mlen := int(binary.BigEndian.Uint32(data[headerSize-4:]))
		if !bytes.Equal(u.Manifest.encode(), data[headerSize:headerSize+mlen]) {
			t.Fatalf("accepted manifest does not re-encode to its bytes")
		}
		if u.Size != len(data) || !bytes.Equal(u.Signer, data[len(Magic):len(Magic)+32]) {
			t.Fatalf("Size or Signer wrong")
		}
	})
}

// FuzzParseManifest feeds arbitrary bytes to the manifest parser: what it
// accepts re-encodes identically and passes check again, so one manifest
// has exactly one encoding.
func FuzzParseManifest(f *testing.F) {
	for _, b := range fuzzBundles(f) {
		if len(b) < headerSize {
			continue
		}
		mlen := int(binary.BigEndian.Uint32(b[headerSize-4:]))
		if mlen <= len(b)-headerSize {
			f.Add(b[headerSize : headerSize+mlen])
		}
	}
	lim := DefaultLimits
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b, &lim)
		if err != nil {
			if m != nil || !strings.HasPrefix(err.Error(), "bundle: ") {
				t.Fatalf("parseManifest = %v, %v", m, err)
			}
			return
		}
		if !bytes.Equal(m.encode(), b) {
			t.Fatalf("accepted manifest does not re-encode to its bytes")
		}
		if err := m.check(&lim); err != nil {
			t.Fatalf("re-check: %v", err)
		}
	})
}
