package signing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

// signingVectors is the layout of testdata/vectors.json: domain-separated
// signatures (FORMAT.md, "Domain-separated signatures") of fixed messages by
// a key made from a fixed seed. An unknown field fails the test.
type signingVectors struct {
	Comment    []string         `json:"comment"`
	Key        keyVector        `json:"key"`
	Signatures []sigVector      `json:"signatures"`
	Invalid    []invalidVector  `json:"invalid"`
	RootKey    keyVector        `json:"root_key"`
	RootSign   []rootSignVector `json:"root_sign"`
}

type keyVector struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Seed      string `json:"seed"`       // hex of the 32-byte Ed25519 seed
	PublicKey string `json:"public_key"` // text form
}

type sigVector struct {
	Domain        string `json:"domain"`
	Message       string `json:"message"`        // hex
	SignedMessage string `json:"signed_message"` // hex: what Ed25519 signs
	Signature     string `json:"signature"`      // hex, 64 bytes
}

type invalidVector struct {
	Comment   string `json:"comment"`
	Domain    string `json:"domain"`
	Message   string `json:"message"`   // hex
	Signature string `json:"signature"` // hex
	Error     string `json:"error"`
}

// rootSignVector: a root key asked to sign in a domain is refused.
type rootSignVector struct {
	Domain  string `json:"domain"`
	Message string `json:"message"` // hex
	Error   string `json:"error"`
}

func buildVectors(t testing.TB) *signingVectors {
	v := &signingVectors{Comment: []string{
		"Test vectors for samizdat's domain-separated Ed25519 signatures (FORMAT.md).",
		"signed_message = \"samizdat signature v1\" || 0x00 || domain || 0x00 || message; the seed is SHA-256(\"samizdat test seed \" || name).",
		"Regenerate with: go test ./signing -run TestVectors -update",
	}}
	k := testKey(t, "example.org/signing-1", keys.RoleSigning)
	root := testKey(t, "example.org", keys.RoleRoot)
	kv := func(k *keys.PrivateKey) keyVector {
		return keyVector{Name: k.Name(), Role: string(k.Role()), Seed: hex.EncodeToString(k.Ed25519().Seed()), PublicKey: k.Public().String()}
	}
	v.Key, v.RootKey = kv(k), kv(root)
	msgs := [][]byte{{}, []byte("SZM1 manifest"), {0, 1, 2, 0xff}, bytes.Repeat([]byte("x"), 300)}
	for _, d := range []Domain{Manifest, MirrorList} {
		for _, m := range msgs {
			v.Signatures = append(v.Signatures, sigVector{
				Domain: string(d), Message: hex.EncodeToString(m), SignedMessage: hex.EncodeToString(message(d, m)),
				Signature: hex.EncodeToString(mustSign(t, k, d, m)),
			})
		}
	}
	m := []byte("SZM1 manifest")
	good := mustSign(t, k, Manifest, m)
	flipped := bytes.Clone(good)
	flipped[40] ^= 0x10
	other := mustSign(t, testKey(t, "example.org/signing-2", keys.RoleSigning), Manifest, m)
	raw, err := k.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	hx := hex.EncodeToString
	v.Invalid = []invalidVector{
		{"manifest signature checked as a mirror list", string(MirrorList), hx(m), hx(good), "signing: invalid mirror list signature by key example.org/signing-1+"},
		{"another message", string(Manifest), hx([]byte("SZM1 manifest!")), hx(good), "invalid bundle manifest signature"},
		{"one bit of S flipped", string(Manifest), hx(m), hx(flipped), "invalid bundle manifest signature"},
		{"truncated", string(Manifest), hx(m), hx(good[:63]), "invalid bundle manifest signature"},
		{"one byte appended", string(Manifest), hx(m), hx(append(bytes.Clone(good), 0)), "invalid bundle manifest signature"},
		{"signature by another key", string(Manifest), hx(m), hx(other), "invalid bundle manifest signature"},
		{"plain Ed25519 signature of the message, without the prefix", string(Manifest), hx(m), hx(raw), "invalid bundle manifest signature"},
		{"empty domain", "", hx(m), hx(good), "signing: empty domain"},
		{"domain with NUL", "bundle manifest\x00", hx(m), hx(good), "contains NUL"},
	}
	v.RootSign = []rootSignVector{
		{string(Manifest), hx(m), ErrRootKey.Error()},
		{string(MirrorList), hx(m), ErrRootKey.Error()},
	}
	return v
}

