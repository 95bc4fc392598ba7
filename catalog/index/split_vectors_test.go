package index_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/internal/golden"
)

const splitVectorsFile = "testdata/split.json"

// splitVectors is the layout of testdata/split.json: split proofs of
// indexes whose roots it gives (the logs are those of vectors.json and
// of splitLog(300)), and pairs of parts that must not make a proof.
type splitVectors struct {
	Comment string              `json:"comment"`
	Cases   []splitVectorCase   `json:"cases"`
	Invalid []splitVectorBroken `json:"invalid"`
}

// splitVectorCase is an index of Size leaves: the top part of each of its
// buckets and the bottom parts of some ids.
type splitVectorCase struct {
	Size     int64               `json:"size"`
	Root     string              `json:"root"` // base64
	CutDepth int                 `json:"cut_depth"`
	Tops     []splitVectorTop    `json:"tops"`
	Bottoms  []splitVectorBottom `json:"bottoms"`
}

type splitVectorTop struct {
	Bucket string `json:"bucket"`
	Node   string `json:"node"` // hex, the bucket root's hash; "" for a whole top part
	Top    string `json:"top"`  // hex
}

type splitVectorBottom struct {
	ID      string `json:"id"`
	Bucket  string `json:"bucket"`
	Present bool   `json:"present"`
	Leaf    int64  `json:"leaf"`   // the id's newest leaf, when present
	Bottom  string `json:"bottom"` // hex; "" when the bucket's top part is whole
}

// splitVectorBroken is a top part and a bottom part that must not make a
// proof that verifies for ID against the root of the case of Size.
type splitVectorBroken struct {
	Size   int64  `json:"size"`
	ID     string `json:"id"`
	Top    string `json:"top"`
	Bottom string `json:"bottom"`
	Why    string `json:"why"`
}

// splitVectorIDs are the ids of splitLog(300) whose bottom parts are
// vectors: present and absent ones.
var splitVectorIDs = []string{"art-0", "art-1", "art-17", "art-100", "art-2999", "art-1234", "art-555", "art-42", "never", "none", "zzz", "d"}

