package catalog_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
)

// A publisher signs a mirror list, vouching for one verifier page, and
// records it in its log; a reader opens it against the publisher's trust
// and checks the log's leaf.
func ExampleOpenMirrorList() {
	p := testkeys.New(&testing.T{}, "example")
	m := &catalog.MirrorList{Version: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		URLs:      []string{"https://mirror.example/", "h3://203.0.113.7:4433"},
		Verifiers: [][sha256.Size]byte{sha256.Sum256([]byte("<!DOCTYPE html>..."))}}
	signed, err := m.Sign(p.Signer, p.ID())
	if err != nil {
		panic(err)
	}
	leaf := &catalog.Leaf{Kind: catalog.KindMirrorList, Version: m.Version, Digest: sha256.Sum256(signed)}

	got, err := catalog.OpenMirrorList(signed, p.Trust)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Version == leaf.Version && sha256.Sum256(signed) == leaf.Digest)
	fmt.Println(got.URLs)
	fmt.Printf("%x\n", got.Verifiers[0][:8])
	// Output:
	// true
	// [https://mirror.example/ h3://203.0.113.7:4433]
	// 4c8bd2b0c45b0141
}
