package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/mod/sumdb/note"
)

// textForm builds a public key's text form from FORMAT.md, independently of
// the package: NAME+HASH+BASE64(alg || key), HASH the first four bytes of
// SHA-256(NAME || "\n" || alg || key). With it the tests make texts whose
// hash is right but whose name, algorithm or point is not.
func textForm(name string, alg byte, raw []byte) string {
	data := append([]byte{alg}, raw...)
	h := sha256.Sum256(append([]byte(name+"\n"), data...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(data))
}

func TestPublicKeyRoundTrip(t *testing.T) {
	for _, name := range []string{"a", "example.org", "example.org/signing-1", "A.b_c-d/0", strings.Repeat("n", MaxNameLen)} {
		for _, role := range []Role{RoleRoot, RoleSigning} {
			k := testKey(t, name, role)
			pub := k.Public()
			text := pub.String()
			if want := textForm(name, 1, pub.Raw()); text != want {
				t.Errorf("String() = %q, FORMAT.md gives %q", text, want)
			}
			// The text form is note's verifier key, byte for byte.
			if want, err := note.NewEd25519VerifierKey(name, pub.Raw()); err != nil || text != want {
				t.Errorf("String() = %q, note.NewEd25519VerifierKey gives %q, %v", text, want, err)
			}
			for _, in := range []string{text, " " + text, text + "\n", "\t" + text + " \r\n"} {
				got, err := ParsePublicKey(in)
				if err != nil {
					t.Errorf("ParsePublicKey(%q): %v", in, err)
					continue
				}
				if !got.Equal(pub) || got.Name() != name || got.KeyHash() != pub.KeyHash() || got.String() != text {
					t.Errorf("ParsePublicKey(%q) = %v, want %v", in, got, pub)
				}
			}
			if k.Role() != role || k.Name() != name || k.KeyHash() != pub.KeyHash() {
				t.Errorf("PrivateKey accessors: role %q name %q hash %08x", k.Role(), k.Name(), k.KeyHash())
			}
			sum := sha256.Sum256(pub.Raw())
			if id := pub.ID(); id != hex.EncodeToString(sum[:16]) || id != IDOf(pub.Raw()) || len(id) != 32 {
				t.Errorf("ID() = %q, want first 16 bytes of SHA-256 of the key", id)
			}
			if !bytes.Equal(pub.Raw(), k.Ed25519().Public().(ed25519.PublicKey)) || !pub.Ed25519().Equal(pub.Raw()) {
				t.Error("public key bytes do not match the private key")
			}
		}
	}
}

func TestPublicKeyRawIsCopy(t *testing.T) {
	pub := testKey(t, "a", RoleSigning).Public()
	text := pub.String()
	raw := pub.Raw()
	raw[0] ^= 1
	if pub.String() != text {
		t.Error("modifying Raw() changed the key")
	}
	in := testKey(t, "a", RoleSigning).Public().Raw()
	k, err := NewPublicKey("a", in)
	if err != nil {
		t.Fatal(err)
	}
	in[0] ^= 1
	if k.String() != text {
		t.Error("modifying NewPublicKey's argument changed the key")
	}
}

func TestPublicKeyEqual(t *testing.T) {
	a := testKey(t, "a", RoleSigning).Public()
	a2, _ := NewPublicKey("a", a.Raw())
	renamed, _ := NewPublicKey("b", a.Raw())
	other := testKey(t, "b", RoleSigning).Public()
	for _, tc := range []struct {
		o    *PublicKey
		want bool
	}{{a, true}, {a2, true}, {renamed, false}, {other, false}, {nil, false}} {
		if got := a.Equal(tc.o); got != tc.want {
			t.Errorf("Equal(%v) = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// plusKey returns a key whose base64 holds both '+' and '/', the
// characters that once confused the parser.
func plusKey(t testing.TB) *PublicKey {
	for i := 0; ; i++ {
		k := testKey(t, fmt.Sprintf("plus-%d", i), RoleSigning).Public()
		b64 := k.String()[len(k.Name())+len("+12345678+"):]
		if strings.Contains(b64, "+") && strings.Contains(b64, "/") {
			return k
		}
	}
}

// TestPublicKeyManglings is note_test.go's TestNewVerifier: every proper
// substring of a key's text and every single-bit flip and every byte
// replacement at every offset is refused.
func TestPublicKeyManglings(t *testing.T) {
	for _, pub := range []*PublicKey{
		testKey(t, "example.org", RoleRoot).Public(),
		plusKey(t),
	} {
		text := pub.String()
		if _, err := ParsePublicKey(text); err != nil {
			t.Fatalf("ParsePublicKey(%q): %v", text, err)
		}
		bad := func(s string) {
			t.Helper()
			if k, err := ParsePublicKey(s); err == nil {
				t.Errorf("ParsePublicKey(%q) = %v, want error", s, k)
			} else if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ParsePublicKey(%q): error %v does not wrap ErrInvalidKey", s, err)
			}
		}
		n := 0
		b := []byte(text)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				if i != 0 || j != len(b) {
					bad(string(b[i:j]))
					n++
				}
			}
		}
		for i := range b {
			orig := b[i]
			for bit := 0; bit < 8; bit++ {
				b[i] = orig ^ 1<<bit
				bad(string(b))
				n++
			}
			for c := 0; c < 256; c++ {
				if byte(c) != orig {
					b[i] = byte(c)
					bad(string(b))
					n++
				}
			}
			b[i] = orig
		}
		if want := (len(b)+1)*(len(b)+2)/2 - 1 + len(b)*(8+255); n != want {
			t.Errorf("tried %d manglings, want %d", n, want)
		}
	}
}

func TestPublicKeyBadText(t *testing.T) {
	pub := testKey(t, "example.org", RoleRoot).Public()
	raw := pub.Raw()
	text := pub.String()
	name, rest, _ := strings.Cut(text, "+")
	hash, b64, _ := strings.Cut(rest, "+")
	for _, tc := range []struct {
		text, err string
	}{
		{"", "want NAME+HASH+KEY"},
		{name, "want NAME+HASH+KEY"},
		{name + "+" + hash, "want NAME+HASH+KEY"},
		{"+" + hash + "+" + b64, "name must be"},
		{name + "++" + b64, "hash must be 8 lowercase hex digits"},
		{name + "+" + strings.ToUpper(hash) + "+" + b64, "hash must be 8 lowercase hex digits"},
		{name + "+0" + hash + "+" + b64, "hash must be 8 lowercase hex digits"},
		{name + "+" + hash[1:] + "+" + b64, "hash must be 8 lowercase hex digits"},
		{name + "+-" + hash[1:] + "+" + b64, "hash must be 8 lowercase hex digits"},
		{name + "+" + hash + "+" + b64 + "=", "base64 of 33 bytes"},
		// Strict base64 still skips CR and LF; the canonical check does not.
		{name + "+" + hash + "+" + b64[:40] + "\n" + b64[40:], "not in canonical form"},
		{name + "+" + hash + "+" + b64[:40] + "\r\n" + b64[40:], "not in canonical form"},
		{name + "+" + hash + "+" + base64.URLEncoding.EncodeToString(append([]byte{1}, raw...)), "base64 of 33 bytes"},
		{name + "+" + hash + "+" + base64.RawStdEncoding.EncodeToString(append([]byte{1}, raw...)[:32]), "base64 of 33 bytes"},
		{name + "+" + hash + "+" + b64 + "+", "base64 of 33 bytes"},
		{name + " +" + hash + "+" + b64, "only letters, digits"},
		{name + "+" + hash + " +" + b64, "hash must be"},
		{name + "+" + hash + "+ " + b64, "base64 of 33 bytes"},
		{"other+" + hash + "+" + b64, "hash does not match"},
		{name + "+" + fmt.Sprintf("%08x", pub.KeyHash()^1) + "+" + b64, "hash does not match"},
		// note_test.go's: wrong length key, and unknown algorithm, each
		// with the hash adjusted to match.
		{textForm(name, 1, append(bytes.Clone(raw), "BAD"...)), "base64 of 33 bytes"},
		{textForm(name, 1, raw[:31]), "base64 of 33 bytes"},
		{textForm(name, 2, raw), "unknown algorithm 2"},
		{textForm(name, 0, raw), "unknown algorithm 0"},
		// Bad names with a hash that matches them.
		{textForm("a b", 1, raw), "only letters, digits"},
		{textForm(".a", 1, raw), "only letters, digits"},
		{textForm(strings.Repeat("n", MaxNameLen+1), 1, raw), "name must be 1 to 64 bytes"},
	} {
		k, err := ParsePublicKey(tc.text)
		mustFail(t, fmt.Sprintf("ParsePublicKey(%q)", tc.text), err, tc.err)
		if err == nil {
			t.Errorf("  got %v", k)
		} else if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParsePublicKey(%q): error %v does not wrap ErrInvalidKey", tc.text, err)
		}
	}
}

// lowOrderEncodings are the encodings of edwards25519's small-order points,
// canonical and not, from C2SP CCTV's ed25519 README.
var lowOrderEncodings = []string{
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", //   y > p
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", //   y > p
	"0100000000000000000000000000000000000000000000000000000000000000", // order 1
	"0100000000000000000000000000000000000000000000000000000000000080", //   x = -0
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", //   y > p
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", //   x = -0, y > p
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", //   x = -0
}

// badPoints returns the small-order encodings and every encoding with
// y >= p (19 values of y, two signs), with a description.
func badPoints(t *testing.T) map[string]string {
	bad := map[string]string{}
	for _, h := range lowOrderEncodings {
		raw, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		bad[string(raw)] = "small order " + h
	}
	for i := 0; i < 19; i++ {
		for _, sign := range []byte{0, 0x80} {
			raw := bytes.Repeat([]byte{0xff}, 32)
			raw[0] = 0xed + byte(i) // little-endian p + i
			raw[31] = 0x7f | sign
			bad[string(raw)] = fmt.Sprintf("y = p+%d, sign %d", i, sign>>7)
		}
	}
	return bad
}

func TestCheckPointRefuses(t *testing.T) {
	for raw, why := range badPoints(t) {
		if err := CheckPoint([]byte(raw)); err == nil || !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CheckPoint(%x) (%s) = %v, want ErrInvalidKey", raw, why, err)
		}
		if k, err := NewPublicKey("bad", []byte(raw)); err == nil {
			t.Errorf("NewPublicKey(%x) (%s) = %v, want error", raw, why, k)
		}
		// A text form whose hash is right is refused for the point.
		text := textForm("bad", 1, []byte(raw))
		if k, err := ParsePublicKey(text); err == nil || strings.Contains(err.Error(), "hash") {
			t.Errorf("ParsePublicKey(%q) (%s) = %v, %v; want a point error", text, why, k, err)
		}
	}
	// One of each reason, with its message.
	for _, tc := range []struct{ hex, err string }{
		{"0100000000000000000000000000000000000000000000000000000000000000", "point of small order"},
		{"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "point of small order"},
		{"0100000000000000000000000000000000000000000000000000000000000080", "non-canonical point encoding"},
		{"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "non-canonical point encoding"},
		{"0200000000000000000000000000000000000000000000000000000000000000", "not a point on the curve"},
		{"", "0 bytes, want 32"},
		{"00", "1 bytes, want 32"},
		{strings.Repeat("00", 33), "33 bytes, want 32"},
	} {
		raw, _ := hex.DecodeString(tc.hex)
		mustFail(t, fmt.Sprintf("CheckPoint(%s)", tc.hex), CheckPoint(raw), tc.err)
	}
}

// TestCheckPointAccepts pins what CheckPoint lets through: ordinary keys,
// and keys with a small-order component on top of a prime-order one, which
// no blocklist can catch (FORMAT.md refuses only 8·A = identity).
func TestCheckPointAccepts(t *testing.T) {
	for i := 0; i < 100; i++ {
		raw := testKey(t, fmt.Sprint(i), RoleSigning).Public().Raw()
		if err := CheckPoint(raw); err != nil {
			t.Fatalf("CheckPoint(%x): %v", raw, err)
		}
	}
	a, err := new(edwards25519.Point).SetBytes(testKey(t, "a", RoleSigning).Public().Raw())
	if err != nil {
		t.Fatal(err)
	}
	t8, _ := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	p8, err := new(edwards25519.Point).SetBytes(t8)
	if err != nil {
		t.Fatal(err)
	}
	mixed := new(edwards25519.Point).Add(a, p8).Bytes()
	if err := CheckPoint(mixed); err != nil {
		t.Errorf("CheckPoint(A+T8) = %v; mixed-order keys are accepted today", err)
	}
}

func TestNames(t *testing.T) {
	raw := testKey(t, "a", RoleSigning).Public().Raw()
	for _, name := range []string{"a", "Z", "0", "0a", "example.org", "example.org/signing-1", "a_b-c.d/e", "a..", "a//", strings.Repeat("x", MaxNameLen)} {
		k, err := NewPublicKey(name, raw)
		if err != nil {
			t.Errorf("NewPublicKey(%q): %v", name, err)
			continue
		}
		if k2, err := ParsePublicKey(k.String()); err != nil || k2.Name() != name {
			t.Errorf("ParsePublicKey(%q) = %v, %v", k.String(), k2, err)
		}
		if _, err := NewPrivateKey(name, RoleSigning, testSeed(name)); err != nil {
			t.Errorf("NewPrivateKey(%q): %v", name, err)
		}
	}
	for _, name := range []string{
		"", strings.Repeat("x", MaxNameLen+1), ".a", "-a", "_a", "/a", "a+b", "a b", " a", "a ", "a\n", "a\t",
		"a\x00", "a:b", "a@b", "a\\b", "ä", "a\u2014b", "a\xff", "a=b", "a,b", "a*",
	} {
		if k, err := NewPublicKey(name, raw); err == nil || !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewPublicKey(%q) = %v, %v; want ErrInvalidKey", name, k, err)
		}
		if _, err := NewPrivateKey(name, RoleSigning, testSeed("a")); err == nil {
			t.Errorf("NewPrivateKey(%q) succeeded", name)
		}
		if k, err := ParsePublicKey(textForm(name, 1, raw)); err == nil {
			t.Errorf("ParsePublicKey with name %q = %v, want error", name, k)
		}
	}
}

// TestKeyHash checks the hash against SHA-256 directly and against note.
func TestKeyHash(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	h := sha256.Sum256(append([]byte("example.org\n\x01"), k.Public().Raw()...))
	if got, want := k.Public().KeyHash(), binary.BigEndian.Uint32(h[:4]); got != want {
		t.Errorf("KeyHash() = %08x, want %08x", got, want)
	}
	v, err := note.NewVerifier(k.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != k.Name() || v.KeyHash() != k.KeyHash() {
		t.Errorf("note.NewVerifier gives %s %08x, want %s %08x", v.Name(), v.KeyHash(), k.Name(), k.KeyHash())
	}
	// A renamed key is a different key: same bytes, different hash.
	renamed, err := NewPublicKey("example.net", k.Public().Raw())
	if err != nil {
		t.Fatal(err)
	}
	if renamed.KeyHash() == k.KeyHash() {
		t.Error("renaming a key kept its hash")
	}
}

// TestNoteInterop signs a note with a PrivateKey and opens it with note's
// own verifier, and the other way round.
func TestNoteInterop(t *testing.T) {
	k := testKey(t, "example.org/signing-1", RoleSigning)
	signed, err := note.Sign(&note.Note{Text: "hello\n"}, k)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(k.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Errorf("note.Open with note's verifier: %v", err)
	}
	if _, err := note.Open(signed, note.VerifierList(k.Public())); err != nil {
		t.Errorf("note.Open with PublicKey: %v", err)
	}
	other := testKey(t, "example.org/signing-2", RoleSigning).Public()
	if _, err := note.Open(signed, note.VerifierList(other)); err == nil {
		t.Error("note.Open with another key succeeded")
	}
	tampered := bytes.Replace(signed, []byte("hello"), []byte("hullo"), 1)
	if _, err := note.Open(tampered, note.VerifierList(k.Public())); err == nil {
		t.Error("note.Open of tampered note succeeded")
	}
	if k.Public().Verify([]byte("hello\n"), make([]byte, 64)) {
		t.Error("Verify accepted a zero signature")
	}
}

func TestGenerate(t *testing.T) {
	seed := testSeed("g")
	k, err := Generate(bytes.NewReader(seed), "g", RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewPrivateKey("g", RoleSigning, seed)
	if !k.Public().Equal(want.Public()) || !k.Ed25519().Equal(want.Ed25519()) {
		t.Error("Generate from a seed differs from NewPrivateKey of that seed")
	}
	if !bytes.Equal(k.seed(), seed) {
		t.Error("seed() does not return the seed")
	}
	a, err1 := Generate(nil, "g", RoleRoot)
	b, err2 := Generate(nil, "g", RoleRoot)
	if err1 != nil || err2 != nil || a.Public().Equal(b.Public()) {
		t.Errorf("Generate(nil) twice: %v, %v, equal keys %v", err1, err2, a != nil && b != nil && a.Public().Equal(b.Public()))
	}
	_, err = Generate(bytes.NewReader(seed[:31]), "g", RoleRoot)
	mustFail(t, "Generate from a short reader", err, "keys: reading randomness")
	_, err = Generate(nil, "g", "admin")
	mustFail(t, "Generate with role admin", err, `unknown role "admin"`)
	_, err = Generate(nil, "", RoleRoot)
	mustFail(t, "Generate with empty name", err, "name must be")
	_, err = NewPrivateKey("g", RoleRoot, seed[:31])
	mustFail(t, "NewPrivateKey with a short seed", err, "seed is 31 bytes, want 32")
	_, err = NewPrivateKey("g", RoleRoot, append(seed, 0))
	mustFail(t, "NewPrivateKey with a long seed", err, "seed is 33 bytes, want 32")
}
