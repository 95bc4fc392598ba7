package signing_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/signing"
)

func ExampleSign() {
	// A real signing key comes from keys.Generate or a key file; this one
	// is made from a fixed seed so that the output below is stable.
	k, err := keys.NewPrivateKey("example.org/signing-1", keys.RoleSigning, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		log.Fatal(err)
	}
	manifest := []byte("manifest bytes")
	sig, err := signing.Sign(k, signing.Manifest, manifest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(sig), signing.Verify(k.Public(), signing.Manifest, manifest, sig))

	// The signature is good only in the domain it was made for.
	err = signing.Verify(k.Public(), signing.MirrorList, manifest, sig)
	var invalid *signing.InvalidSignatureError
	fmt.Println(errors.As(err, &invalid), invalid.Domain)
	fmt.Println(err)
	// Output:
	// 64 <nil>
	// true mirror list
	// signing: invalid mirror list signature by key example.org/signing-1+d16899e8+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs
}
