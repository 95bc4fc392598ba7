package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

const vectorsFile = "vectors.json"

// keyVectors is the layout of testdata/vectors.json: the formats of
// FORMAT.md's "Keys", "Private key files" and "Key statement" sections as
// bytes, for other implementations and to catch any change of format here.
// Every field is checked; an unknown field fails the test.
type keyVectors struct {
	Comment           []string                 `json:"comment"`
	PublicKeys        []publicKeyVector        `json:"public_keys"`
	KeyFiles          []keyFileVector          `json:"key_files"`
	Statements        []statementVector        `json:"statements"`
	Updates           []updateVector           `json:"updates"`
	InvalidPublicKeys []invalidPublicKeyVector `json:"invalid_public_keys"`
	InvalidKeyFiles   []invalidKeyFileVector   `json:"invalid_key_files"`
	InvalidStatements []invalidStatementVector `json:"invalid_statements"`
}

type publicKeyVector struct {
	Name      string `json:"name"`
	Seed      string `json:"seed"`       // hex of the 32-byte Ed25519 seed
	Raw       string `json:"raw"`        // hex of the 32-byte public key
	KeyHash   string `json:"key_hash"`   // 8 lowercase hex digits
	ID        string `json:"id"`         // 32 lowercase hex digits
	PublicKey string `json:"public_key"` // the text form
}

type keyFileVector struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Seed       string `json:"seed"`
	Passphrase string `json:"passphrase"`
	ScryptLogN int    `json:"scrypt_log_n"`
	Rand       string `json:"rand"` // hex: the 16-byte salt, then the 24-byte nonce
	File       string `json:"file"`
}

type delegationVector struct {
	Key       string `json:"key"`
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after"`
}

type authorizeVector struct {
	Key   string `json:"key"`
	At    string `json:"at"`
	Error string `json:"error"` // a substring of the error, or "" when authorized
}

type statementVector struct {
	RootSeed  string             `json:"root_seed"`
	Publisher string             `json:"publisher"`
	Version   uint64             `json:"version"`
	Issued    string             `json:"issued"`
	Keys      []delegationVector `json:"keys"`
	Revoked   []string           `json:"revoked"`
	Text      string             `json:"text"`   // the note text
	Signed    string             `json:"signed"` // the signed note
	Authorize []authorizeVector  `json:"authorize"`
}

// updateVector applies statement To to the trust made from statement From
// (indexes into statements).
type updateVector struct {
	Comment string `json:"comment"`
	From    int    `json:"from"`
	To      int    `json:"to"`
	Error   string `json:"error"`
}

type invalidPublicKeyVector struct {
	Comment   string `json:"comment"`
	PublicKey string `json:"public_key"`
	Error     string `json:"error"`
}

type invalidKeyFileVector struct {
	Comment    string `json:"comment"`
	File       string `json:"file"`
	Passphrase string `json:"passphrase"`
	Error      string `json:"error"`
}

type invalidStatementVector struct {
	Comment string `json:"comment"`
	Root    string `json:"root"` // the pinned root public key
	Signed  string `json:"signed"`
	Error   string `json:"error"`
}

