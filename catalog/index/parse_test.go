package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filippo.io/torchwood/prefix"

	"github.com/samizdat-news/samizdat/catalog"
)

// testIndex returns an index of 50 ids, a present id's proof and an absent
// id's proof whose branch is below the root.
func testIndex(t *testing.T) (x *Index, present, absent *Proof, presentID, absentID string) {
	t.Helper()
	ctx := context.Background()
	x = New()
	var leaves []*catalog.Leaf
	for i := range 50 {
		leaves = append(leaves, &catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("p%d", i), Revision: 1})
	}
	if err := x.Apply(ctx, 0, leaves); err != nil {
		t.Fatal(err)
	}
	presentID = "p7"
	present, err := x.Prove(ctx, presentID, LeafSlice(leaves))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		absentID = fmt.Sprintf("q%d", i)
		if absent, err = x.Prove(ctx, absentID, LeafSlice(leaves)); err != nil {
			t.Fatal(err)
		}
		if absent.depth > 0 && absent.child.IsLeaf() {
			return
		}
	}
}

// TestParseProofRefuses checks that ParseProof refuses, as malformed, the
// proofs that break the form even if their hashes might be right.
func TestParseProofRefuses(t *testing.T) {
	_, present, absent, _, _ := testIndex(t)
	pe, ae := present.Encode(), absent.Encode()
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	stepsAt := len(pe) - 33*len(present.path) // first step of the present proof
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"version", mod(pe, func(b []byte) []byte { b[0] = 0; return b }), "version 0"},
		{"kind", mod(pe, func(b []byte) []byte { b[1] = 9; return b }), "kind 9"},
		{"too large", make([]byte, MaxProofSize+1), "more than"},
		{"empty index with bytes", []byte{ProofVersion, 0, 0}, "after an empty index's proof"},
		{"negative leaf", mod(pe, func(b []byte) []byte { b[2] = 0x80; return b }), "leaf index out of range"},
		{"no leaf length", pe[:11], "too short for a leaf"},
		{"leaf longer than any", mod(pe, func(b []byte) []byte { binary.BigEndian.PutUint16(b[10:], catalog.MaxLeafSize+1); return b }), "at most"},
		{"leaf beyond the proof", pe[:12+3], "leaf of"},
		{"leaf truncated", mod(pe, func(b []byte) []byte { b[11]--; return b }), "wrong length"},
		{"statement leaf", func() []byte {
			p := *present
			p.leaf = &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 1}
			return p.Encode()
		}(), "not an article leaf"},
		{"leaf id length", mod(pe, func(b []byte) []byte { b[13] = 0xff; return b }), "wrong length"},
		{"count too high", mod(pe, func(b []byte) []byte { b[stepsAt-1]++; return b }), "steps in"},
		{"count too low", mod(pe, func(b []byte) []byte { b[stepsAt-1]--; return b }), "steps in"},
		{"no steps", mod(pe[:stepsAt], func(b []byte) []byte { b[stepsAt-2], b[stepsAt-1] = 0, 0; return b }), "no path to the root"},
		{"depth not decreasing", mod(pe, func(b []byte) []byte { b[stepsAt+33] = b[stepsAt]; return b }), "not above"},
		{"path not at the root", func() []byte {
			p := *present
			p.path = p.path[:len(p.path)-1]
			return p.Encode()
		}(), "not at the root"},
		{"branch child as short as the branch", func() []byte {
			p := *absent
			p.child = keyLabel([32]byte(absent.child.Bytes()), int(absent.depth))
			return p.Encode()
		}(), "branch child of"},
		{"label of 257 bits", mod(ae, func(b []byte) []byte { binary.BigEndian.PutUint16(b[35:], 257); return b }), "label of 257 bits"},
		{"unused label bits", func() []byte {
			p := *absent
			p.child = keyLabel([32]byte(absent.child.Bytes()), int(absent.depth)+1)
			b := p.Encode()
			b[37+int(absent.depth)/8] |= 0x80 >> ((absent.depth + 1) % 8) // the bit after the label
			if (absent.depth+1)%8 == 0 {
				return nil
			}
			return b
		}(), "non-zero bits"},
		{"empty child below the root", func() []byte {
			p := *absent
			p.child = prefix.EmptyNodeLabel
			return p.Encode()
		}(), "empty branch child below the root"},
		{"absent at depth > 0 without steps", func() []byte {
			p := *absent
			p.path = nil
			return p.Encode()
		}(), "no path to the root"},
	}
	for _, tt := range tests {
		if tt.b == nil && tt.name != "empty" {
			continue // no unused bits in this label
		}
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProof(tt.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseProof = %v, want ErrMalformed with %q", err, tt.want)
			}
		})
	}
}

// TestVerifyRefuses checks Verify's own checks of an absence proof's
// branch child and of the id; torchwood's checks behind them would catch
// most of these too, with less clear errors.
func TestVerifyRefuses(t *testing.T) {
	x, present, absent, presentID, absentID := testIndex(t)
	root := x.Root()
	key := Key(absentID)
	offSide := *absent // the child's bit at the branch's depth flipped
	{
		b := [32]byte(absent.child.Bytes())
		d := int(absent.depth)
		b[d/8] ^= 0x80 >> (d % 8)
		offSide.child, _ = prefix.NewLabel(absent.child.BitLen(), b[:])
	}
	onPath := *absent // the key's own leaf as the child
	onPath.child = keyLabel(key, 256)
	tests := []struct {
		name string
		p    *Proof
		id   string
		want string
	}{
		{"child off the key's side", &offSide, absentID, "not on the key's side"},
		{"child on the key's path", &onPath, absentID, "on the key's path"},
		{"invalid id", present, "Not-An-Id", "article id"},
		{"empty id", absent, "", "article id"},
		{"another id", present, absentID, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Verify(root, tt.id, tt.p.Encode())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, ok, err := Verify(root, presentID, present.Encode()); err != nil || !ok {
		t.Fatalf("the unchanged proof does not verify: %v", err)
	}
}
