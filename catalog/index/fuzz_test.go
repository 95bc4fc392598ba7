package index_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// vectorSeeds adds every proof of the vectors, valid or not, to f.
func vectorSeeds(f *testing.F, add func(id string, proof []byte)) {
	v := loadVectors(f, vectorsFile)
	for _, vp := range v.Proofs {
		b, _ := hex.DecodeString(vp.Proof)
		add(vp.ID, b)
	}
	for _, iv := range v.Invalid {
		b, _ := hex.DecodeString(iv.Proof)
		add(iv.ID, b)
	}
}

func FuzzParseProof(f *testing.F) {
	vectorSeeds(f, func(_ string, b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := index.ParseProof(b)
		if err != nil {
			if p != nil || !errors.Is(err, index.ErrMalformed) {
				t.Fatalf("ParseProof: %v, %v", p, err)
			}
			return
		}
		if enc := p.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("ParseProof(%x) re-encodes to %x", b, enc)
		}
		if len(b) > index.MaxProofSize || p.Len() > index.MaxProofSteps {
			t.Fatalf("accepted a proof of %d bytes, %d steps", len(b), p.Len())
		}
	})
}

// FuzzVerify verifies arbitrary proofs for arbitrary ids against the
// vectors' full index: nothing panics, and whatever verifies says what
// the index holds.
func FuzzVerify(f *testing.F) {
	vectorSeeds(f, func(id string, b []byte) { f.Add(id, b) })
	ctx := context.Background()
	v := loadVectors(f, vectorsFile)
	x := index.New()
	for n, s := range v.Leaves {
		raw, _ := hex.DecodeString(s)
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			f.Fatal(err)
		}
		if err := x.Apply(ctx, int64(n), []*catalog.Leaf{l}); err != nil {
			f.Fatal(err)
		}
	}
	root := x.Root()
	f.Fuzz(func(t *testing.T, id string, b []byte) {
		got, ok, err := index.Verify(root, id, b)
		if err != nil {
			return
		}
		want, wantOK, lerr := x.Lookup(ctx, id)
		if lerr != nil || ok != wantOK || got != want {
			t.Fatalf("Verify(%q, %x) = %+v, %v; the index holds %+v, %v", id, b, got, ok, want, wantOK)
		}
	})
}
