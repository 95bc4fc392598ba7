package bundle_test

import (
	"bytes"
	"fmt"
	"log"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
)

func ExampleBuild() {
	// A publisher's root key delegates a signing key. Real keys come from
	// keys.Generate; fixed seeds keep this example's output stable.
	root, err := keys.NewPrivateKey("example.org", keys.RoleRoot, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		log.Fatal(err)
	}
	signer, err := keys.NewPrivateKey("example.org/signing-2026", keys.RoleSigning, bytes.Repeat([]byte{2}, 32))
	if err != nil {
		log.Fatal(err)
	}
	statement := keys.Statement{
		Publisher: root.Public(),
		Version:   1,
		Issued:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Keys: []keys.Delegation{{
			Key:       signer.Public(),
			NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:  time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		}},
	}
	signed, err := statement.Sign(root)
	if err != nil {
		log.Fatal(err)
	}

	// The publisher builds and signs a bundle.
	meta := bundle.Metadata{
		ID:       "budget-vote",
		Revision: 1,
		Created:  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Updated:  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Title:    "Parliament passes the budget",
		Language: "en",
	}
	files := []bundle.File{
		{Type: "text/markdown", Data: []byte("# Parliament passes the budget\n\nBy 212 votes to 188.\n")},
		{Name: "img/vote.png", Type: "image/png", Data: []byte("\x89PNG...")},
	}
	data, err := bundle.Build(meta, files, root.Public(), signer, nil)
	if err != nil {
		log.Fatal(err)
	}

	// A reader who pinned the root key verifies it, from any mirror.
	trust, err := keys.NewTrust(root.Public(), signed)
	if err != nil {
		log.Fatal(err)
	}
	b, err := bundle.Verify(data, trust, nil)
	if err != nil {
		log.Fatal(err)
	}
	body, err := b.Body()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, revision %d, signed by %s\n", b.Manifest.Title, b.Manifest.Revision, b.Signer.Name())
	for _, e := range b.Manifest.Entries {
		fmt.Printf("%s %s %s %d bytes\n", e.Name, e.Type, e.Compression, e.Size)
	}
	fmt.Printf("%s", body)

	// One changed byte and the bundle is refused.
	data[len(data)-1] ^= 1
	_, err = bundle.Verify(data, trust, nil)
	fmt.Println(err)
	// Output:
	// Parliament passes the budget, revision 1, signed by example.org/signing-2026
	// index.md text/markdown zstd 53 bytes
	// img/vote.png image/png stored 7 bytes
	// # Parliament passes the budget
	//
	// By 212 votes to 188.
	// bundle: entry "img/vote.png": stored bytes do not match the signed hash
}
