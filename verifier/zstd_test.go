//go:build linux

package verifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/signing"
)

// TestFzstdVendored checks the vendored zstd decoder: fzstd/fzstd.js is
// a licence header, then fzstd 0.1.1's umd/index.js with the SHA-256
// fzstdSHA256, and the page's script holds it unchanged. Where npm ci has
// run in fzstd/ (as .ci/run does), the file is also the one npm installs
// from the pinned package-lock.json, byte for byte.
func TestFzstdVendored(t *testing.T) {
	const end = " */\n"
	i := strings.Index(fzstd, end)
	if !strings.HasPrefix(fzstd, "/*! fzstd 0.1.1 ") || i < 0 || !strings.Contains(fzstd[:i], "MIT License") || !strings.Contains(fzstd[:i], "Copyright (c) 2020 Arjun Barrett") {
		t.Fatal("fzstd/fzstd.js does not start with fzstd's licence header")
	}
	umd := fzstd[i+len(end):]
	if sum := sha256.Sum256([]byte(umd)); hex.EncodeToString(sum[:]) != fzstdSHA256 {
		t.Errorf("fzstd/fzstd.js: umd/index.js has SHA-256 %x, want %s", sum, fzstdSHA256)
	}
	if !strings.Contains(script, fzstd) {
		t.Error("the page's script does not hold fzstd unchanged")
	}
	npm, err := os.ReadFile("fzstd/node_modules/fzstd/umd/index.js")
	if err != nil {
		t.Logf("no npm install to compare with (%v): run npm ci in verifier/fzstd", err)
		return
	}
	if string(npm) != umd {
		t.Error("fzstd/fzstd.js is not npm's fzstd 0.1.1 umd/index.js")
	}
	lic, err := os.ReadFile("fzstd/node_modules/fzstd/LICENSE")
	if err != nil || !strings.Contains(fzstd[:i], string(lic)) {
		t.Errorf("fzstd/fzstd.js does not carry npm's LICENSE whole (%v)", err)
	}
}

// zstdFrame builds zstd frames by hand (RFC 8878), for what Go's encoder
// never writes.
type zstdFrame struct {
	fhd    byte   // frame header descriptor
	window byte   // window descriptor, when not single segment
	fcs    []byte // frame content size field, little-endian
	blocks []byte // the blocks, headers included
}

func (f zstdFrame) bytes() []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, f.fhd}
	if f.fhd&0x20 == 0 {
		b = append(b, f.window)
	}
	return append(append(b, f.fcs...), f.blocks...)
}

// rawBlock is a raw block of data, the last one when last.
func rawBlock(data []byte, last bool) []byte {
	h := uint32(len(data)) << 3
	if last {
		h |= 1
	}
	return append([]byte{byte(h), byte(h >> 8), byte(h >> 16)}, data...)
}

// rleBlock is an RLE block of n copies of c.
func rleBlock(c byte, n int, last bool) []byte {
	h := uint32(n)<<3 | 1<<1
	if last {
		h |= 1
	}
	return []byte{byte(h), byte(h >> 8), byte(h >> 16), c}
}

// zstdEntryBundle re-signs good (a bundle whose entry 0 is index.html,
// text/html) with entry 0 replaced: stored is its zstd stream, size and
// sum its signed uncompressed size and SHA-256; dict names a dictionary.
func zstdEntryBundle(t *testing.T, pub *testkeys.Publisher, good, stored []byte, size int, sum [32]byte, dict bool) []byte {
	t.Helper()
	ml := int(binary.BigEndian.Uint32(good[112:116]))
	mb := bytes.Clone(good[116 : 116+ml])
	at := bytes.Index(mb, []byte("\x0aindex.html\x09text/html"))
	if at < 0 {
		t.Fatal("no index.html entry in the manifest")
	}
	if dict {
		mb[at-3] = 1 // the dictionary's last byte, before the entry count
	}
	f := at + 1 + 10 + 1 + 9 // compression, size, stored size, sha256, stored sha256
	if mb[f] != byte(bundle.Zstd) {
		t.Fatal("entry 0 is not zstd")
	}
	oldStored := int(binary.BigEndian.Uint64(mb[f+9:]))
	binary.BigEndian.PutUint64(mb[f+1:], uint64(size))
	binary.BigEndian.PutUint64(mb[f+9:], uint64(len(stored)))
	copy(mb[f+17:], sum[:])
	ss := sha256.Sum256(stored)
	copy(mb[f+49:], ss[:])
	sig, err := signing.Sign(pub.Signer, signing.Manifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(bundle.Magic), pub.Signer.Public().Ed25519()...)
	out = append(out, sig...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(mb)))
	out = append(append(out, mb...), stored...)
	return append(out, good[116+ml+oldStored:]...)
}

