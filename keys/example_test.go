package keys_test

import (
	"fmt"
	"log"
	"time"

	"github.com/samizdat-news/samizdat/keys"
)

// A publisher makes a root key, kept offline, and publishes its text form;
// readers pin it.
func ExampleGenerate() {
	root, err := keys.Generate(nil, "example.org", keys.RoleRoot)
	if err != nil {
		log.Fatal(err)
	}
	text := root.Public().String() // what publisher.pub holds
	pinned, err := keys.ParsePublicKey(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pinned.Name(), pinned.Equal(root.Public()), len(pinned.ID()))
	// Output: example.org true 32
}

// The root key delegates a signing key for a year in a key statement; a
// reader who pinned the root key checks signing keys against it.
func ExampleNewTrust() {
	root, err := keys.Generate(nil, "example.org", keys.RoleRoot)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := keys.Generate(nil, "example.org/signing-1", keys.RoleSigning)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	st := &keys.Statement{
		Publisher: root.Public(),
		Version:   1,
		Issued:    start,
		Keys:      []keys.Delegation{{Key: signer.Public(), NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}},
	}
	signed, err := st.Sign(root)
	if err != nil {
		log.Fatal(err)
	}

	// The reader's side: the pinned root key and the signed statement.
	trust, err := keys.NewTrust(root.Public(), signed)
	if err != nil {
		log.Fatal(err)
	}
	k, err := trust.Authorize(signer.Public().Raw(), start.AddDate(0, 6, 0))
	fmt.Println(k.Name(), err)
	_, err = trust.Authorize(signer.Public().Raw(), start.AddDate(2, 0, 0))
	fmt.Println(err != nil)
	// Output:
	// example.org/signing-1 <nil>
	// true
}
