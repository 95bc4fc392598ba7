//go:build linux

package verifier

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// bundleCase is a bundle the page must open or refuse.
type bundleCase struct {
	Name   string `json:"name"`
	Bundle string `json:"bundle"` // hex
	Refuse string `json:"refuse"` // a part of the reason, or "" to open
}

func buildBundle(t *testing.T, meta bundle.Metadata, files []bundle.File, publisher *keys.PublicKey, signer *keys.PrivateKey) []byte {
	t.Helper()
	b, err := bundle.Build(meta, files, publisher, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleMeta and bundleFiles are the test bundle's article: the Persian
// one of browsertest, with an image.
func bundleMeta() bundle.Metadata {
	a := browsertest.Articles[2]
	return bundle.Metadata{ID: a.ID, Revision: 3, Created: time.Unix(1_700_000_000, 0), Updated: time.Unix(1_750_000_000, 0),
		Title: a.Title, Language: a.Lang, CanonicalURL: "https://example.org/" + a.ID, Authors: a.Authors}
}

func bundleFiles(t *testing.T) []bundle.File {
	return []bundle.File{{Type: "text/html", Data: []byte(browsertest.Articles[2].Body)}, {Name: "img/photo.png", Type: "image/png", Data: browsertest.PhotoPNG(t)}}
}

// TestBundle opens a real bundle, built and signed by the Go code with a
// test publisher's keys (a Persian article with an image), in the page:
// the manifest must read as Go reads it, every entry's decompressed bytes
// (as Go's bundle.Entry gives them) must pass checkEntry and be what the
// page's entry reads from the bundle (decompressing the body), and every
// header and manifest byte, a sample of entry bytes, truncation and an
// extra byte must each make the bundle refused; so must a bundle by an
// undelegated key, a revoked key, a key outside its window, and one that
// names another publisher.
func TestBundle(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	a := browsertest.Articles[2]
	meta, files := bundleMeta(), bundleFiles(t)
	good := buildBundle(t, meta, files, pub.Root.Public(), pub.Signer)
	b, err := bundle.Open(good, pub.Trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for i := range b.Manifest.Entries {
		e, err := b.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, hex.EncodeToString(e))
	}
	if b.Manifest.Entries[0].Compression != bundle.Zstd {
		t.Fatal("the body is not zstd-compressed: the test would not exercise the page's zstd decoder")
	}

	// Bundles to refuse.
	other := testkeys.Key(t, "verifier-other", keys.RoleSigning)
	otherRoot := testkeys.Key(t, "verifier-other-root", keys.RoleRoot)
	revoking := pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(other)}, pub.Signer.Public())
	early := meta
	early.Created, early.Updated = time.Unix(900_000_000, 0), time.Unix(900_000_000, 0) // 1998, before the key's window
	cases := []bundleCase{
		{"by an undelegated key", hex.EncodeToString(buildBundle(t, meta, files, pub.Root.Public(), other)), "not delegated"},
		{"signed before its key's window", hex.EncodeToString(buildBundle(t, early, files, pub.Root.Public(), pub.Signer)), "not valid at 1998"},
		{"naming another publisher", hex.EncodeToString(buildBundle(t, meta, files, otherRoot.Public(), pub.Signer)), "another publisher"},
	}
	args := map[string]any{
		"root": pub.Root.Public().String(), "statement": string(pub.Statement), "revoking": string(revoking),
		"bundle": hex.EncodeToString(good), "digest": b.Digest.String(), "entries": entries, "cases": cases,
		"id": a.ID, "title": a.Title, "lang": a.Lang, "authors": a.Authors, "header": 116 + int(binary.BigEndian.Uint32(good[112:116])), // magic, key, signature, length, manifest
	}
	t.Logf("bundle: %d bytes, %d entries", len(good), len(entries))
	p := openPage(t)
	for _, e := range engines {
		var out struct {
			Errs    []string
			Refused int
			Ms      float64
		}
		call(t, p, e, `
const errs = [], check = (ok, m) => { if (!ok) errs.push(m); };
let nRefused = 0;
const mustRefuse = async (what, f, want) => { nRefused++; const m = await refused(f); check(m !== '' && !m.startsWith('not a') && (!want || m.includes(want)), what + ': ' + (m || 'not refused')); };
const root = await s.parseKey(a.root), trust = await s.openStatement(enc.encode(a.statement), root);
const data = unhex(a.bundle);
const t0 = performance.now();
const r = await s.openBundle(data, trust);
const ms = performance.now() - t0;
const m = r.manifest;
check(r.digest === a.digest, 'digest');
check(m.id === a.id && m.title === a.title && m.language === a.lang && m.revision === 3n && JSON.stringify(m.authors) === JSON.stringify(a.authors), 'manifest fields');
check(m.entries.length === a.entries.length && m.entries[0].name === 'index.html' && m.entries[0].compression === 1 && m.entries[1].name === 'img/photo.png', 'entries');
check(r.signer.text === trust.keys[0].pub.text, 'signer');
for (const [i, e] of m.entries.entries()) {
  const body = unhex(a.entries[i]);
  await s.checkEntry(e, body);
  check(s.hex(await s.entry(r, i)) === a.entries[i], 'entry ' + i + ' as the page reads it from the bundle');
  if (e.compression === 0) check(s.hex(r.stored[i]) === a.entries[i], 'stored entry ' + i);
  const b = body.slice(); b[b.length >> 1] ^= 1;
  await mustRefuse('entry ' + i + ' changed', () => s.checkEntry(e, b));
  await mustRefuse('entry ' + i + ' one byte short', () => s.checkEntry(e, body.subarray(1)));
}
// Every byte of the header and manifest, and a sample of entry bytes.
const positions = [];
for (let i = 0; i < a.header; i++) positions.push(i);
for (let i = a.header; i < data.length; i += Math.max(1, Math.floor((data.length - a.header) / 64))) positions.push(i);
positions.push(data.length - 1);
for (const i of positions) {
  const b = data.slice(); b[i] ^= 0x10;
  await mustRefuse('bundle byte ' + i + ' changed', () => s.openBundle(b, trust));
}
await mustRefuse('truncated bundle', () => s.openBundle(data.subarray(0, data.length - 1), trust));
const longer = new Uint8Array(data.length + 1); longer.set(data);
await mustRefuse('bundle with a byte more', () => s.openBundle(longer, trust));
for (const c of a.cases) await mustRefuse('bundle ' + c.name, () => s.openBundle(unhex(c.bundle), trust), c.refuse);
const revoking = await s.openStatement(enc.encode(a.revoking), root);
await mustRefuse('bundle by a revoked key', () => s.openBundle(data, revoking), 'revoked');
return {Errs: errs, Refused: nRefused, Ms: ms};`, args, &out)
		for _, m := range out.Errs {
			t.Errorf("%s: %s", e, m)
		}
		if out.Refused < 500 {
			t.Errorf("%s: %d bundles refused, want at least 500", e, out.Refused)
		}
		t.Logf("%s: bundle opened in %.2f ms; %d tampered bundles and entries refused", e, out.Ms, out.Refused)
	}
}

