package index_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

// vectors is the layout of testdata/vectors.json: a small log, the index
// root after each of its leaves, and proofs at some of those sizes.
type vectors struct {
	Comment    string          `json:"comment"`
	HashPrefix string          `json:"hash_prefix"` // hex
	Leaves     []string        `json:"leaves"`      // hex, the log in order
	Roots      []string        `json:"roots"`       // base64; Roots[n] is the index of the first n leaves
	Proofs     []vectorProof   `json:"proofs"`
	Invalid    []vectorInvalid `json:"invalid_proofs"`
}

// vectorProof is the proof of id in the index of the first Size leaves.
type vectorProof struct {
	Size     int64  `json:"size"`
	ID       string `json:"id"`
	Present  bool   `json:"present"`
	Leaf     int64  `json:"leaf"`      // the id's newest leaf, when present
	LeafHash string `json:"leaf_hash"` // its log hash, base64, when present
	Proof    string `json:"proof"`     // hex
}

// vectorInvalid is a proof that must not verify for id in the index of
// the first Size leaves.
type vectorInvalid struct {
	Size  int64  `json:"size"`
	ID    string `json:"id"`
	Proof string `json:"proof"` // hex
	Why   string `json:"why"`
}

func vectorLeaves() []*catalog.Leaf {
	d := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	t := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	return []*catalog.Leaf{
		{Kind: catalog.KindKeyStatement, Version: 1, Digest: d("statement")},
		{Kind: catalog.KindBundle, ID: "first-article", Revision: 1, Digest: d("bundle 1")},
		{Kind: catalog.KindBundle, ID: "second", Revision: 1, Digest: d("bundle 2")},
		{Kind: catalog.KindBundle, ID: "first-article", Revision: 2, Digest: d("bundle 3")},
		{Kind: catalog.KindRetraction, ID: "second", Revision: 1, Time: t},
		{Kind: catalog.KindMirrorList, Version: 1, Digest: d("mirrors")},
		{Kind: catalog.KindBundle, ID: "x.y_z-0", Revision: 1 << 40, Digest: d("bundle 4")},
		{Kind: catalog.KindBundle, ID: "budget-vote-2026", Revision: 1, Digest: d("bundle 5")},
		{Kind: catalog.KindBundle, ID: "0", Revision: 1, Digest: d("bundle 6")},
		{Kind: catalog.KindBundle, ID: "a", Revision: 3, Digest: d("bundle 7")},
		{Kind: catalog.KindBundle, ID: "b", Revision: 1, Digest: d("bundle 8")},
		{Kind: catalog.KindBundle, ID: "c", Revision: 1, Digest: d("bundle 9")},
	}
}

// vectorIDs are the ids proven at each size: all the log's ids and some
// that it never has.
var vectorIDs = []string{"first-article", "second", "x.y_z-0", "budget-vote-2026", "0", "a", "b", "c", "d", "never", "zzz"}

// vectorSizes are the sizes at which every id is proven.
var vectorSizes = []int64{0, 1, 2, 3, 5, 7, 12}