func makeSplitVectors(t *testing.T) *splitVectors {
	ctx := context.Background()
	v := &splitVectors{Comment: "samizdat split index proofs (FORMAT.md, Split proofs); regenerate with: go test ./catalog/index -run TestSplitVectors -update"}
	addCase := func(log []*catalog.Leaf, size int64, ids []string) {
		x := index.New()
		if err := x.Apply(ctx, 0, log[:size]); err != nil {
			t.Fatal(err)
		}
		c := splitVectorCase{Size: size, Root: x.Root().String(), CutDepth: index.CutDepth(size)}
		for b := range index.Buckets(size) {
			top, err := x.Top(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			vt := splitVectorTop{Bucket: b.String(), Top: hex.EncodeToString(top.Encode())}
			if n, ok := top.Node(); ok {
				vt.Node = hex.EncodeToString(n[:])
			}
			c.Tops = append(c.Tops, vt)
		}
		for _, id := range ids {
			p, err := x.Prove(ctx, id, index.LeafSlice(log))
			if err != nil {
				t.Fatal(err)
			}
			_, bottom, err := p.Split(size, id)
			if err != nil {
				t.Fatal(err)
			}
			vb := splitVectorBottom{ID: id, Bucket: index.BucketOf(size, id).String(), Present: p.Present}
			if p.Present {
				vb.Leaf = p.Value.Leaf
			}
			if bottom != nil {
				vb.Bottom = hex.EncodeToString(bottom.Encode())
			}
			c.Bottoms = append(c.Bottoms, vb)
		}
		v.Cases = append(v.Cases, c)
	}
	for _, size := range vectorSizes {
		addCase(vectorLeaves(), size, vectorIDs)
	}
	addCase(splitLog(300), 300, splitVectorIDs)

	// Broken pairs, against the index of splitLog(300).
	c := v.Cases[len(v.Cases)-1]
	topOf := func(c splitVectorCase, bucket string) string {
		for _, vt := range c.Tops {
			if vt.Bucket == bucket {
				return vt.Top
			}
		}
		t.Fatalf("no bucket %s at size %d", bucket, c.Size)
		return ""
	}
	a, b := c.Bottoms[0], c.Bottoms[1] // art-0 and art-1, in two buckets
	if a.Bucket == b.Bucket || a.Bottom == "" || b.Bottom == "" {
		t.Fatalf("art-0 and art-1 share bucket %s", a.Bucket)
	}
	mod := func(s string, f func([]byte) []byte) string {
		raw, _ := hex.DecodeString(s)
		return hex.EncodeToString(f(raw))
	}
	flipLast := func(b []byte) []byte { b[len(b)-1] ^= 1; return b }
	v.Invalid = []splitVectorBroken{
		{300, a.ID, topOf(c, b.Bucket), a.Bottom, "the top part of another bucket"},
		{300, a.ID, topOf(c, a.Bucket), b.Bottom, "the bottom part of another bucket"},
		{300, a.ID, topOf(v.Cases[len(v.Cases)-2], "0"), a.Bottom, "the top part of another size and cut depth"},
		{300, a.ID, topOf(c, a.Bucket), mod(a.Bottom, flipLast), "a bottom part with a changed sibling hash"},
		{300, a.ID, mod(topOf(c, a.Bucket), flipLast), a.Bottom, "a top part with a changed sibling hash"},
		{300, a.ID, mod(topOf(c, a.Bucket), func(b []byte) []byte { b[5] ^= 1; return b }), a.Bottom, "a top part with a changed bucket root hash"},
		{300, a.ID, mod(topOf(c, a.Bucket), func(b []byte) []byte { return b[:len(b)-1] }), a.Bottom, "a truncated top part"},
		{300, a.ID, topOf(c, a.Bucket), mod(a.Bottom, func(b []byte) []byte { return b[:len(b)-1] }), "a truncated bottom part"},
		{300, a.ID, topOf(c, a.Bucket), "", "no bottom part"},
		{300, b.ID, topOf(c, a.Bucket), a.Bottom, "another id's parts"},
	}
	return v
}

func TestSplitVectors(t *testing.T) {
	want := makeSplitVectors(t)
	if *update {
		golden.Write(t, splitVectorsFile, want)
	}
	v := loadSplitVectors(t)
	if !reflect.DeepEqual(v, want) {
		t.Errorf("%s differs from what the code makes now; if the format changed on purpose, run with -update", splitVectorsFile)
	}
	checkSplitVectors(t, v)
}

func loadSplitVectors(tb testing.TB) *splitVectors {
	b, err := os.ReadFile(splitVectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := &splitVectors{}
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", splitVectorsFile, err)
	}
	if dec.More() {
		tb.Fatalf("%s: data after the vectors", splitVectorsFile)
	}
	return v
}

// joinHex parses and joins hex parts and verifies the proof for id.
func joinHex(size int64, root tlog.Hash, id, top, bottom string) (index.Value, bool, error) {
	tb, err1 := hex.DecodeString(top)
	bb, err2 := hex.DecodeString(bottom)
	if err := errors.Join(err1, err2); err != nil {
		return index.Value{}, false, err
	}
	tp, err := index.ParseTop(tb)
	if err != nil {
		return index.Value{}, false, err
	}
	var bp *index.Bottom
	if bottom != "" {
		if bp, err = index.ParseBottom(bb); err != nil {
			return index.Value{}, false, err
		}
	}
	p, err := index.Join(size, id, tp, bp)
	if err != nil {
		return index.Value{}, false, err
	}
	return p.Verify(root, id)
}

// checkSplitVectors checks the vectors from the file alone, as another
// implementation would: each bottom part joins with its bucket's top part
// into a proof that verifies against the root, and each broken pair fails.
func checkSplitVectors(t *testing.T, v *splitVectors) {
	roots := map[int64]tlog.Hash{}
	for _, c := range v.Cases {
		root, err := tlog.ParseHash(c.Root)
		if err != nil {
			t.Fatal(err)
		}
		roots[c.Size] = root
		if index.CutDepth(c.Size) != c.CutDepth {
			t.Errorf("size %d: cut depth %d, vector says %d", c.Size, index.CutDepth(c.Size), c.CutDepth)
		}
		tops := map[string]splitVectorTop{}
		for _, vt := range c.Tops {
			tops[vt.Bucket] = vt
		}
		if len(tops) != 1<<c.CutDepth {
			t.Errorf("size %d: %d top parts for cut depth %d", c.Size, len(tops), c.CutDepth)
		}
		for _, vb := range c.Bottoms {
			vt := tops[vb.Bucket]
			if (vt.Node == "") != (vb.Bottom == "") {
				t.Errorf("size %d: %q: bucket root %q, bottom part %q", c.Size, vb.ID, vt.Node, vb.Bottom)
				continue
			}
			val, ok, err := joinHex(c.Size, root, vb.ID, vt.Top, vb.Bottom)
			if err != nil || ok != vb.Present || ok && val.Leaf != vb.Leaf {
				t.Errorf("size %d: %q: %+v, %v, %v; vector says present %v, leaf %d", c.Size, vb.ID, val, ok, err, vb.Present, vb.Leaf)
			}
		}
	}
	for _, iv := range v.Invalid {
		_, _, err := joinHex(iv.Size, roots[iv.Size], iv.ID, iv.Top, iv.Bottom)
		if !errors.Is(err, index.ErrParts) && !errors.Is(err, index.ErrMalformed) && !errors.Is(err, index.ErrMismatch) {
			t.Errorf("%s: %v, want ErrParts, ErrMalformed or ErrMismatch", iv.Why, err)
		}
	}
}

// splitSeeds adds every part of the split vectors to f.
func splitSeeds(f *testing.F, add func(id string, top, bottom []byte)) {
	v := loadSplitVectors(f)
	for _, c := range v.Cases {
		tops := map[string][]byte{}
		for _, vt := range c.Tops {
			tops[vt.Bucket], _ = hex.DecodeString(vt.Top)
		}
		for _, vb := range c.Bottoms {
			b, _ := hex.DecodeString(vb.Bottom)
			add(vb.ID, tops[vb.Bucket], b)
		}
	}
	for _, iv := range v.Invalid {
		tb, _ := hex.DecodeString(iv.Top)
		bb, _ := hex.DecodeString(iv.Bottom)
		add(iv.ID, tb, bb)
	}
}

func FuzzParseTop(f *testing.F) {
	splitSeeds(f, func(_ string, top, _ []byte) { f.Add(top) })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := index.ParseTop(b)
		if err != nil {
			if p != nil || !errors.Is(err, index.ErrMalformed) {
				t.Fatalf("ParseTop: %v, %v", p, err)
			}
			return
		}
		if enc := p.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("ParseTop(%x) re-encodes to %x", b, enc)
		}
		if len(b) > index.MaxTopSize {
			t.Fatalf("accepted a top part of %d bytes", len(b))
		}
	})
}

