package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filippo.io/torchwood/prefix"

	"github.com/samizdat-news/samizdat/catalog"
)

// TestForgedAbsenceRefused tries to prove a present id absent, as a
// hostile mirror hiding an article would. torchwood v0.6.1's
// VerifyNonMembershipProof accepts such a forgery in its own proof form
// (shown below); Verify binds the branch child's label to its hash and
// refuses it.
func TestForgedAbsenceRefused(t *testing.T) {
	ctx := context.Background()
	x := New()
	var leaves []*catalog.Leaf
	for i := range 100 {
		leaves = append(leaves, &catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("a%d", i), Revision: 1})
	}
	if err := x.Apply(ctx, 0, leaves); err != nil {
		t.Fatal(err)
	}
	root := x.Root()
	for _, id := range []string{"a7", "a42", "a99"} {
		key := Key(id)
		p, err := x.Prove(ctx, id, LeafSlice(leaves))
		if err != nil || !p.Present {
			t.Fatal(err)
		}
		// The leaf's sibling branches off at the bottom step's depth; claim
		// the leaf diverges from the key later, with the leaf's own value.
		fake := key
		fake[31] ^= 1
		forged := &Proof{
			depth:      p.path[0].depth,
			other:      p.path[0].hash,
			child:      keyLabel(fake, 256),
			childValue: p.Value.valueHash(),
			path:       p.path[1:],
		}
		enc := forged.Encode()
		if _, err := ParseProof(enc); err != nil {
			t.Fatalf("forged proof does not parse: %v", err)
		}
		if v, ok, err := Verify(root, id, enc); !errors.Is(err, ErrMismatch) {
			t.Errorf("forged absence of present %q: %+v %v %v, want ErrMismatch", id, v, ok, err)
		}
		// The real leaf as the branch child: on the key's path, refused.
		forged.child = keyLabel(key, 256)
		if _, _, err := Verify(root, id, forged.Encode()); !errors.Is(err, ErrMismatch) {
			t.Errorf("absence proof with the id's own leaf as branch child: %v, want ErrMismatch", err)
		}

		// The same forgery in torchwood's form.
		nodes := []prefix.ProofNode{sibling(key, p.path[0]), {Label: keyLabel(fake, 256), Hash: nodeHash(keyLabel(key, 256), p.Value.valueHash())}}
		for _, s := range p.path[1:] {
			nodes = append(nodes, sibling(key, s))
		}
		if prefix.VerifyNonMembershipProof(hash, key, nodes, root) == nil {
			t.Logf("torchwood v0.6.1 VerifyNonMembershipProof accepts the forged absence of %q", id)
		}
	}
}

// TestLeafOfAnotherIDRefused forges what a stolen signing key could sign:
// an index that maps one id's key to another id's leaf. The tree proves
// that value under the root, so only Verify's check that the leaf is the
// id's own refuses the proof.
func TestLeafOfAnotherIDRefused(t *testing.T) {
	ctx := context.Background()
	x := New()
	other := &catalog.Leaf{Kind: catalog.KindBundle, ID: "other", Revision: 1}
	v := Value{Leaf: 0, Hash: catalog.LeafHash(other.Encode())}
	root, err := x.write(ctx, []update{{Key("asked"), v}, {Key("b"), Value{Leaf: 1}}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x.prove(ctx, Key("asked"))
	if err != nil || !p.Present {
		t.Fatalf("prove: %v %v", p, err)
	}
	p.leaf = other
	_, _, err = Verify(root, "asked", p.Encode())
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `article leaf of "other"`) {
		t.Fatalf("proof of %q carrying a leaf of %q: %v, want ErrMismatch naming the leaf's id", "asked", "other", err)
	}
	// The same tree, asked through Prove, refuses to make the proof.
	x.root, x.size = root, 2
	if _, err := x.Prove(ctx, "asked", LeafSlice([]*catalog.Leaf{other})); err == nil {
		t.Error("Prove put another id's leaf in a proof")
	}
}

// TestProofMadeByHand: a Proof whose exported fields say present, made
// without Prove, carries no leaf: it encodes to bytes that do not parse
// and does not verify, rather than panic.
func TestProofMadeByHand(t *testing.T) {
	p := &Proof{Present: true, Value: Value{Leaf: 1}}
	if _, err := ParseProof(p.Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseProof of a hand-made proof: %v, want ErrMalformed", err)
	}
	if _, _, err := p.Verify(EmptyRoot(), "a"); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify of a hand-made proof: %v, want ErrMismatch", err)
	}
	if p.Leaf() != nil {
		t.Error("a hand-made proof has a leaf")
	}
}
