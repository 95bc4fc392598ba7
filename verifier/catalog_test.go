//go:build linux

package verifier

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readJSON(t *testing.T, path string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(b)
}

// TestCatalogVectors runs catalog/testdata/vectors.json and proofs.json
// through the page: the root key, the key statement, the checkpoints,
// every leaf and its hash, every inclusion and consistency proof, and
// every input the Go tests refuse. Each check is then made to fail: a
// mutated statement, checkpoint, leaf or proof must be refused.
func TestCatalogVectors(t *testing.T) {
	p := openPage(t)
	args := map[string]json.RawMessage{
		"v": readJSON(t, "catalog/testdata/vectors.json"),
		"p": readJSON(t, "catalog/testdata/proofs.json"),
	}
	for _, e := range engines {
		var out struct {
			Errs              []string
			Refused, Verified int
		}
		call(t, p, e, `
const errs = [], b64 = (x) => s.b64decode(x), note = (x) => enc.encode(x);
let nRefused = 0, nVerified = 0;
const check = (ok, m) => { if (!ok) errs.push(m); };
const mustRefuse = async (what, f) => { nRefused++; const m = await refused(f); check(m !== '' && !m.startsWith('not a'), what + ': not refused (' + m + ')'); };
for (const [name, d] of [['vectors', a.v], ['proofs', a.p]]) {
  const root = await s.parseKey(d.root_key);
  check(root.text === d.root_key, name + ': root key text');
  const trust = await s.openStatement(note(d.statement), root);
  check(trust.version === 1n && trust.keys.length >= 1, name + ': statement');
  const cps = d.checkpoints || [d.checkpoint];
  const opened = [];
  for (const c of cps) opened.push(await s.openCheckpoint(note(c), trust));
  const last = opened[opened.length - 1];
  if (d.size !== undefined) check(last.size === BigInt(d.size) && s.b64encode(last.root) === d.root_hash, name + ': checkpoint size and root');
  // Leaves: parse, hash, and the fields the vectors give.
  const leaves = d.leaves.map((l) => typeof l === 'string' ? {hex: l} : l);
  const hashes = [];
  for (const l of leaves) {
    const b = unhex(l.hex), p = s.parseLeaf(b), h = await s.leafHash(b);
    hashes.push(h);
    if (l.leaf_hash) check(s.b64encode(h) === l.leaf_hash, name + ': leaf hash of ' + l.hex);
    if (l.kind) check(p.kind === l.kind && (l.id === undefined || p.id === l.id) && (l.digest === undefined || p.digest === l.digest)
      && (l.revision === undefined || p.revision === BigInt(l.revision)) && (l.version === undefined || p.version === BigInt(l.version)), name + ': leaf fields of ' + l.hex);
  }
  for (const l of d.invalid_leaves || []) await mustRefuse(name + ': invalid leaf ' + l.why, () => s.parseLeaf(unhex(l.hex)));
  // Inclusion: vectors.json proves every leaf in the last checkpoint, proofs.json in every size.
  const cpOf = (size) => opened.find((c) => c.size === BigInt(size)) || last;
  for (const [i, inc] of d.inclusion.entries()) {
    const index = inc.index ?? i, size = inc.size ?? d.size, c = cpOf(size), proof = (inc.proof || inc).map(b64);
    await s.checkInclusion(c.size, c.root, index, hashes[index], proof); nVerified++;
    if (proof.length) {
      const bad = proof.map((x) => x.slice()); bad[0][7] ^= 4;
      await mustRefuse(name + ': mutated inclusion proof', () => s.checkInclusion(c.size, c.root, index, hashes[index], bad));
    }
    const badLeaf = hashes[index].slice(); badLeaf[0] ^= 1;
    await mustRefuse(name + ': inclusion of a mutated leaf hash', () => s.checkInclusion(c.size, c.root, index, badLeaf, proof));
  }
  for (const con of d.consistency || []) {
    const newer = cpOf(con.newer ?? d.size), proof = con.proof.map(b64);
    const olderRoot = con.older_root_hash ? b64(con.older_root_hash) : cpOf(con.older).root;
    await s.checkConsistency(con.older, olderRoot, newer.size, newer.root, proof); nVerified++;
    if (proof.length) {
      const bad = proof.map((x) => x.slice()); bad[bad.length - 1][31] ^= 0x80;
      await mustRefuse(name + ': mutated consistency proof', () => s.checkConsistency(con.older, olderRoot, newer.size, newer.root, bad));
    }
  }
  for (const m of d.must_refuse || []) {
    if (m.checkpoint) await mustRefuse(name + ': ' + m.why, () => s.openCheckpoint(note(m.checkpoint), trust));
    else if (m.older !== undefined) await mustRefuse(name + ': ' + m.why, () => s.checkConsistency(m.older, cpOf(m.older).root, m.newer, cpOf(m.newer).root, m.proof.map(b64)));
    else await mustRefuse(name + ': ' + m.why, () => s.checkInclusion(m.size, cpOf(m.size).root, m.index, hashes[m.index], m.proof.map(b64)));
  }
  // Every byte of the statement and of a checkpoint matters.
  for (const [what, text, open] of [['statement', d.statement, (b) => s.openStatement(b, root)], ['checkpoint', cps[cps.length - 1], (b) => s.openCheckpoint(b, trust)]]) {
    const b = note(text);
    for (let i = 0; i < b.length; i++) {
      const m = b.slice(); m[i] ^= (m[i] === 0x2b ? 0x04 : 0x01);
      await mustRefuse(name + ': ' + what + ' with byte ' + i + ' changed', () => open(m));
    }
    await mustRefuse(name + ': ' + what + ' with a byte more', () => open(concatB(b, [10])));
  }
}
return {Errs: errs, Refused: nRefused, Verified: nVerified};
function concatB(a, b) { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; }`, args, &out)
		for _, m := range out.Errs {
			t.Errorf("%s: %s", e, m)
		}
		// 7+66 inclusion and 6+55 consistency proofs.
		if out.Verified != 7+66+6+55 || out.Refused < 1000 {
			t.Errorf("%s: %d proofs verified, %d inputs refused; want 134 and at least 1000", e, out.Verified, out.Refused)
		}
		t.Logf("%s: %d proofs verified, %d mutated or invalid inputs refused", e, out.Verified, out.Refused)
	}
}

