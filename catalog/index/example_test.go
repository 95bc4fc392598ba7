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
	proof, err := x.Prove(ctx, "budget-vote-2026")
	if err != nil {
		panic(err)
	}

	// The reader's side: the root comes from a verified checkpoint.
	v, ok, err := index.Verify(x.Root(), "budget-vote-2026", proof.Encode())
	fmt.Println(v.Leaf, ok, err)
	l, err := v.CheckLeaf("budget-vote-2026", log[2].Encode())
	fmt.Println(l.Revision, err)

	absent, _ := x.Prove(ctx, "never-published")
	_, ok, err = index.Verify(x.Root(), "never-published", absent.Encode())
	fmt.Println(ok, err)
	// Output:
	// 2 true <nil>
	// 2 <nil>
	// false <nil>
}