func makeVectors(t *testing.T) *vectors {
	ctx := context.Background()
	v := &vectors{
		Comment:    "samizdat article index test vectors (FORMAT.md, Article index); regenerate with: go test ./catalog/index -run TestVectors -update",
		HashPrefix: hex.EncodeToString([]byte(index.HashPrefix)),
	}
	leaves := vectorLeaves()
	x := index.New()
	v.Roots = append(v.Roots, x.Root().String())
	for n, l := range leaves {
		v.Leaves = append(v.Leaves, hex.EncodeToString(l.Encode()))
		if err := x.Apply(ctx, int64(n), []*catalog.Leaf{l}); err != nil {
			t.Fatal(err)
		}
		v.Roots = append(v.Roots, x.Root().String())
	}
	for _, size := range vectorSizes {
		y := index.New()
		if err := y.Apply(ctx, 0, leaves[:size]); err != nil {
			t.Fatal(err)
		}
		for _, id := range vectorIDs {
			p, err := y.Prove(ctx, id, index.LeafSlice(leaves))
			if err != nil {
				t.Fatal(err)
			}
			vp := vectorProof{Size: size, ID: id, Present: p.Present, Proof: hex.EncodeToString(p.Encode())}
			if p.Present {
				vp.Leaf, vp.LeafHash = p.Value.Leaf, p.Value.Hash.String()
			}
			v.Proofs = append(v.Proofs, vp)
		}
	}
	// Invalid proofs, each against the full log's index.
	full := int64(len(leaves))
	proofOf := func(id string) []byte {
		for _, vp := range v.Proofs {
			if vp.Size == full && vp.ID == id {
				b, _ := hex.DecodeString(vp.Proof)
				return b
			}
		}
		t.Fatalf("no proof of %q", id)
		return nil
	}
	mod := func(b []byte, f func([]byte) []byte) string {
		return hex.EncodeToString(f(append([]byte(nil), b...)))
	}
	present, absent := proofOf("first-article"), proofOf("never")
	// withLeaf returns the present proof with its leaf (bytes 12 to 12+n,
	// n the u16 at 10) replaced by leaf, length and all.
	withLeaf := func(leaf []byte) string {
		n := int(binary.BigEndian.Uint16(present[10:]))
		b := append([]byte(nil), present[:10]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(leaf)))
		b = append(b, leaf...)
		return hex.EncodeToString(append(b, present[12+n:]...))
	}
	leaf3 := leaves[3].Encode() // first-article's newest leaf, revision 2
	v.Invalid = []vectorInvalid{
		{full, "first-article", "", "empty"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[0] = 1; return b }), "version 1 (the leaf's hash, not the leaf)"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[1] = 3; return b }), "kind 3"},
		{full, "first-article", mod(present, func(b []byte) []byte { return append(b, 0) }), "trailing byte"},
		{full, "first-article", mod(present, func(b []byte) []byte { return b[:len(b)-1] }), "one byte short"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[9] ^= 1; return b }), "wrong leaf index"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), "wrong sibling hash"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[len(b)-33] = 1; return b }), "top step not at the root"},
		{full, "first-article", withLeaf(leaves[1].Encode()), "the id's older revision as its leaf"},
		{full, "first-article", withLeaf(leaves[2].Encode()), "another id's leaf"},
		{full, "first-article", withLeaf(leaves[0].Encode()), "a key statement leaf"},
		{full, "first-article", withLeaf(append(leaf3[:len(leaf3)-1:len(leaf3)-1], leaf3[len(leaf3)-1]^1)), "the leaf with its digest changed"},
		{full, "first-article", withLeaf(leaf3[:len(leaf3)-1]), "the leaf one byte short"},
		{full, "first-article", withLeaf(append(leaf3, 0)), "the leaf with a byte more"},
		{full, "first-article", withLeaf(nil), "an empty leaf"},
		{full, "first-article", withLeaf(make([]byte, catalog.MaxLeafSize+1)), "a leaf longer than the longest"},
		{full, "first-article", mod(present, func(b []byte) []byte { b[10], b[11] = 0xff, 0xff; return b }), "leaf length beyond the proof"},
		{full, "second", hex.EncodeToString(present), "another id's proof"},
		{full, "first-article", hex.EncodeToString(absent), "an absent id's proof for a present id"},
		{full, "never", mod(absent, func(b []byte) []byte { b[2] ^= 1; return b }), "wrong branch depth"},
		{full, "never", mod(absent, func(b []byte) []byte { b[3] ^= 1; return b }), "wrong branch sibling hash"},
		{full, "first-article", "0200", "empty index's proof for a non-empty index"},
		{full, "never", "0202", "absence proof without a branch"},
	}
	return v
}