// TestZstdEntries reads zstd entries of bundles signed by the publisher's
// key in the page (entry: the signature first, then the frame headers,
// then fzstd into a buffer of the signed size, then the SHA-256), and
// compares each verdict with Go's (bundle.Open, then Entry): frames as
// Go writes them, with a checksum, raw and RLE blocks, two frames and a
// skippable one are read; a stream that gives a byte more or less than
// the manifest signs, other content of the signed size, a window larger
// than an entry may be, a dictionary (named by a frame or by the
// manifest), a reserved bit, bytes that are no zstd and a truncated
// frame are refused with the reason.
func TestZstdEntries(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	good := buildBundle(t, bundleMeta(), bundleFiles(t), pub.Root.Public(), pub.Signer)
	content := []byte(strings.Repeat("<p>Delegations from both countries ended eight hours of talks.</p>\n", 400))
	sum := sha256.Sum256(content)
	enc := func(data []byte, opts ...zstd.EOption) []byte {
		e, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(data, nil)
	}
	goFrame := enc(content, zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true))
	half := len(content) / 2
	other := bytes.Clone(content)
	other[100] ^= 1
	fcs := func(n int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }
	raw := zstdFrame{fhd: 0xa0, fcs: fcs(len(content)), blocks: rawBlock(content, true)}.bytes() // single segment, 4-byte size
	skippable := append(binary.LittleEndian.AppendUint32([]byte{0x50, 0x2a, 0x4d, 0x18}, 3), 'x', 'y', 'z')
	type zcase struct {
		name   string
		stored []byte
		size   int
		sum    [32]byte
		dict   bool
		refuse string // "" to read it; else in the page's reason
	}
	cases := []zcase{
		{"as Go writes it", goFrame, len(content), sum, false, ""},
		{"with a checksum and a window", enc(content, zstd.WithEncoderCRC(true), zstd.WithSingleSegment(false), zstd.WithWindowSize(1<<16)), len(content), sum, false, ""},
		{"raw block", raw, len(content), sum, false, ""},
		{"RLE blocks", zstdFrame{fhd: 0x00, window: 0x00, blocks: append(rleBlock('a', 1000, false), rleBlock('b', 24, true)...)}.bytes(), 1024,
			sha256.Sum256(append(bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 24)...)), false, ""},
		{"two frames", append(enc(content[:half]), enc(content[half:])...), len(content), sum, false, ""},
		{"a skippable frame first", append(skippable, goFrame...), len(content), sum, false, ""},
		{"a byte more than signed", enc(append(bytes.Clone(content), '!')), len(content), sum, false, "more than the"},
		{"a byte more, in a raw block", zstdFrame{fhd: 0x00, window: 0x58, blocks: rawBlock(append(bytes.Clone(content), '!'), true)}.bytes(), len(content), sum, false, "more than the"},
		{"a byte less than signed", enc(content[1:]), len(content), sum, false, "not the"},
		{"other content of the signed size", enc(other), len(content), sum, false, "signed hash"},
		{"a 32 MiB window", zstdFrame{fhd: 0x00, window: 0x78, blocks: rawBlock(content, true)}.bytes(), len(content), sum, false, "window"},
		{"a 4 GiB single segment", zstdFrame{fhd: 0xe0, fcs: binary.LittleEndian.AppendUint64(nil, 1<<32), blocks: rawBlock(content, true)}.bytes(), len(content), sum, false, "window"},
		{"a frame naming a dictionary", zstdFrame{fhd: 0xa1, fcs: append([]byte{7}, fcs(len(content))...), blocks: rawBlock(content, true)}.bytes(), len(content), sum, false, "dictionary"},
		{"a manifest naming a dictionary", goFrame, len(content), sum, true, "dictionary"},
		{"the reserved bit", zstdFrame{fhd: 0xa8, fcs: fcs(len(content)), blocks: rawBlock(content, true)}.bytes(), len(content), sum, false, "reserved"},
		{"not zstd", content, len(content), sum, false, "not a zstd frame"},
		{"truncated", goFrame[:len(goFrame)-5], len(content), sum, false, "zstd"},
		{"a frame without its last block", zstdFrame{fhd: 0xa0, fcs: fcs(len(content)), blocks: rawBlock(content, false)}.bytes(), len(content), sum, false, "truncated"},
	}
	type jcase struct {
		Name, Bundle, Refuse, Want string
	}
	var js []jcase
	for _, c := range cases {
		data := zstdEntryBundle(t, pub, good, c.stored, c.size, c.sum, c.dict)
		b, err := bundle.Open(data, pub.Trust, nil)
		var body []byte
		if err == nil {
			body, err = b.Entry(0)
		}
		if goReads := err == nil; goReads != (c.refuse == "") {
			t.Errorf("%s: Go's verdict is %v, want the page's, %q", c.name, err, c.refuse)
		}
		js = append(js, jcase{c.name, hex.EncodeToString(data), c.refuse, hex.EncodeToString(body)})
	}
	p := openPage(t)
	var errs []string
	call(t, p, "webcrypto", `
const errs = [], root = await s.parseKey(a.root), trust = await s.openStatement(enc.encode(a.statement), root);
for (const c of a.cases) {
  const r = await s.openBundle(unhex(c.Bundle), trust);
  const m = await refused(() => s.entry(r, 0));
  if (c.Refuse === '') {
    if (m !== '') errs.push(c.Name + ': refused: ' + m);
    else if (hex(await s.entry(r, 0)) !== c.Want) errs.push(c.Name + ': not what Go reads');
  } else if (m === '' || !m.includes(c.Refuse)) errs.push(c.Name + ': ' + (m || 'read') + ', want it refused for ' + c.Refuse);
}
return errs;`, map[string]any{"root": pub.Root.Public().String(), "statement": string(pub.Statement), "cases": js}, &errs)
	for _, e := range errs {
		t.Error(e)
	}
}