func encodeVectors(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// checkVectors runs the vectors through the code from their inputs.
func checkVectors(t *testing.T, v *signingVectors) {
	key := func(kv keyVector) *keys.PrivateKey {
		k, err := keys.NewPrivateKey(kv.Name, keys.Role(kv.Role), mustHex(t, kv.Seed))
		if err != nil {
			t.Fatal(err)
		}
		if k.Public().String() != kv.PublicKey {
			t.Errorf("key %s: public key %s, want %s", kv.Name, k.Public(), kv.PublicKey)
		}
		if p, err := keys.ParsePublicKey(kv.PublicKey); err != nil || !p.Equal(k.Public()) {
			t.Errorf("key %s: ParsePublicKey: %v", kv.Name, err)
		}
		return k
	}
	k, root := key(v.Key), key(v.RootKey)
	for _, sv := range v.Signatures {
		d, msg := Domain(sv.Domain), mustHex(t, sv.Message)
		if got := hex.EncodeToString(message(d, msg)); got != sv.SignedMessage {
			t.Errorf("%s %s: signed message %s, want %s", d, sv.Message, got, sv.SignedMessage)
		}
		sig, err := Sign(k, d, msg)
		if err != nil || hex.EncodeToString(sig) != sv.Signature {
			t.Errorf("%s %s: Sign = %x, %v; want %s", d, sv.Message, sig, err, sv.Signature)
		}
		if err := Verify(k.Public(), d, msg, mustHex(t, sv.Signature)); err != nil {
			t.Errorf("%s %s: Verify: %v", d, sv.Message, err)
		}
		if !verify(k.Public().Ed25519(), mustHex(t, sv.SignedMessage), mustHex(t, sv.Signature)) {
			t.Errorf("%s %s: not an Ed25519 signature of the signed message", d, sv.Message)
		}
	}
	for _, iv := range v.Invalid {
		err := Verify(k.Public(), Domain(iv.Domain), mustHex(t, iv.Message), mustHex(t, iv.Signature))
		if err == nil || !strings.Contains(err.Error(), iv.Error) {
			t.Errorf("invalid %q: Verify = %v, want an error containing %q", iv.Comment, err, iv.Error)
		}
	}
	for _, rv := range v.RootSign {
		sig, err := Sign(root, Domain(rv.Domain), mustHex(t, rv.Message))
		if err == nil || sig != nil || !strings.Contains(err.Error(), rv.Error) {
			t.Errorf("root key signing in %q: %x, %v; want an error containing %q", rv.Domain, sig, err, rv.Error)
		}
	}
}

func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	want := buildVectors(t)
	if *update {
		checkVectors(t, want)
		if t.Failed() {
			t.Fatal("not writing vectors that fail")
		}
		if err := os.WriteFile(path, encodeVectors(t, want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./signing -run TestVectors -update)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	got := &signingVectors{}
	if err := dec.Decode(got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: data after the vectors", path)
	}
	checkVectors(t, got)
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s differ from what the code generates; if the change is intended, run go test ./signing -run TestVectors -update", gv.Type().Field(i).Tag.Get("json"))
		}
	}
	if !bytes.Equal(data, encodeVectors(t, want)) {
		t.Errorf("%s is not formatted as -update writes it", path)
	}
	if len(got.Signatures) == 0 || len(got.Invalid) == 0 || len(got.RootSign) == 0 {
		t.Error("a section of the vectors is empty")
	}
}