// TestCheckpointIndexLine checks the checkpoint's optional fifth line,
// index BASE64 (FORMAT.md "Checkpoint", the article index root): four
// lines carry no index, five carry it, and a zero index, a non-canonical
// one, a sixth line or a misnamed fifth are refused. The notes are signed
// here with a test publisher's signing key.
func TestCheckpointIndexLine(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	origin := catalog.Origin(pub.ID())
	root := tlog.Hash{1, 2, 3}.String()
	index := tlog.Hash{0xaa, 0xbb}
	sign := func(text string) string {
		b, err := note.Sign(&note.Note{Text: text}, pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := fmt.Sprintf("%s\n7\n%s\ntime 1750000000\n", origin, root)
	nonCanon := []byte(index.String())
	nonCanon[len(nonCanon)-2]++ // padding bits set: base64 that is not canonical
	// The five-line note as package catalog signs it.
	withIndex, err := (&catalog.Checkpoint{Origin: origin, Size: 7, Root: tlog.Hash{1, 2, 3}, Time: time.Unix(1750000000, 0), Index: index}).Sign(pub.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if string(withIndex) != sign(base+"index "+index.String()+"\n") {
		t.Fatalf("catalog signs a checkpoint with an index as\n%s", withIndex)
	}
	cases := []struct {
		Note, Index, Refuse string
	}{
		{Note: sign(base)},
		{Note: string(withIndex), Index: index.String()},
		{Note: sign(base + "index " + tlog.Hash{}.String() + "\n"), Refuse: "fifth line"},
		{Note: sign(base + "index " + string(nonCanon) + "\n"), Refuse: "fifth line"},
		{Note: sign(base + "Index " + index.String() + "\n"), Refuse: "fifth line"},
		{Note: sign(base + "index " + index.String() + "\nextra\n"), Refuse: "want 5 lines"},
		{Note: sign(fmt.Sprintf("%s\n07\n%s\ntime 1750000000\n", origin, root)), Refuse: "size"},
	}
	// The Go parser agrees on each.
	for i, c := range cases {
		_, err := catalog.OpenCheckpoint([]byte(c.Note), pub.Trust)
		if (err == nil) != (c.Refuse == "") {
			t.Fatalf("case %d: Go's OpenCheckpoint says %v", i, err)
		}
	}
	p := openPage(t)
	for _, e := range engines {
		var errs []string
		call(t, p, e, `
const errs = [];
const trust = await s.openStatement(enc.encode(a.statement), await s.parseKey(a.root));
for (const [i, c] of a.cases.entries()) {
  if (c.Refuse) {
    const m = await refused(() => s.openCheckpoint(enc.encode(c.Note), trust));
    if (!m.includes(c.Refuse)) errs.push('case ' + i + ': ' + (m || 'not refused'));
    continue;
  }
  const cp = await s.openCheckpoint(enc.encode(c.Note), trust);
  const got = cp.index ? s.b64encode(cp.index) : '';
  if (got !== c.Index || cp.size !== 7n || cp.time !== 1750000000) errs.push('case ' + i + ': index ' + got + ', size ' + cp.size);
}
return errs;`, map[string]any{"root": pub.Root.Public().String(), "statement": string(pub.Statement), "cases": cases}, &errs)
		for _, m := range errs {
			t.Errorf("%s: %s", e, m)
		}
	}
}

// TestEntryTile checks entry tile paths and parsing against package
// catalog: leaves of a log of 700, in its full and partial tiles.
func TestEntryTile(t *testing.T) {
	type tileCase struct {
		N, Size int64
		Path    string
		Tile    string
		W       int
		Leaves  []string
	}
	var cases []tileCase
	for _, c := range []struct{ n, size int64 }{{0, 1}, {5, 6}, {255, 256}, {256, 700}, {699, 700}, {1234067 * 256, 1234067*256 + 3}} {
		tn := c.n / 256
		w := min(256, c.size-tn*256)
		var leaves [][]byte
		var hexes []string
		for i := range w {
			l := (&catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("a-%d", tn*256+i), Revision: 1}).Encode()
			leaves = append(leaves, l)
			hexes = append(hexes, hex.EncodeToString(l))
		}
		cases = append(cases, tileCase{N: c.n, Size: c.size, Path: catalog.TilePath(tlog.Tile{H: 8, L: -1, N: tn, W: int(w)}),
			Tile: hex.EncodeToString(catalog.AppendEntryBundle(nil, leaves...)), W: int(w), Leaves: hexes})
	}
	p := openPage(t)
	var errs []string
	call(t, p, "webcrypto", `
const errs = [];
for (const c of a) {
  const path = s.entryTilePath(c.N, c.Size);
  if (path !== c.Path) errs.push('leaf ' + c.N + ' of ' + c.Size + ': path ' + path + ', want ' + c.Path);
  const tile = unhex(c.Tile), leaves = s.parseEntryTile(tile, c.W);
  if (leaves.map(s.hex).join() !== c.Leaves.join()) errs.push('tile ' + c.Path + ': leaves differ');
  for (const [what, b, w] of [['one byte short', tile.subarray(0, tile.length - 1), c.W], ['a byte more', Uint8Array.of(...tile, 0), c.W], ['one leaf more', tile, c.W + 1], ['257 leaves', tile, 257]]) {
    if (!(await refused(() => s.parseEntryTile(b, w)))) errs.push('tile ' + c.Path + ' ' + what + ': not refused');
  }
}
return errs;`, cases, &errs)
	for _, m := range errs {
		t.Error(m)
	}
}
