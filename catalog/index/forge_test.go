package index

import (
	"context"
	"errors"
	"fmt"
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
		p, err := x.Prove(ctx, id)
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
