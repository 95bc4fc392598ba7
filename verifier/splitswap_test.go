//go:build linux

package verifier

import "testing"

// TestSplitProofSwaps gives the page's verifySplitProof the parts a
// censor's mirror or static host can serve in place of an id's own:
// another id's bottom part (same bucket or another), the top part of
// another bucket or size, a top part served as the bottom and the other
// way round, a whole proof as the bottom part, parts a byte longer or
// shorter. Each is refused with a VerifyError, or proves exactly what
// the honest pair proves (a bottom part the proof does not use, a top
// part unchanged since an earlier size).
func TestSplitProofSwaps(t *testing.T) {
	p := openPage(t)
	v := readJSON(t, "catalog/index/testdata/split.json")
	var out struct {
		Errs  []string
		N     int
		Kinds map[string]int
	}
	call(t, p, "webcrypto", `
const errs = [], kinds = {}; let n = 0;
const b64 = s.b64decode;
const allTops = [];
for (const c of a.cases) for (const t of c.tops) allTops.push({size: c.size, bucket: t.bucket, top: unhex(t.top)});
for (const c of a.cases) {
  const root = b64(c.root), size = BigInt(c.size), tops = {};
  for (const t of c.tops) tops[t.bucket] = unhex(t.top);
  const bs = c.bottoms;
  for (const [i, b] of bs.entries()) {
    const top = tops[b.bucket], bottom = b.bottom ? unhex(b.bottom) : null;
    const tries = [];
    if (bottom) {
      tries.push(['bottom is the top', top, top], ['top is the bottom', bottom, bottom], ['bottom as whole proof', top, Uint8Array.of(2, ...bottom.subarray(1))],
        ['bottom + 1 byte', top, Uint8Array.of(...bottom, 0)], ['top + 1 byte', Uint8Array.of(...top, 0), bottom], ['bottom - 1 byte', top, bottom.subarray(0, bottom.length - 1)]);
    }
    for (const o of bs) if (o.id !== b.id && o.bottom) tries.push(['bottom of ' + (o.bucket === b.bucket ? 'same' : 'other') + ' bucket', top, unhex(o.bottom)]);
    for (const t of allTops) if (!(t.size === c.size && t.bucket === b.bucket)) tries.push(['top of ' + (t.size === c.size ? 'other bucket' : 'other size'), t.top, bottom]);
    for (const [kind, tp, bt] of tries.slice(0, 46)) {
      n++;
      const why = await refused(() => s.verifySplitProof(root, size, b.id, tp, async () => { if (!bt) throw new s.VerifyError('no bottom'); return bt; }));
      if (why === '' ) {
        // Only acceptable if it proves the same as the honest pair.
        const r = await s.verifySplitProof(root, size, b.id, tp, async () => bt);
        if (r.present !== b.present || (b.present && r.leaf !== BigInt(b.leaf))) errs.push(c.size + ' ' + b.id + ' ' + kind + ': verifies a different answer');
        kinds[kind + ' (same answer)'] = (kinds[kind + ' (same answer)'] || 0) + 1;
      } else if (why.startsWith('not a VerifyError')) errs.push(c.size + ' ' + b.id + ' ' + kind + ': ' + why);
      else kinds[kind] = (kinds[kind] || 0) + 1;
    }
  }
}
return {Errs: errs, N: n, Kinds: kinds};`, v, &out)
	for _, e := range out.Errs {
		t.Error(e)
	}
	t.Logf("%d tries: %v", out.N, out.Kinds)
	if out.N < 1000 {
		t.Errorf("only %d tries", out.N)
	}
}