func FuzzParseBottom(f *testing.F) {
	splitSeeds(f, func(_ string, _, bottom []byte) { f.Add(bottom) })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := index.ParseBottom(b)
		if err != nil {
			if p != nil || !errors.Is(err, index.ErrMalformed) {
				t.Fatalf("ParseBottom: %v, %v", p, err)
			}
			return
		}
		if enc := p.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("ParseBottom(%x) re-encodes to %x", b, enc)
		}
		if len(b) > index.MaxBottomSize {
			t.Fatalf("accepted a bottom part of %d bytes", len(b))
		}
	})
}

// FuzzJoin joins arbitrary parts for arbitrary ids against the index of
// splitLog(300): nothing panics, and whatever verifies says what the index
// holds.
func FuzzJoin(f *testing.F) {
	splitSeeds(f, func(id string, top, bottom []byte) { f.Add(id, top, bottom) })
	ctx := context.Background()
	const size = 300
	x := index.New()
	if err := x.Apply(ctx, 0, splitLog(size)); err != nil {
		f.Fatal(err)
	}
	root := x.Root()
	f.Fuzz(func(t *testing.T, id string, top, bottom []byte) {
		tp, err := index.ParseTop(top)
		if err != nil {
			return
		}
		var bp *index.Bottom
		if len(bottom) > 0 {
			if bp, err = index.ParseBottom(bottom); err != nil {
				return
			}
		}
		p, err := index.Join(size, id, tp, bp)
		if err != nil {
			return // ErrParts, or an invalid id
		}
		got, ok, err := p.Verify(root, id)
		if err != nil {
			return
		}
		want, wantOK, lerr := x.Lookup(ctx, id)
		if lerr != nil || ok != wantOK || got != want {
			t.Fatalf("Join(%q, %x, %x) verifies to %+v, %v; the index holds %+v, %v", id, top, bottom, got, ok, want, wantOK)
		}
	})
}