func TestVectors(t *testing.T) {
	want := makeVectors(t)
	if *update {
		golden.Write(t, vectorsFile, want)
	}
	v := loadVectors(t, vectorsFile)
	if !reflect.DeepEqual(v, want) {
		t.Errorf("%s differs from what the code makes now; if the format changed on purpose, run with -update", vectorsFile)
	}
	checkVectors(t, v)
}

func loadVectors(tb testing.TB, file string) *vectors {
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := &vectors{}
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if dec.More() {
		tb.Fatalf("%s: data after the vectors", file)
	}
	return v
}

// checkVectors checks the vectors from the file alone, as another
// implementation would: it recomputes every root from the leaves, and
// verifies every proof against its root.
func checkVectors(t *testing.T, v *vectors) {
	ctx := context.Background()
	if p, _ := hex.DecodeString(v.HashPrefix); string(p) != index.HashPrefix {
		t.Errorf("hash prefix %q, vector says %q", index.HashPrefix, p)
	}
	if len(v.Roots) != len(v.Leaves)+1 {
		t.Fatalf("%d roots for %d leaves", len(v.Roots), len(v.Leaves))
	}
	roots := make([]tlog.Hash, len(v.Roots))
	for i, s := range v.Roots {
		h, err := tlog.ParseHash(s)
		if err != nil {
			t.Fatalf("root %d: %v", i, err)
		}
		roots[i] = h
	}
	if roots[0] != index.EmptyRoot() {
		t.Errorf("root of the empty log %s, EmptyRoot %s", roots[0], index.EmptyRoot())
	}
	x := index.New()
	for n, s := range v.Leaves {
		raw, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			t.Fatalf("leaf %d: %v", n, err)
		}
		if err := x.Apply(ctx, int64(n), []*catalog.Leaf{l}); err != nil {
			t.Fatal(err)
		}
		if x.Root() != roots[n+1] {
			t.Errorf("root after leaf %d is %s, vector says %s", n, x.Root(), roots[n+1])
		}
	}
	for _, vp := range v.Proofs {
		b, err := hex.DecodeString(vp.Proof)
		if err != nil {
			t.Fatal(err)
		}
		p, err := index.ParseProof(b)
		if err != nil {
			t.Errorf("proof of %q at size %d: %v", vp.ID, vp.Size, err)
			continue
		}
		val, ok, err := p.Verify(roots[vp.Size], vp.ID)
		if err != nil || ok != vp.Present {
			t.Errorf("proof of %q at size %d: present %v, %v; vector says present %v", vp.ID, vp.Size, ok, err, vp.Present)
			continue
		}
		if ok && (val.Leaf != vp.Leaf || val.Hash.String() != vp.LeafHash) {
			t.Errorf("proof of %q at size %d gives %+v, vector says leaf %d hash %s", vp.ID, vp.Size, val, vp.Leaf, vp.LeafHash)
		}
		if ok && hex.EncodeToString(p.Leaf().Encode()) != v.Leaves[val.Leaf] {
			t.Errorf("proof of %q at size %d carries leaf %x, not the log's leaf %d", vp.ID, vp.Size, p.Leaf().Encode(), val.Leaf)
		}
	}
	for _, iv := range v.Invalid {
		b, err := hex.DecodeString(iv.Proof)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := index.Verify(roots[iv.Size], iv.ID, b); !errors.Is(err, index.ErrMalformed) && !errors.Is(err, index.ErrMismatch) {
			t.Errorf("invalid proof (%s) gave %v, want ErrMalformed or ErrMismatch", iv.Why, err)
		}
	}
}

// TestVectorsRefuseUnknownFields checks that the loader would notice a
// field the test does not know.
func TestVectorsRefuseUnknownFields(t *testing.T) {
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"comment":`), []byte(`"surprise": 1, "comment":`), 1)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vectors{}); err == nil {
		t.Error("a vectors file with an unknown field decoded")
	}
}