// TestIndexVectors runs catalog/index/testdata/vectors.json through the
// page: the roots of the empty and non-empty index, every proof (present
// or absent, at every size) and every invalid proof; then every bit of
// a sample of valid proofs is flipped and each must be refused.
func TestIndexVectors(t *testing.T) {
	p := openPage(t)
	v := readJSON(t, "catalog/index/testdata/vectors.json")
	for _, e := range engines {
		var out struct {
			Errs    []string
			Checked int
		}
		call(t, p, e, `
const errs = [];
const check = (ok, m) => { if (!ok) errs.push(m); };
const b64 = s.b64decode;
check(s.hex(enc.encode('samizdat/index\0')) === a.hash_prefix, 'hash prefix');
let checked = 0;
for (const [i, pr] of a.proofs.entries()) {
  const root = b64(a.roots[pr.size]);
  const r = await s.verifyIndexProof(root, pr.id, unhex(pr.proof));
  check(r.present === pr.present, 'proof ' + i + ': present');
  if (pr.present) {
    check(r.leaf === BigInt(pr.leaf) && s.b64encode(r.leafHash) === pr.leaf_hash, 'proof ' + i + ': value');
    const leaf = unhex(a.leaves[pr.leaf]);
    check(r.article && r.article.id === pr.id && s.hex(s.parseIndexProof(unhex(pr.proof)).leafBytes) === a.leaves[pr.leaf], 'proof ' + i + ': the leaf it carries');
    const l = await s.checkArticleLeaf(r, pr.id, leaf);
    check(l.id === pr.id, 'proof ' + i + ': leaf');
    const m = leaf.slice(); m[m.length - 1] ^= 1;
    const why = await refused(() => s.checkArticleLeaf(r, pr.id, m));
    check(why !== '', 'proof ' + i + ': a changed leaf passes checkArticleLeaf');
  }
  // A presence proof for another id is refused. (An absence proof may
  // prove another id absent too: every id whose path ends at its branch.)
  if (pr.present) {
    const why = await refused(() => s.verifyIndexProof(root, pr.id + 'x', unhex(pr.proof)));
    check(why !== '' && !why.startsWith('not a'), 'proof ' + i + ' passes for another id: ' + why);
  }
  if (i % 11 === 0 || pr.proof.length > 200 && i % 3 === 0) {
    const b = unhex(pr.proof);
    for (let j = 0; j < b.length * 8; j++) {
      const m = b.slice(); m[j >> 3] ^= 0x80 >> (j & 7);
      const why = await refused(() => s.verifyIndexProof(root, pr.id, m));
      check(why !== '' && !why.startsWith('not a'), 'proof ' + i + ' with bit ' + j + ' flipped: ' + (why || 'verifies'));
      checked++;
    }
  }
}
for (const inv of a.invalid_proofs) {
  const why = await refused(() => s.verifyIndexProof(b64(a.roots[inv.size]), inv.id, unhex(inv.proof)));
  check(why !== '' && !why.startsWith('not a'), 'invalid proof "' + inv.why + '": ' + (why || 'verifies'));
}
return {Errs: errs, Checked: checked};`, v, &out)
		for _, m := range out.Errs {
			t.Errorf("%s: %s", e, m)
		}
		if out.Checked < 1000 {
			t.Errorf("%s: %d bit flips checked, want at least 1000", e, out.Checked)
		}
		t.Logf("%s: %d flipped bits refused", e, out.Checked)
	}
	if !strings.Contains(string(v), `"invalid_proofs"`) {
		t.Fatal("index vectors have no invalid proofs")
	}
}
