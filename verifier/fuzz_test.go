//go:build linux

package verifier

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/testkeys"
)

// TestHostileInput feeds every parser of the page random mutations of
// real inputs (bytes flipped, inserted, deleted, the input cut short)
// and random bytes, and checks that each either succeeds or throws a
// VerifyError: never a TypeError, RangeError or any other exception,
// which would mean the code read past what it checked. It is the page's
// stand-in for Go's fuzz targets; the count is bounded and the seed fixed.
func TestHostileInput(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := buildBundle(t, bundleMeta(), bundleFiles(t), pub.Root.Public(), pub.Signer)
	args := map[string]any{
		"root": pub.Root.Public().String(), "statement": string(pub.Statement), "bundle": hex.EncodeToString(good),
		"catalog": read("catalog/testdata/vectors.json"), "index": read("catalog/index/testdata/vectors.json"),
	}
	p := openPage(t)
	var out struct {
		Errs []string
		Runs int
	}
	start := time.Now()
	call(t, p, "webcrypto", `
const errs = [];
let seed = 12345, runs = 0;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const mutate = (b) => {
  b = Array.from(b);
  for (let k = 1 + rnd(3); k > 0; k--) {
    const i = rnd(b.length + 1);
    switch (rnd(5)) {
      case 0: if (b.length) b[i % b.length] ^= 1 << rnd(8); break;
      case 1: b.splice(i, 0, rnd(256)); break;
      case 2: b.splice(i, 1); break;
      case 3: b = b.slice(0, i); break;
      case 4: if (b.length) b[i % b.length] = [0, 10, 32, 43, 45, 47, 61, 127, 128, 255][rnd(10)]; break;
    }
  }
  return Uint8Array.from(b);
};
const cat = JSON.parse(a.catalog), idx = JSON.parse(a.index);
const root = await s.parseKey(a.root), trust = await s.openStatement(enc.encode(a.statement), root);
const ctrust = await s.openStatement(enc.encode(cat.statement), await s.parseKey(cat.root_key));
const dec = new TextDecoder(), opened = await s.openBundle(unhex(a.bundle), trust);
const targets = [
  ['parseKey', enc.encode(a.root), (b) => s.parseKey(dec.decode(b))],
  ['openStatement', enc.encode(a.statement), (b) => s.openStatement(b, root)],
  ['openCheckpoint', enc.encode(cat.checkpoint), (b) => s.openCheckpoint(b, ctrust)],
  ['openMirrorList', enc.encode(cat.mirror_list.signed), (b) => s.openMirrorList(b, ctrust)],
  ['parseCheckpoint', enc.encode(cat.checkpoint.split('\n\n')[0] + '\n'), (b) => s.parseCheckpoint(dec.decode(b))],
  ['parseLeaf', unhex(cat.leaves[1].hex), (b) => s.parseLeaf(b)],
  ['parseEntryTile', unhex('0005' + '0102030405' + '0003' + '010203'), (b) => s.parseEntryTile(b, 2)],
  ['verifyIndexProof', unhex(idx.proofs[idx.proofs.length - 1].proof), (b) => s.verifyIndexProof(s.b64decode(idx.roots[12]), idx.proofs[idx.proofs.length - 1].id, b)],
  ['verifyIndexProof absent', unhex(idx.proofs[idx.proofs.length - 2].proof), (b) => s.verifyIndexProof(s.b64decode(idx.roots[12]), idx.proofs[idx.proofs.length - 2].id, b)],
  ['openBundle', unhex(a.bundle), (b) => s.openBundle(b, trust)],
  ['entry (zstd)', opened.stored[0], (b) => s.entry({ ...opened, stored: [b, ...opened.stored.slice(1)] }, 0)],
  ['parseManifest', unhex(a.bundle).subarray(116, 116 + ((unhex(a.bundle)[114] << 8) | unhex(a.bundle)[115])), (b) => s.parseManifest(b)],
];
for (const [name, seedInput, f] of targets) {
  for (let i = 0; i < 1000; i++) {
    const input = i < 20 ? Uint8Array.from({length: rnd(200)}, () => rnd(256)) : mutate(seedInput);
    runs++;
    try { await f(input); } catch (e) {
      if (!(e instanceof s.VerifyError)) { errs.push(name + ': ' + e + ' on ' + hex(input).slice(0, 200)); break; }
    }
  }
}
return {Errs: errs, Runs: runs};`, args, &out)
	for _, m := range out.Errs {
		t.Error(m)
	}
	t.Logf("%d hostile inputs in %v", out.Runs, time.Since(start).Round(time.Millisecond))
}