// buildVectors makes the vectors from fixed seeds and randomness.
func buildVectors(t testing.TB) *keyVectors {
	v := &keyVectors{Comment: []string{
		"Test vectors for samizdat's keys, key files and key statements (FORMAT.md).",
		"Seeds are SHA-256(\"samizdat test seed \" || name). Key files use scrypt cost 2^10 (the minimum; 2^15 is written by default).",
		"Regenerate with: go test ./keys -run TestVectors -update",
	}}
	f := newFixture(t)
	other := testKey(t, "example.net", RoleRoot)
	s4 := testKey(t, "example.org/signing-4", RoleSigning)
	for _, k := range []*PrivateKey{f.root, f.s1, f.s2, f.s3, other} {
		p := k.Public()
		v.PublicKeys = append(v.PublicKeys, publicKeyVector{
			Name: p.Name(), Seed: hex.EncodeToString(k.seed()), Raw: hex.EncodeToString(p.Raw()),
			KeyHash: fmt.Sprintf("%08x", p.KeyHash()), ID: p.ID(), PublicKey: p.String(),
		})
	}
	plus := plusKey(t)
	v.PublicKeys = append(v.PublicKeys, publicKeyVector{
		Name: plus.Name(), Seed: hex.EncodeToString(testSeed(plus.Name())), Raw: hex.EncodeToString(plus.Raw()),
		KeyHash: fmt.Sprintf("%08x", plus.KeyHash()), ID: plus.ID(), PublicKey: plus.String(),
	})

	for i, k := range []*PrivateKey{f.root, f.s1} {
		rnd := make([]byte, saltSize+24)
		for j := range rnd {
			rnd[j] = byte(j + 64*i)
		}
		file, err := Seal(k, testPassphrase, &SealOptions{ScryptLogN: MinScryptLogN, Rand: bytes.NewReader(rnd)})
		if err != nil {
			t.Fatal(err)
		}
		v.KeyFiles = append(v.KeyFiles, keyFileVector{
			Name: k.Name(), Role: string(k.Role()), Seed: hex.EncodeToString(k.seed()),
			Passphrase: string(testPassphrase), ScryptLogN: MinScryptLogN, Rand: hex.EncodeToString(rnd), File: string(file),
		})
	}

	// A publisher's history: issue, rotate, revoke; and an equivocating
	// second version 2.
	d30, d60 := t0.AddDate(0, 0, 30), t0.AddDate(0, 0, 60)
	year := t0.AddDate(1, 0, 0)
	hist := []*Statement{
		{Publisher: f.root.Public(), Version: 1, Issued: t0, Keys: []Delegation{
			{Key: f.s1.Public(), NotBefore: t0.Add(-time.Hour), NotAfter: year}}},
		{Publisher: f.root.Public(), Version: 2, Issued: d30, Keys: []Delegation{
			{Key: f.s1.Public(), NotBefore: t0.Add(-time.Hour), NotAfter: d30},
			{Key: f.s2.Public(), NotBefore: d30, NotAfter: year}}},
		{Publisher: f.root.Public(), Version: 3, Issued: d60, Keys: []Delegation{
			{Key: f.s2.Public(), NotBefore: d30, NotAfter: year},
			{Key: s4.Public(), NotBefore: d60, NotAfter: d60.AddDate(1, 0, 0)}},
			Revoked: []*PublicKey{f.s1.Public()}},
		{Publisher: f.root.Public(), Version: 2, Issued: d30, Keys: []Delegation{
			{Key: f.s3.Public(), NotBefore: d30, NotAfter: year}}},
	}
	auth := [][]authorizeVector{
		{
			{Key: f.s1.Public().String(), At: formatTime(t0.Add(-time.Hour)), Error: ""},
			{Key: f.s1.Public().String(), At: formatTime(year.Add(-time.Second)), Error: ""},
			{Key: f.s1.Public().String(), At: formatTime(year), Error: "was not valid at"},
			{Key: f.s1.Public().String(), At: formatTime(t0.Add(-time.Hour - time.Second)), Error: "was not valid at"},
			{Key: f.s2.Public().String(), At: formatTime(d30), Error: "is not delegated by publisher example.org"},
			{Key: f.root.Public().String(), At: formatTime(t0), Error: "is not delegated"},
		},
		{
			{Key: f.s1.Public().String(), At: formatTime(d30.Add(-time.Second)), Error: ""},
			{Key: f.s1.Public().String(), At: formatTime(d30), Error: "was not valid at"},
			{Key: f.s2.Public().String(), At: formatTime(d30), Error: ""},
		},
		{
			{Key: f.s1.Public().String(), At: formatTime(t0), Error: "was revoked by the publisher"},
			{Key: f.s2.Public().String(), At: formatTime(d60), Error: ""},
			{Key: s4.Public().String(), At: formatTime(d60.Add(-time.Second)), Error: "was not valid at"},
			{Key: s4.Public().String(), At: formatTime(d60), Error: ""},
		},
		{
			{Key: f.s3.Public().String(), At: formatTime(d30), Error: ""},
		},
	}
	for i, s := range hist {
		text, err := s.Text()
		if err != nil {
			t.Fatal(err)
		}
		sv := statementVector{
			RootSeed: hex.EncodeToString(f.root.seed()), Publisher: s.Publisher.String(), Version: s.Version,
			Issued: formatTime(s.Issued), Revoked: []string{}, Text: text, Signed: string(f.sign(t, s)), Authorize: auth[i],
		}
		for _, d := range s.Keys {
			sv.Keys = append(sv.Keys, delegationVector{Key: d.Key.String(), NotBefore: formatTime(d.NotBefore), NotAfter: formatTime(d.NotAfter)})
		}
		for _, k := range s.Revoked {
			sv.Revoked = append(sv.Revoked, k.String())
		}
		v.Statements = append(v.Statements, sv)
	}
	v.Updates = []updateVector{
		{"version 1 to 2", 0, 1, ""},
		{"version 2 to 3", 1, 2, ""},
		{"version 1 to 3, skipping 2", 0, 2, ""},
		{"the same statement again", 1, 1, ""},
		{"rollback from 3 to 1", 2, 0, "older than version 3 already seen (rollback)"},
		{"rollback from 3 to 2", 2, 1, "(rollback)"},
		{"two different statements with version 2", 1, 3, "two different statements carry version 2 (equivocation)"},
		{"the other version 2 after the first", 3, 1, "(equivocation)"},
	}

	// Invalid public keys.
	root := f.root.Public()
	raw := root.Raw()
	name, rest, _ := strings.Cut(root.String(), "+")
	hash, b64, _ := strings.Cut(rest, "+")
	identity := make([]byte, 32)
	identity[0] = 1
	negZero := bytes.Clone(identity)
	negZero[31] = 0x80
	v.InvalidPublicKeys = []invalidPublicKeyVector{
		{"hash of another name", "example.net+" + hash + "+" + b64, "hash does not match"},
		{"hash in upper case", name + "+" + strings.ToUpper(hash) + "+" + b64, "hash must be 8 lowercase hex digits"},
		{"identity point, hash matching", textForm("bad", 1, identity), "point of small order"},
		{"identity with x = -0, hash matching", textForm("bad", 1, negZero), "non-canonical point encoding"},
		{"algorithm 2, hash matching", textForm(name, 2, raw), "unknown algorithm 2"},
		{"name starting with '-', hash matching", textForm("-a", 1, raw), "only letters, digits and . _ - / allowed"},
		{"65-byte name, hash matching", textForm(strings.Repeat("a", 65), 1, raw), "name must be 1 to 64 bytes"},
		{"newline inside the base64", name + "+" + hash + "+" + b64[:20] + "\n" + b64[20:], "not in canonical form"},
		{"31-byte key, hash matching", textForm(name, 1, raw[:31]), "key data must be base64 of 33 bytes"},
	}

	// Invalid key files.
	file := v.KeyFiles[0].File
	lines := strings.SplitAfter(file, "\n")
	sealed := strings.TrimSuffix(strings.TrimPrefix(lines[4], "sealed "), "\n")
	v.InvalidKeyFiles = []invalidKeyFileVector{
		{"wrong passphrase", file, "correct horse battery stapler", "wrong passphrase, or the key file is damaged"},
		{"role line changed (it is authenticated)", strings.Replace(file, "role root", "role signing", 1), string(testPassphrase), "wrong passphrase, or the key file is damaged"},
		{"key line of another key (it is authenticated)", strings.Replace(file, lines[2], "key "+other.Public().String()+"\n", 1), string(testPassphrase), "wrong passphrase, or the key file is damaged"},
		{"scrypt cost 2^9", strings.Replace(file, "kdf scrypt 10 ", "kdf scrypt 9 ", 1), string(testPassphrase), "scrypt cost must be a number from 10 to 18"},
		{"scrypt cost 2^19", strings.Replace(file, "kdf scrypt 10 ", "kdf scrypt 19 ", 1), string(testPassphrase), "scrypt cost must be a number from 10 to 18"},
		{"CRLF line ends", strings.ReplaceAll(file, "\n", "\r\n"), string(testPassphrase), "not a samizdat secret key file"},
		{"CR inside the sealed base64", strings.Replace(file, sealed, sealed[:8]+"\r"+sealed[8:], 1), string(testPassphrase), "sealed data must be base64 of 72 bytes"},
		{"no final newline", strings.TrimSuffix(file, "\n"), string(testPassphrase), "missing final newline"},
	}

	// Invalid statements.
	s1text := v.Statements[0].Text
	signed := v.Statements[0].Signed
	named := *hist[0]
	named.Publisher = other.Public()
	tooMany := *hist[0]
	tooMany.Keys = nil
	for i := range MaxDelegations + 1 {
		tooMany.Keys = append(tooMany.Keys, Delegation{Key: testKey(t, fmt.Sprintf("example.org/k%d", i), RoleSigning).Public(), NotBefore: t0, NotAfter: year})
	}
	// One bit of the signature flipped, in canonical base64.
	sp := strings.LastIndex(signed, " ")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(signed[sp+1:], "\n"))
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	damaged := signed[:sp+1] + base64.StdEncoding.EncodeToString(sig) + "\n"
	v.InvalidStatements = []invalidStatementVector{
		{"signed by another root key", root.String(), string(signText(t, s1text, other)), "not signed by the pinned publisher key"},
		{"pinned root is another key", other.Public().String(), signed, "not signed by the pinned publisher key"},
		{"signature damaged", root.String(), damaged, "invalid signature for key example.org"},
		{"a second, unknown signature", root.String(), string(signText(t, s1text, f.root, other)), "not in canonical form"},
		{"version 01", root.String(), string(signText(t, strings.Replace(s1text, "version 1\n", "version 01\n", 1), f.root)), "version \"01\" is not a decimal number"},
		{"two spaces after key", root.String(), string(signText(t, strings.Replace(s1text, "\nkey ", "\nkey  ", 1), f.root)), "line 5: want \"key KEY FROM UNTIL\" lines"},
		{"trailing line", root.String(), string(signText(t, s1text+"comment\n", f.root)), "line 6: want"},
		{"names another publisher", root.String(), string(signText(t, rawText(&named), f.root)), "names publisher example.net"},
		{"17 signing keys", root.String(), string(signText(t, rawText(&tooMany), f.root)), "must list 1 to 16 signing keys, has 17"},
	}
	return v
}

