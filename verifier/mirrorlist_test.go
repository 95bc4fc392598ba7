//go:build linux

package verifier

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
)

// TestMirrorListVectors opens the mirror list of
// catalog/testdata/vectors.json in the page, which must give the
// verifier hashes the vector names, and refuses it with any byte
// changed or a byte more.
func TestMirrorListVectors(t *testing.T) {
	p := openPage(t)
	v := readJSON(t, "catalog/testdata/vectors.json")
	for _, e := range engines {
		var out struct {
			Errs    []string
			Refused int
		}
		call(t, p, e, `
const errs = [], enc8 = (x) => enc.encode(x);
const trust = await s.openStatement(enc8(a.statement), await s.parseKey(a.root_key));
const b = enc8(a.mirror_list.signed);
const got = await s.openMirrorList(b, trust);
if (got.join() !== a.mirror_list.verifiers.join() || !got.length) errs.push('opens to ' + got + ', want ' + a.mirror_list.verifiers);
let n = 0;
for (let i = 0; i < b.length; i++) {
  const m = b.slice(); m[i] ^= (m[i] === 0x2b ? 0x04 : 0x01);
  const why = await refusedBy(m);
  if (why === '' || why.startsWith('not a')) errs.push('byte ' + i + ' changed: ' + (why || 'opens')); else n++;
}
const more = new Uint8Array(b.length + 1); more.set(b); more[b.length] = 10;
if ((await refusedBy(more)) === '') errs.push('a byte more: opens');
return {Errs: errs, Refused: n};
async function refusedBy(m) { return refused(() => s.openMirrorList(m, trust)); }`, v, &out)
		for _, m := range out.Errs {
			t.Errorf("%s: %s", e, m)
		}
		t.Logf("%s: %d changed lists refused", e, out.Refused)
	}
}

// TestMirrorListAgreesWithGo signs mirror lists, well and badly formed,
// with a test publisher's keys and checks that the page opens exactly
// those that catalog.OpenMirrorList opens, to the same verifier hashes.
// The page does not check URLs' form beyond printable ASCII (it uses
// none), so no case here turns on it.
func TestMirrorListAgreesWithGo(t *testing.T) {
	pub := testkeys.New(t, "verifier")
	h := func(i int) string { return fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "page %d", i))) }
	head := func(version, tm string) string {
		return catalog.MirrorListOrigin(pub.ID()) + "\nversion " + version + "\ntime " + tm + "\n"
	}
	at := fmt.Sprint(time.Now().Unix())
	hd := head("3", at)
	urls := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "url https://m%d.example/\n", i)
		}
		return b.String()
	}
	vs := func(from, n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("verifier " + h(from+i) + "\n")
		}
		return b.String()
	}
	texts := []string{
		hd, hd + urls(2), hd + vs(0, 1), hd + urls(3) + vs(0, 4), hd + urls(catalog.MaxMirrors) + vs(0, 2),
		hd + vs(0, 5), hd + vs(0, 1) + vs(0, 1), hd + urls(1) + vs(0, 1) + urls(1),
		hd + vs(0, 1) + "url https://late.example/\n", hd + urls(catalog.MaxMirrors+1), hd + urls(1) + urls(1),
		hd + "verifier " + strings.ToUpper(h(0)) + "\n", hd + "verifier " + h(0)[:63] + "\n", hd + "verifier " + h(0) + "0\n",
		hd + "verifier  " + h(0) + "\n", hd + "verifier\n", hd + "\n", hd + "mirror https://a.example/\n", hd + "url \n",
		head("0", at), head("01", at), head("18446744073709551615", at), head("18446744073709551616", at),
		head("1", "0"), head("1", "253402300800"), head("1", "0"+at), head("1", "-1"),
		catalog.MirrorListOrigin("someone-else") + "\nversion 1\ntime " + at + "\n",
		catalog.MirrorListOrigin(strings.Repeat("0f", 16)) + "\nversion 1\ntime " + at + "\n",
		catalog.MirrorListOrigin(pub.ID()) + "\nversion 1\n", catalog.MirrorListOrigin(pub.ID()) + "\ntime " + at + "\nversion 1\n",
	}
	type tc struct {
		Signed string
		Go     string // the hashes Go opens it to, joined by ",", or "refused"
	}
	var cases []tc
	add := func(signed []byte) {
		c := tc{Signed: string(signed), Go: "refused"}
		if m, err := catalog.OpenMirrorList(signed, pub.Trust); err == nil {
			var hs []string
			for _, v := range m.Verifiers {
				hs = append(hs, fmt.Sprintf("%x", v))
			}
			c.Go = strings.Join(hs, ",")
		}
		cases = append(cases, c)
	}
	opened := 0
	for _, text := range texts {
		signed, err := note.Sign(&note.Note{Text: text}, pub.Signer)
		if err != nil {
			t.Fatal(err)
		}
		add(signed)
		if cases[len(cases)-1].Go != "refused" {
			opened++
		}
	}
	// Seeded random edits of a list without URLs (whose form the page
	// does not check), each signed: the page must agree on every one.
	rng := rand.New(rand.NewPCG(1, 2))
	base := []byte(hd + vs(0, 3))
	const alphabet = "0123456789abcdefAF \nvx"
	for len(cases) < len(texts)+300 {
		b := slices.Clone(base)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b) + 1)
			switch c := alphabet[rng.IntN(len(alphabet))]; rng.IntN(3) {
			case 0:
				b = slices.Insert(b, i, c)
			case 1:
				if i < len(b) {
					b = slices.Delete(b, i, i+1)
				}
			default:
				if i < len(b) {
					b[i] = c
				}
			}
		}
		if !bytes.HasSuffix(b, []byte("\n")) || bytes.Contains(b, []byte("url")) {
			continue
		}
		signed, err := note.Sign(&note.Note{Text: string(b)}, pub.Signer)
		if err != nil {
			continue // not a note's text
		}
		add(signed)
	}
	// Well formed, but signed by the root key, which signs no lists.
	signed, err := note.Sign(&note.Note{Text: hd + vs(0, 1)}, pub.Root)
	if err != nil {
		t.Fatal(err)
	}
	add(signed)
	if opened != 6 {
		t.Fatalf("Go opens %d of the lists, want 6", opened)
	}
	opened = 0
	for _, c := range cases {
		if c.Go != "refused" {
			opened++
		}
	}
	t.Logf("%d lists, %d of which Go opens", len(cases), opened)

	p := openPage(t)
	args := map[string]any{"root": pub.Root.Public().String(), "statement": string(pub.Statement), "cases": cases}
	for _, e := range engines {
		var errs []string
		call(t, p, e, `
const errs = [];
const trust = await s.openStatement(enc.encode(a.statement), await s.parseKey(a.root));
for (const c of a.cases) {
  let got;
  try { got = (await s.openMirrorList(enc.encode(c.Signed), trust)).join(); } catch (e) { got = e instanceof s.VerifyError ? 'refused' : 'not a VerifyError: ' + e; }
  if (got !== c.Go) errs.push(JSON.stringify(c.Signed.split('\n\n')[0]) + ': page says ' + got + ', Go says ' + c.Go);
}
return errs;`, args, &errs)
		for _, m := range errs {
			t.Errorf("%s: %s", e, m)
		}
	}
}
