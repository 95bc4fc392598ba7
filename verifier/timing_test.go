//go:build linux

package verifier

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
)

// TestTimings measures, in Chromium, what the page spends on each check
// under both implementations (BENCHMARKS.md, "Verifier page"). It checks
// nothing beyond that each operation succeeds; the figures are logged.
func TestTimings(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	small := buildBundle(t, bundleMeta(), bundleFiles(t), pub.Root.Public(), pub.Signer)
	img := make([]byte, 1<<20)
	rand.Read(img)
	big := buildBundle(t, bundleMeta(), append(bundleFiles(t)[:1], bundle.File{Name: "img/big.jpg", Type: "image/jpeg", Data: img}), pub.Root.Public(), pub.Signer)
	cat := readJSON(t, "catalog/testdata/vectors.json")
	idx := readJSON(t, "catalog/index/testdata/vectors.json")
	args := map[string]any{"root": pub.Root.Public().String(), "statement": string(pub.Statement), "small": hex.EncodeToString(small), "big": hex.EncodeToString(big), "cat": cat, "idx": idx}
	p := openPage(t)
	for _, e := range engines {
		var out map[string]float64
		call(t, p, e, `
const time = async (n, f) => { await f(); const t0 = performance.now(); for (let i = 0; i < n; i++) await f(); return (performance.now() - t0) / n; };
const root = await s.parseKey(a.root), st = enc.encode(a.statement), trust = await s.openStatement(st, root);
const croot = await s.parseKey(a.cat.root_key), ctrust = await s.openStatement(enc.encode(a.cat.statement), croot), cp = enc.encode(a.cat.checkpoint);
const pr = a.idx.proofs[a.idx.proofs.length - 1], proot = s.b64decode(a.idx.roots[pr.size]), proof = unhex(pr.proof);
const small = unhex(a.small), big = unhex(a.big), mib = big.subarray(0, 1 << 20);
return {
  'parse a public key': await time(50, () => s.parseKey(a.root)),
  'open the key statement': await time(50, () => s.openStatement(st, root)),
  'open a checkpoint': await time(50, () => s.openCheckpoint(cp, ctrust)),
  ['verify an index proof (' + proof.length + ' bytes)']: await time(50, () => s.verifyIndexProof(proot, pr.id, proof)),
  ['open a bundle of ' + small.length + ' bytes']: await time(20, () => s.openBundle(small, trust)),
  ['open a bundle of ' + big.length + ' bytes']: await time(3, () => s.openBundle(big, trust)),
  'SHA-256 of 1 MiB': await time(3, () => s.sha256(mib)),
};`, args, &out)
		for k, v := range out {
			t.Logf("%s: %s: %.3f ms", e, k, v)
		}
	}
}