// TestZstdWork checks the page's bound on fzstd's work (zstdCheck): a
// stream of 8,000 one-byte RLE blocks in a 16 MiB window, which Go reads
// at once but fzstd would copy its whole window for, block after block
// (seconds here; 4 million such blocks fit in an entry: 40 minutes of a
// frozen tab), is refused before fzstd runs, while the 16 MiB entry
// Go's encoder writes at its fastest level (256 blocks of 64 KiB, half
// its usual size, in a 16 MiB window) is read.
func TestZstdWork(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	good := buildBundle(t, bundleMeta(), bundleFiles(t), pub.Root.Public(), pub.Signer)
	const n = 8000
	var blocks []byte
	for i := range n {
		blocks = append(blocks, rleBlock('a', 1, i == n-1)...)
	}
	bomb := zstdFrame{fhd: 0x00, window: 0x70, blocks: blocks}.bytes() // a 16 MiB window
	content := make([]byte, 16<<20)                                    // an entry's most, in a 16 MiB window
	e, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	wide := e.EncodeAll(content, nil)
	type jcase struct{ Name, Bundle, Refuse string }
	var js []jcase
	for _, c := range []struct {
		name, refuse string
		stored, body []byte
	}{
		{"8,000 one-byte blocks in a 16 MiB window", "limit", bomb, bytes.Repeat([]byte("a"), n)},
		{"16 MiB as Go's fastest level writes it", "", wide, content},
	} {
		data := zstdEntryBundle(t, pub, good, c.stored, len(c.body), sha256.Sum256(c.body), false)
		b, err := bundle.Open(data, pub.Trust, nil)
		if err == nil {
			_, err = b.Entry(0)
		}
		if err != nil {
			t.Fatalf("%s: Go refuses it: %v", c.name, err)
		}
		js = append(js, jcase{c.name, hex.EncodeToString(data), c.refuse})
	}
	p := openPage(t)
	var errs []string
	call(t, p, "webcrypto", `
const errs = [], root = await s.parseKey(a.root), trust = await s.openStatement(enc.encode(a.statement), root);
for (const c of a.cases) {
  const r = await s.openBundle(unhex(c.Bundle), trust), t0 = performance.now();
  const m = await refused(() => s.entry(r, 0)), ms = performance.now() - t0;
  if (c.Refuse === '' ? m !== '' : !m.includes(c.Refuse) || !m.includes('window')) errs.push(c.Name + ': ' + (m || 'read') + ' in ' + Math.round(ms) + ' ms');
}
return errs;`, map[string]any{"root": pub.Root.Public().String(), "statement": string(pub.Statement), "cases": js}, &errs)
	for _, e := range errs {
		t.Error(e)
	}
}