// encodeVectors writes v as indented JSON without HTML escaping.
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

// loadVectors reads testdata/vectors.json strictly.
func loadVectors(t testing.TB) *keyVectors {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", vectorsFile))
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./keys -run TestVectors -update)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	v := &keyVectors{}
	if err := dec.Decode(v); err != nil {
		t.Fatalf("testdata/%s: %v", vectorsFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("testdata/%s: data after the vectors", vectorsFile)
	}
	return v
}

func TestVectors(t *testing.T) {
	want := buildVectors(t)
	if *update {
		checkVectors(t, want)
		if t.Failed() {
			t.Fatal("not writing vectors that fail")
		}
		if err := os.WriteFile(filepath.Join("testdata", vectorsFile), encodeVectors(t, want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := loadVectors(t)
	checkVectors(t, got)
	// The recorded vectors are what the code generates today.
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s differ from what the code generates; if the change is intended, run go test ./keys -run TestVectors -update", gv.Type().Field(i).Tag.Get("json"))
		}
	}
	data, _ := os.ReadFile(filepath.Join("testdata", vectorsFile))
	if !bytes.Equal(data, encodeVectors(t, want)) {
		t.Error("testdata/vectors.json is not formatted as -update writes it")
	}
	if len(got.PublicKeys) == 0 || len(got.KeyFiles) == 0 || len(got.Statements) == 0 || len(got.Updates) == 0 ||
		len(got.InvalidPublicKeys) == 0 || len(got.InvalidKeyFiles) == 0 || len(got.InvalidStatements) == 0 {
		t.Error("a section of the vectors is empty")
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func mustParseTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := parseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// checkVectors runs every vector through the code, from its recorded
// inputs, and compares the recorded outputs.
func checkVectors(t *testing.T, v *keyVectors) {
	for _, pv := range v.PublicKeys {
		k, err := NewPrivateKey(pv.Name, RoleSigning, mustHex(t, pv.Seed))
		if err != nil {
			t.Errorf("public key %s: %v", pv.Name, err)
			continue
		}
		p := k.Public()
		if p.String() != pv.PublicKey || hex.EncodeToString(p.Raw()) != pv.Raw || fmt.Sprintf("%08x", p.KeyHash()) != pv.KeyHash || p.ID() != pv.ID {
			t.Errorf("public key %s: generated %s %x %08x %s", pv.Name, p, p.Raw(), p.KeyHash(), p.ID())
		}
		if got, err := ParsePublicKey(pv.PublicKey); err != nil || !got.Equal(p) {
			t.Errorf("ParsePublicKey(%q) = %v, %v", pv.PublicKey, got, err)
		}
		if textForm(pv.Name, 1, mustHex(t, pv.Raw)) != pv.PublicKey {
			t.Errorf("public key %s: text form does not follow FORMAT.md", pv.Name)
		}
	}
	for _, kv := range v.KeyFiles {
		k, err := NewPrivateKey(kv.Name, Role(kv.Role), mustHex(t, kv.Seed))
		if err != nil {
			t.Errorf("key file %s: %v", kv.Name, err)
			continue
		}
		file, err := Seal(k, []byte(kv.Passphrase), &SealOptions{ScryptLogN: kv.ScryptLogN, Rand: bytes.NewReader(mustHex(t, kv.Rand))})
		if err != nil || string(file) != kv.File {
			t.Errorf("key file %s: Seal gives\n%s%v, want\n%s", kv.Name, file, err, kv.File)
		}
		got, err := OpenKeyFile([]byte(kv.File), []byte(kv.Passphrase))
		if err != nil || !bytes.Equal(got.seed(), k.seed()) || got.Role() != k.Role() || !got.Public().Equal(k.Public()) {
			t.Errorf("key file %s: OpenKeyFile: %v", kv.Name, err)
		}
	}
	for i, sv := range v.Statements {
		pub, err := ParsePublicKey(sv.Publisher)
		if err != nil {
			t.Errorf("statement %d: publisher: %v", i, err)
			continue
		}
		root, err := NewPrivateKey(pub.Name(), RoleRoot, mustHex(t, sv.RootSeed))
		if err != nil {
			t.Errorf("statement %d: root: %v", i, err)
			continue
		}
		s := &Statement{Publisher: pub, Version: sv.Version, Issued: mustParseTime(t, sv.Issued)}
		for _, d := range sv.Keys {
			k, err := ParsePublicKey(d.Key)
			if err != nil {
				t.Fatal(err)
			}
			s.Keys = append(s.Keys, Delegation{Key: k, NotBefore: mustParseTime(t, d.NotBefore), NotAfter: mustParseTime(t, d.NotAfter)})
		}
		for _, r := range sv.Revoked {
			k, err := ParsePublicKey(r)
			if err != nil {
				t.Fatal(err)
			}
			s.Revoked = append(s.Revoked, k)
		}
		if text, err := s.Text(); err != nil || text != sv.Text {
			t.Errorf("statement %d: Text() =\n%s%v\nwant\n%s", i, text, err, sv.Text)
		}
		if signed, err := s.Sign(root); err != nil || string(signed) != sv.Signed {
			t.Errorf("statement %d: Sign =\n%s%v\nwant\n%s", i, signed, err, sv.Signed)
		}
		trust, err := NewTrust(pub, []byte(sv.Signed))
		if err != nil {
			t.Errorf("statement %d: NewTrust: %v", i, err)
			continue
		}
		if trust.Statement().Version != sv.Version || len(trust.Statement().Keys) != len(sv.Keys) || len(trust.Statement().Revoked) != len(sv.Revoked) {
			t.Errorf("statement %d: opened %+v", i, trust.Statement())
		}
		for _, av := range sv.Authorize {
			k, err := ParsePublicKey(av.Key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := trust.Authorize(k.Raw(), mustParseTime(t, av.At))
			what := fmt.Sprintf("statement %d: Authorize(%s, %s)", i, k.Name(), av.At)
			if av.Error == "" {
				if err != nil || !got.Equal(k) {
					t.Errorf("%s = %v, %v", what, got, err)
				}
			} else {
				mustFail(t, what, err, av.Error)
			}
		}
	}
	for _, uv := range v.Updates {
		if uv.From >= len(v.Statements) || uv.To >= len(v.Statements) || uv.From < 0 || uv.To < 0 {
			t.Errorf("update %q: no such statement", uv.Comment)
			continue
		}
		from, to := v.Statements[uv.From], v.Statements[uv.To]
		root, err := ParsePublicKey(from.Publisher)
		if err != nil {
			t.Fatal(err)
		}
		trust, err := NewTrust(root, []byte(from.Signed))
		if err != nil {
			t.Errorf("update %q: %v", uv.Comment, err)
			continue
		}
		next, err := trust.Update([]byte(to.Signed))
		if uv.Error == "" {
			if err != nil || next.Statement().Version != to.Version {
				t.Errorf("update %q: %v", uv.Comment, err)
			}
		} else {
			mustFail(t, "update "+uv.Comment, err, uv.Error)
		}
	}
	for _, iv := range v.InvalidPublicKeys {
		k, err := ParsePublicKey(iv.PublicKey)
		mustFail(t, "invalid public key: "+iv.Comment, err, iv.Error)
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("invalid public key %s: %v does not wrap ErrInvalidKey", iv.Comment, err)
		}
		if k != nil {
			t.Errorf("invalid public key %s: got %v", iv.Comment, k)
		}
	}
	for _, iv := range v.InvalidKeyFiles {
		k, err := OpenKeyFile([]byte(iv.File), []byte(iv.Passphrase))
		mustFail(t, "invalid key file: "+iv.Comment, err, iv.Error)
		if k != nil {
			t.Errorf("invalid key file %s: got a key", iv.Comment)
		}
	}
	for _, iv := range v.InvalidStatements {
		root, err := ParsePublicKey(iv.Root)
		if err != nil {
			t.Errorf("invalid statement %s: root: %v", iv.Comment, err)
			continue
		}
		s, err := OpenStatement([]byte(iv.Signed), root)
		mustFail(t, "invalid statement: "+iv.Comment, err, iv.Error)
		if s != nil {
			t.Errorf("invalid statement %s: got %+v", iv.Comment, s)
		}
	}
}
