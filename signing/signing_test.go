package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/samizdat-news/samizdat/keys"
	"golang.org/x/mod/sumdb/note"
)

// testKey returns the key called name made from the seed
// SHA-256("samizdat test seed " || name), as the keys tests do.
func testKey(t testing.TB, name string, role keys.Role) *keys.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("samizdat test seed " + name))
	k, err := keys.NewPrivateKey(name, role, seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSign(t testing.TB, k *keys.PrivateKey, d Domain, msg []byte) []byte {
	t.Helper()
	sig, err := Sign(k, d, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != Size {
		t.Fatalf("signature is %d bytes, want %d", len(sig), Size)
	}
	return sig
}

// checkInvalid reports an error unless err is an *InvalidSignatureError
// for key k in domain d.
func checkInvalid(t testing.TB, what string, err error, k *keys.PublicKey, d Domain) {
	t.Helper()
	var ie *InvalidSignatureError
	switch {
	case err == nil:
		t.Errorf("%s: verified, want *InvalidSignatureError", what)
	case !errors.As(err, &ie):
		t.Errorf("%s: error %v (%T), want *InvalidSignatureError", what, err, err)
	case ie.Key != k.String() || ie.Domain != d:
		t.Errorf("%s: error names key %s, domain %q; want %s, %q", what, ie.Key, ie.Domain, k, d)
	case err.Error() != "signing: invalid "+string(d)+" signature by key "+k.String():
		t.Errorf("%s: error message %q", what, err)
	}
}

func TestSignVerify(t *testing.T) {
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	for _, msg := range [][]byte{nil, {}, []byte("manifest"), bytes.Repeat([]byte{0}, 1000)} {
		for _, d := range []Domain{Manifest, MirrorList, "a", "future domain"} {
			sig := mustSign(t, k, d, msg)
			if err := Verify(k.Public(), d, msg, sig); err != nil {
				t.Errorf("Verify(%q, %q): %v", d, msg, err)
			}
			// Ed25519 is deterministic.
			if again := mustSign(t, k, d, msg); !bytes.Equal(again, sig) {
				t.Errorf("Sign(%q, %q) twice gave different signatures", d, msg)
			}
			// The signature is plain Ed25519 over the prefixed message.
			full := append([]byte("samizdat signature v1\x00"+string(d)+"\x00"), msg...)
			if !bytes.Equal(message(d, msg), full) || !ed25519.Verify(k.Public().Ed25519(), full, sig) {
				t.Errorf("signature in domain %q is not Ed25519 over %q", d, full)
			}
		}
	}
}

// TestDomainSeparation: a signature is good for one domain and one message.
func TestDomainSeparation(t *testing.T) {
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	pub := k.Public()
	msg := []byte("the manifest bytes")
	domains := []Domain{Manifest, MirrorList, "bundle", "bundle manifest ", "Bundle manifest", "mirror"}
	for _, signed := range domains {
		sig := mustSign(t, k, signed, msg)
		for _, d := range domains {
			err := Verify(pub, d, msg, sig)
			if d == signed {
				if err != nil {
					t.Errorf("Verify in the signing domain %q: %v", d, err)
				}
				continue
			}
			checkInvalid(t, "signature in domain "+string(signed)+" verified in "+string(d), err, pub, d)
		}
		for _, other := range [][]byte{nil, []byte("the manifest bytes "), []byte("the manifest byteS"), msg[1:]} {
			checkInvalid(t, "signature on another message", Verify(pub, signed, other, sig), pub, signed)
		}
	}

	// Moving bytes between the domain and the message: the NUL after the
	// domain keeps "bundle" + " manifest..." from being "bundle manifest".
	sig0 := mustSign(t, k, "bundle", append([]byte(" manifest"), msg...))
	checkInvalid(t, "domain/message boundary moved", Verify(pub, Manifest, msg, sig0), pub, Manifest)
	sig := mustSign(t, k, "bundle", append([]byte(" manifest\x00"), msg...))
	checkInvalid(t, "domain/message boundary moved", Verify(pub, Manifest, msg, sig), pub, Manifest)
	sig = mustSign(t, k, Manifest, msg)
	checkInvalid(t, "domain/message boundary moved", Verify(pub, "bundle", append([]byte(" manifest\x00"), msg...), sig), pub, "bundle")

	// A raw Ed25519 signature of the message (what keys.PrivateKey.Sign,
	// the note signer, makes) is not a signature in any domain, and a
	// domain signature is not a raw one.
	raw, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range domains {
		checkInvalid(t, "raw signature in domain "+string(d), Verify(pub, d, msg, raw), pub, d)
	}
	if verify(pub.Ed25519(), msg, mustSign(t, k, Manifest, msg)) {
		t.Error("a domain signature verifies as a raw signature of the message")
	}
	// Nor is a signed message ever note text: it holds NUL bytes.
	if _, err := note.Open(append(message(Manifest, msg), "\n\n— x AAAAAAAA\n"...), note.VerifierList(pub)); err == nil {
		t.Error("a signed message opened as a note")
	}

	// Another key's signature does not verify.
	other := testKey(t, "example.org/signing-2", keys.RoleSigning)
	checkInvalid(t, "other key's signature", Verify(pub, Manifest, msg, mustSign(t, other, Manifest, msg)), pub, Manifest)
	// The same key under another name is another key to the error, but
	// the signature is the key's.
	renamed, err := keys.NewPublicKey("renamed", pub.Raw())
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(renamed, Manifest, msg, mustSign(t, k, Manifest, msg)); err != nil {
		t.Errorf("Verify with the renamed key: %v", err)
	}
}

// TestSignatureMutations: every bit flip, truncation and extension of a
// signature is refused.
func TestSignatureMutations(t *testing.T) {
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	pub := k.Public()
	msg := []byte("the manifest bytes")
	sig := mustSign(t, k, Manifest, msg)
	n := 0
	for i := range sig {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(sig)
			bad[i] ^= 1 << bit
			checkInvalid(t, "flipped signature", Verify(pub, Manifest, msg, bad), pub, Manifest)
			n++
		}
	}
	for i := 0; i < len(sig); i++ {
		checkInvalid(t, "truncated signature", Verify(pub, Manifest, msg, sig[:i]), pub, Manifest)
		n++
	}
	for _, extra := range []string{"\x00", "x", strings.Repeat("\x00", 64)} {
		checkInvalid(t, "extended signature", Verify(pub, Manifest, msg, append(bytes.Clone(sig), extra...)), pub, Manifest)
		n++
	}
	// S + L: the same signature with a non-canonical S (malleability).
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	malleated := bytes.Clone(sig)
	var carry uint16
	for i := range 32 {
		s := uint16(malleated[32+i]) + uint16(l[i]) + carry
		malleated[32+i], carry = byte(s), s>>8
	}
	if carry == 0 {
		checkInvalid(t, "S + L", Verify(pub, Manifest, msg, malleated), pub, Manifest)
		n++
	}
	if n < len(sig)*9+3 {
		t.Errorf("tried %d mutations", n)
	}
}

func TestRootKeyRefused(t *testing.T) {
	root := testKey(t, "example.org", keys.RoleRoot)
	for _, d := range []Domain{Manifest, MirrorList} {
		sig, err := Sign(root, d, []byte("msg"))
		if !errors.Is(err, ErrRootKey) || sig != nil {
			t.Errorf("Sign with a root key in %q = %x, %v; want ErrRootKey", d, sig, err)
		}
	}
	if !strings.HasPrefix(ErrRootKey.Error(), "signing: ") {
		t.Errorf("ErrRootKey = %q", ErrRootKey)
	}
}

func TestBadDomain(t *testing.T) {
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	sig := mustSign(t, k, Manifest, []byte("msg"))
	for _, tc := range []struct {
		d   Domain
		err string
	}{
		{"", "signing: empty domain"},
		{"\x00", "contains NUL"},
		{"bundle manifest\x00", "contains NUL"},
		{"bundle\x00manifest", "contains NUL"},
	} {
		_, err := Sign(k, tc.d, []byte("msg"))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Sign in domain %q: %v, want %q", tc.d, err, tc.err)
		}
		err = Verify(k.Public(), tc.d, []byte("msg"), sig)
		var ie *InvalidSignatureError
		if err == nil || !strings.Contains(err.Error(), tc.err) || errors.As(err, &ie) {
			t.Errorf("Verify in domain %q: %v, want %q", tc.d, err, tc.err)
		}
	}
}

func TestVerifyRaw(t *testing.T) {
	k := testKey(t, "a", keys.RoleSigning)
	msg := []byte("m")
	sig := ed25519.Sign(k.Ed25519(), msg)
	for _, pub := range [][]byte{nil, {}, k.Public().Raw()[:31], append(k.Public().Raw(), 0)} {
		if verify(pub, msg, sig) {
			t.Errorf("verify with a %d-byte key succeeded", len(pub))
		}
	}
	if !verify(k.Public().Raw(), msg, sig) {
		t.Error("verify refused a good signature")
	}
}

// TestConcurrent signs and verifies from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			msg := []byte{byte(i)}
			for range 50 {
				sig, err := Sign(k, Manifest, msg)
				if err == nil {
					err = Verify(k.Public(), Manifest, msg, sig)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
