//go:build linux

package verifier

import (
	"crypto/ed25519"
	"encoding/hex"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// nonCanonicalKey returns a valid point of large order encoded with y
// not reduced (y + p), which Go's decoder takes and keys.CheckPoint
// refuses.
func nonCanonicalKey(t *testing.T) []byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for y := int64(2); y < 19; y++ {
		var enc [32]byte
		enc[0] = byte(y)
		pt, err := new(edwards25519.Point).SetBytes(enc[:])
		if err != nil || new(edwards25519.Point).MultByCofactor(pt).Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		v := new(big.Int).Add(p, big.NewInt(y)).Bytes() // big-endian, 32 bytes
		var le [32]byte
		for i := range v {
			le[i] = v[len(v)-1-i]
		}
		if _, err := new(edwards25519.Point).SetBytes(le[:]); err != nil {
			t.Fatal(err)
		}
		if keys.CheckPoint(le[:]) == nil {
			t.Fatal("keys.CheckPoint takes a non-canonical encoding")
		}
		return le[:]
	}
	t.Fatal("no small y gives a point of large order")
	return nil
}

// TestCraftedRefusals makes inputs that only one check stands against,
// beyond the vectors: a non-canonical key encoding of a large-order
// point, a key statement with a second signature, a root passed off as
// a leaf hash, a consistency proof to a size whose path it does not
// finish, and index proofs that prove a present id absent through its
// own leaf, or carry a bit outside their label, or a branch child on the
// wrong side.
func TestCraftedRefusals(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	other := testkeys.Key(t, "verifier-other", keys.RoleRoot)
	twice, err := note.Sign(&note.Note{Text: string(pub.Statement[:bytesIndexLast(pub.Statement)+1])}, pub.Root, other)
	if err != nil {
		t.Fatal(err)
	}
	nc := nonCanonicalKey(t)
	msg := []byte("samizdat")
	args := map[string]any{
		"root": pub.Root.Public().String(), "twice": string(twice), "statement": string(pub.Statement),
		"nckey": hex.EncodeToString(nc), "ncsig": hex.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), msg)),
		"index": readJSON(t, "catalog/index/testdata/vectors.json"),
	}
	p := openPage(t)
	for _, e := range engines {
		var errs []string
		call(t, p, e, `
const errs = [];
const want = async (what, f, part) => { const m = await refused(f); if (!m.includes(part)) errs.push(what + ': ' + (m || 'not refused') + ', want "' + part + '"'); };
// Keys.
const nc = unhex(a.nckey);
if (s.checkPoint(nc) !== 'non-canonical point encoding') errs.push('checkPoint of a non-canonical key: ' + s.checkPoint(nc));
const text = 'nc+' + hex(Uint8Array.of(...(await s.sha256(Uint8Array.of(...enc.encode('nc\n'), 1, ...nc))).subarray(0, 4))) + '+' + s.b64encode(Uint8Array.of(1, ...nc));
await want('a non-canonical key text', () => s.parseKey(text), 'non-canonical');
// A key statement signed twice (by the root and another key).
const root = await s.parseKey(a.root);
await s.openStatement(enc.encode(a.statement), root);
await want('a statement with two signatures', () => s.openStatement(enc.encode(a.twice), root), 'exactly one signature');
// A tree's root given as a leaf hash.
const l = [0, 1, 2, 3, 4].map((i) => Uint8Array.of(i));
const h = await Promise.all(l.map(s.leafHash));
const r2 = await s.nodeHash(h[0], h[1]), r4 = await s.nodeHash(r2, await s.nodeHash(h[2], h[3]));
await s.checkInclusion(2, r2, 0, h[0], [h[1]]);
await want('a root as a leaf hash', () => s.checkInclusion(2, r2, 0, r2, []), 'does not lead');
// A consistency proof that leaves the path to the bigger root unfinished.
const x = h[4], fake = await s.nodeHash(r4, x);
await s.checkConsistency(4, r4, 5, fake, [x]);
await want('a consistency proof to a size it does not reach', () => s.checkConsistency(4, r4, 9, fake, [x]), 'not consistent');
// Index proofs.
const iv = a.index, pre = enc.encode('samizdat/index\0');
const ih = async (...xs) => s.sha256(Uint8Array.of(...pre, ...xs.flatMap((x) => Array.from(x))));
const u16 = (n) => [n >> 8, n & 255];
let own = 0, side = 0, bits = 0;
for (const pr of iv.proofs) {
  const root = s.b64decode(iv.roots[pr.size]), b = unhex(pr.proof), pp = s.parseIndexProof(b);
  if (pp.kind === 1 && pp.steps.length > 1) {
    // Absent "through its own leaf": the branch is the leaf's parent and
    // its child on the key's side is the leaf itself.
    const key = await s.sha256(enc.encode(pr.id));
    const value = await ih(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, Number(pp.leaf)), await s.leafHash(pp.leafBytes));
    const st = pp.steps;
    const forged = Uint8Array.of(2, 2, st[0].depth, ...st[0].hash, 1, 0, ...key, ...value, ...u16(st.length - 1), ...st.slice(1).flatMap((s) => [s.depth, ...s.hash]));
    await want('an absence proof of a present id through its own leaf', () => s.verifyIndexProof(root, pr.id, forged), "on the key's path");
    own++;
  }
  if (pp.kind === 2 && pp.child && pp.child.bits % 8) {
    const o = 2 + 1 + 32 + 2 + ((pp.child.bits + 7) >> 3) - 1; // the label's last byte
    const m = b.slice(); m[o] |= 1;
    await want('a label with a bit set past its length', () => s.verifyIndexProof(root, pr.id, m), 'malformed');
    bits++;
  }
  if (pp.kind === 2 && pp.child) {
    const m = b.slice(); m[2 + 1 + 32 + 2] ^= 0x80; // the child label's first bit
    await want('a branch child on the wrong side', () => s.verifyIndexProof(root, pr.id, m), "key's side");
    side++;
  }
}
if (!own || !bits || !side) errs.push('crafted index proofs: ' + [own, bits, side]);
// Proofs whose leaf is wrong, from the vectors, each refused by the
// check named.
const leafWhy = {
  "another id's leaf": 'is an article leaf of "second"',
  'a key statement leaf': 'not an article leaf',
  'the leaf one byte short': 'wrong length',
  'a leaf longer than the longest': 'at most 170',
  'leaf length beyond the proof': 'at most 170',
  "the id's older revision as its leaf": 'does not lead to the root',
  'version 1 (the leaf\'s hash, not the leaf)': 'version 1',
};
let leafChecked = 0;
for (const inv of iv.invalid_proofs) {
  if (!(inv.why in leafWhy)) continue;
  await want('invalid proof "' + inv.why + '"', () => s.verifyIndexProof(s.b64decode(iv.roots[inv.size]), inv.id, unhex(inv.proof)), leafWhy[inv.why]);
  leafChecked++;
}
if (leafChecked !== Object.keys(leafWhy).length) errs.push('invalid leaf proofs found in the vectors: ' + leafChecked);
// What a stolen signing key could sign: an index of one id, "asked",
// whose value is another id's leaf. The path leads to the root; only the
// check that the leaf is the asked id's own refuses the proof.
{
  const nh = async (bits, lb, v) => ih(v, await ih(Uint8Array.of(0, 0, bits >> 8, bits & 255), lb));
  const E = new Uint8Array(32).fill(1), zero = new Uint8Array(32);
  const empty = await nh(0, E, await nh(0, E, await ih([0])));
  const other = unhex(iv.leaves[2]), key = await s.sha256(enc.encode('asked'));
  const leafNode = await nh(256, key, await ih(new Uint8Array(8), await s.leafHash(other)));
  const root = await nh(0, zero, key[0] & 0x80 ? await ih(empty, leafNode) : await ih(leafNode, empty));
  const proof = Uint8Array.of(2, 1, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(other.length), ...other, ...u16(1), 0, ...empty);
  await want('a proof of an index that maps an id to another id\'s leaf', () => s.verifyIndexProof(root, 'asked', proof), 'is an article leaf of "second"');
}
return errs;`, args, &errs)
		for _, m := range errs {
			t.Errorf("%s: %s", e, m)
		}
	}
}

// bytesIndexLast returns the index of the last "\n\n" in b.
func bytesIndexLast(b []byte) int {
	for i := len(b) - 2; i >= 0; i-- {
		if b[i] == '\n' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}
