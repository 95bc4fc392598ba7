package index_test

import (
	"context"
	"fmt"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// A mirror applies the log's leaves as they arrive and serves proofs; a
// reader checks a proof against the root that the signed checkpoint
// carries.
func Example() {
	ctx := context.Background()
	log := []*catalog.Leaf{
		{Kind: catalog.KindKeyStatement, Version: 1},
		{Kind: catalog.KindBundle, ID: "budget-vote-2026", Revision: 1},
		{Kind: catalog.KindBundle, ID: "budget-vote-2026", Revision: 2},
	}
	x := index.New()
	if err := x.Apply(ctx, 0, log[:2]); err != nil {
		panic(err)
	}
	if err := x.Apply(ctx, 2, log[2:]); err != nil { // an update: leaves 2..2
		panic(err)
	}
	// A proof carries the id's newest leaf, which the mirror reads from
	// its log.
	proof, err := x.Prove(ctx, "budget-vote-2026", index.LeafSlice(log))
	if err != nil {
		panic(err)
	}

	// The reader's side: the root comes from a verified checkpoint.
	p, err := index.ParseProof(proof.Encode())
	if err != nil {
		panic(err)
	}
	v, ok, err := p.Verify(x.Root(), "budget-vote-2026")
	fmt.Println(v.Leaf, ok, err)
	fmt.Println(p.Leaf().Kind, p.Leaf().Revision)

	absent, _ := x.Prove(ctx, "never-published", index.LeafSlice(log))
	_, ok, err = index.Verify(x.Root(), "never-published", absent.Encode())
	fmt.Println(ok, err)
	// Output:
	// 2 true <nil>
	// bundle 2
	// false <nil>
}
