//go:build linux

package verifier

import "testing"

// TestIndexSplitVectors runs catalog/index/testdata/split.json through the
// page (FORMAT.md "Split proofs"): every id's top and bottom parts join
// into a proof that verifies against its root, with the cut depth and
// bucket names of the Go code; every broken pair is refused; and every
// bit of a sample of top and bottom parts is flipped, and each must be
// refused.
func TestIndexSplitVectors(t *testing.T) {
	p := openPage(t)
	v := readJSON(t, "catalog/index/testdata/split.json")
	for _, e := range engines {
		var out struct {
			Errs     []string
			Verified int
			Checked  int
		}
		call(t, p, e, `
const errs = [];
const check = (ok, m) => { if (!ok) errs.push(m); };
const b64 = s.b64decode;
let verified = 0, checked = 0;
const roots = {};
for (const c of a.cases) {
  const root = b64(c.root), size = BigInt(c.size);
  roots[c.size] = c.root;
  check(s.cutDepth(size) === c.cut_depth, 'size ' + c.size + ': cut depth ' + s.cutDepth(size));
  const tops = {};
  for (const t of c.tops) tops[t.bucket] = t.top;
  for (const [i, b] of c.bottoms.entries()) {
    check(await s.bucketOf(size, b.id) === b.bucket, 'size ' + c.size + ' ' + b.id + ': bucket');
    const top = unhex(tops[b.bucket]);
    const get = async () => { if (!b.bottom) throw new Error('no bottom part'); return unhex(b.bottom); };
    const why = await refused(async () => {
      const r = await s.verifySplitProof(root, size, b.id, top, get);
      check(r.present === b.present && (!b.present || r.leaf === BigInt(b.leaf)), 'size ' + c.size + ' ' + b.id + ': wrong verdict');
    });
    check(why === '', 'size ' + c.size + ' ' + b.id + ': ' + why);
    verified++;
    if (c.size !== 300 || i % 3 !== 0) continue;
    for (const [part, bytes] of [['top', top], ['bottom', b.bottom ? unhex(b.bottom) : null]]) {
      if (!bytes) continue;
      for (let j = 0; j < bytes.length * 8; j++) {
        const m = bytes.slice(); m[j >> 3] ^= 0x80 >> (j & 7);
        const why = await refused(() => s.verifySplitProof(root, size, b.id, part === 'top' ? m : top, async () => part === 'bottom' ? m : get()));
        check(why !== '' && !why.startsWith('not a'), 'size 300 ' + b.id + ': ' + part + ' part with bit ' + j + ' flipped: ' + (why || 'verifies'));
        checked++;
      }
    }
  }
}
for (const inv of a.invalid) {
  const why = await refused(() => s.verifySplitProof(b64(roots[inv.size]), BigInt(inv.size), inv.id, unhex(inv.top), async () => {
    if (!inv.bottom) throw new s.VerifyError('no bottom part');
    return unhex(inv.bottom);
  }));
  check(why !== '' && !why.startsWith('not a'), 'invalid pair "' + inv.why + '": ' + (why || 'verifies'));
}
return {Errs: errs, Verified: verified, Checked: checked};`, v, &out)
		for _, m := range out.Errs {
			t.Errorf("%s: %s", e, m)
		}
		if out.Verified < 80 || out.Checked < 1000 {
			t.Errorf("%s: %d split proofs verified, %d flipped bits refused; want at least 80 and 1000", e, out.Verified, out.Checked)
		}
		t.Logf("%s: %d split proofs verified, %d flipped bits refused", e, out.Verified, out.Checked)
	}
}
