package signing

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/internal/corpus"

	"github.com/samizdat-news/samizdat/keys"
)

// The corpus tests run the public Ed25519 edge-case vectors (Wycheproof,
// C2SP CCTV, ed25519-speccheck, djb's sign.input as shipped with Go) through
// verify, the one function every signature check here rests on, and through
// keys.CheckPoint, which every public key passes before it is used. They pin
// today's results: a change of ed25519 implementation, or of key validation,
// that changes any verdict fails them. The corpus lives outside the module,
// in ../shared/corpus; the tests skip when it is absent, and fail then
// under SAMIZDAT_REQUIRE_CORPUS=1 (see internal/corpus).

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// wycheproofFile is the part of a Wycheproof EdDSA verify file the tests
// use. The v1 files name the key publicKey, the legacy v0 files key.
type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKey *struct {
			Curve string `json:"curve"`
			PK    string `json:"pk"`
		} `json:"publicKey"`
		Key *struct {
			Curve string `json:"curve"`
			PK    string `json:"pk"`
		} `json:"key"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// wycheproofExceptions lists the vectors, by tcId, where samizdat's verdict
// (key validation, then verify) differs from Wycheproof's. It is empty:
// every "valid" vector's key passes keys.CheckPoint and its signature
// verifies, and every "invalid" one is refused. A vector added here needs a
// comment saying why we disagree.
var wycheproofExceptions = map[string]map[int]string{
	"ed25519_test.json": {},
	"eddsa_test.json":   {},
}

func TestWycheproof(t *testing.T) {
	for _, tc := range []struct {
		file string
		// Expected counts, so that a truncated or replaced file fails.
		tests, valid, invalid, keyRefused int
	}{
		{file: "ed25519_test.json", tests: 151, valid: 88, invalid: 63},
		{file: "eddsa_test.json", tests: 145, valid: 84, invalid: 61},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var f wycheproofFile
			if err := json.Unmarshal(corpus.Read(t, "wycheproof", tc.file), &f); err != nil {
				t.Fatal(err)
			}
			if f.Algorithm != "EDDSA" {
				t.Fatalf("algorithm %q, want EDDSA", f.Algorithm)
			}
			exceptions := wycheproofExceptions[tc.file]
			var run, valid, invalid, keyRefused, refusedByVerify int
			for _, g := range f.TestGroups {
				key := g.PublicKey
				if key == nil {
					key = g.Key
				}
				if key == nil {
					t.Fatal("test group without a public key")
				}
				if key.Curve != "edwards25519" {
					t.Fatalf("curve %q, want edwards25519", key.Curve)
				}
				pk := unhex(t, key.PK)
				keyErr := keys.CheckPoint(pk)
				_, newErr := keys.NewPublicKey("wycheproof", pk)
				if (keyErr == nil) != (newErr == nil) {
					t.Errorf("key %s: CheckPoint says %v, NewPublicKey says %v", key.PK, keyErr, newErr)
				}
				for _, v := range g.Tests {
					run++
					msg, sig := unhex(t, v.Msg), unhex(t, v.Sig)
					verified := len(pk) == ed25519.PublicKeySize && verify(pk, msg, sig)
					accepted := keyErr == nil && verified
					if keyErr != nil {
						keyRefused++
					} else if !verified {
						refusedByVerify++
					}
					var want bool
					switch v.Result {
					case "valid":
						valid++
						want = true
					case "invalid":
						invalid++
					default:
						t.Fatalf("tcId %d: result %q, want valid or invalid", v.TcID, v.Result)
					}
					why, excepted := exceptions[v.TcID]
					switch {
					case accepted != want && !excepted:
						t.Errorf("tcId %d (%s, flags %v): accepted=%v (key error: %v), Wycheproof says %s", v.TcID, v.Comment, v.Flags, accepted, keyErr, v.Result)
					case accepted == want && excepted:
						t.Errorf("tcId %d is listed as an exception (%s) but now agrees with Wycheproof; remove it", v.TcID, why)
					}
					// A key refused by validation must not be the only
					// thing between an invalid signature and acceptance
					// for "valid" vectors: none of them has a bad key.
					if want && keyErr != nil && !excepted {
						t.Errorf("tcId %d: valid vector's key refused: %v", v.TcID, keyErr)
					}
				}
			}
			if run != tc.tests || run != f.NumberOfTests || valid != tc.valid || invalid != tc.invalid {
				t.Errorf("ran %d vectors (%d valid, %d invalid), want %d (%d valid, %d invalid); file says %d",
					run, valid, invalid, tc.tests, tc.valid, tc.invalid, f.NumberOfTests)
			}
			if keyRefused != tc.keyRefused {
				t.Errorf("%d vectors refused by key validation, want %d", keyRefused, tc.keyRefused)
			}
			if refusedByVerify != tc.invalid-tc.keyRefused {
				t.Errorf("%d vectors refused by verify, want %d", refusedByVerify, tc.invalid-tc.keyRefused)
			}
		})
	}
}

// TestSignInput runs the 128 lines of djb's sign.input that Go ships as
// crypto/ed25519/testdata/sign.input.gz. Each line is
// "sk||pk:pk:msg:sig||msg:" in hex, where sk is the 32-byte seed.
func TestSignInput(t *testing.T) {
	zr, err := gzip.NewReader(strings.NewReader(string(corpus.Read(t, "ed25519", "go-testdata", "sign.input.gz"))))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		parts := strings.Split(sc.Text(), ":")
		if len(parts) != 5 || parts[4] != "" {
			t.Fatalf("line %d: want 4 fields and a trailing colon", lines)
		}
		priv, pub, msg, sigMsg := unhex(t, parts[0]), unhex(t, parts[1]), unhex(t, parts[2]), unhex(t, parts[3])
		if len(priv) != ed25519.PrivateKeySize || len(sigMsg) != ed25519.SignatureSize+len(msg) {
			t.Fatalf("line %d: bad field lengths", lines)
		}
		seed, sig := priv[:ed25519.SeedSize], sigMsg[:ed25519.SignatureSize]
		k, err := keys.NewPrivateKey("sign-input", keys.RoleSigning, seed)
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		if !k.Public().Ed25519().Equal(ed25519.PublicKey(pub)) {
			t.Errorf("line %d: public key from seed %x, want %x", lines, k.Public().Ed25519(), pub)
		}
		if err := keys.CheckPoint(pub); err != nil {
			t.Errorf("line %d: CheckPoint: %v", lines, err)
		}
		// keys.PrivateKey.Sign signs raw bytes (it is the note.Signer).
		got, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(sig) {
			t.Errorf("line %d: signature\n%x, want\n%x", lines, got, sig)
		}
		if !verify(pub, msg, sig) {
			t.Errorf("line %d: verify refused the signature", lines)
		}
		// The same signature is not a domain-separated signature of msg.
		if err := Verify(k.Public(), Manifest, msg, sig); err == nil {
			t.Errorf("line %d: raw signature accepted by Verify in domain %q", lines, Manifest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != 128 {
		t.Errorf("ran %d lines, want 128", lines)
	}
}

type cctvVector struct {
	Number int      `json:"number"`
	Key    string   `json:"key"`
	Sig    string   `json:"sig"`
	Msg    string   `json:"msg"` // plain text, not hex
	Flags  []string `json:"flags"`
}

// TestCCTV runs C2SP CCTV's 914 edge-case vectors. samizdat refuses every
// public key that is of small order or non-canonically encoded
// (keys.CheckPoint), then verifies with crypto/ed25519, which is
// cofactorless and refuses non-canonical R. The counts pin both steps.
func TestCCTV(t *testing.T) {
	var vs []cctvVector
	if err := json.Unmarshal(corpus.Read(t, "ed25519", "cctv", "ed25519vectors.json"), &vs); err != nil {
		t.Fatal(err)
	}
	var (
		keyRefused, verified, accepted, reencodedVerified int
		outcomes                                          strings.Builder
	)
	for i, v := range vs {
		if v.Number != i {
			t.Fatalf("vector %d is numbered %d", i, v.Number)
		}
		pk, sig, msg := unhex(t, v.Key), unhex(t, v.Sig), []byte(v.Msg)
		has := func(f string) bool { return slices.Contains(v.Flags, f) }
		keyErr := keys.CheckPoint(pk)
		ok := verify(pk, msg, sig)

		// The rule, per flag: a low-order or non-canonical A is refused;
		// any other A (including one with a low-order component, which
		// no blocklist can catch) is accepted.
		badA := has("low_order_A") || has("non_canonical_A")
		if badA != (keyErr != nil) {
			t.Errorf("vector %d (flags %v): CheckPoint = %v", i, v.Flags, keyErr)
		}
		// crypto/ed25519 refuses non-canonical R and, being cofactorless,
		// a low-order residue; it accepts everything else (CCTV's
		// README). reencoded_k vectors hash the canonical encoding of a
		// non-canonical A or R where Go hashes the bytes as given; they
		// verify only by coincidence (a low-order A absorbs any k), so
		// they are counted, not predicted, and each of them has a bad A
		// or R, so none may be accepted in all.
		if has("reencoded_k") {
			if ok {
				reencodedVerified++
			}
			if ok && keyErr == nil {
				t.Errorf("vector %d (flags %v): accepted", i, v.Flags)
			}
		} else if wantOK := !has("non_canonical_R") && !has("low_order_residue"); ok != wantOK {
			t.Errorf("vector %d (flags %v): verify = %v, want %v", i, v.Flags, ok, wantOK)
		}
		if keyErr != nil {
			keyRefused++
		}
		if ok {
			verified++
		}
		if ok && keyErr == nil {
			accepted++
		}
		fmt.Fprintf(&outcomes, "%d:%t:%t\n", i, keyErr == nil, ok)
	}
	if len(vs) != 914 {
		t.Errorf("ran %d vectors, want 914", len(vs))
	}
	// CCTV's README: Go's crypto/ed25519 accepts 208 of the 914.
	if verified != 208 {
		t.Errorf("verify accepted %d vectors, want 208", verified)
	}
	if keyRefused != cctvKeyRefused {
		t.Errorf("CheckPoint refused %d keys, want %d", keyRefused, cctvKeyRefused)
	}
	if reencodedVerified != cctvReencodedVerified {
		t.Errorf("verify accepted %d reencoded_k vectors, want %d", reencodedVerified, cctvReencodedVerified)
	}
	if accepted != cctvAccepted {
		t.Errorf("accepted %d vectors in all (key and signature), want %d", accepted, cctvAccepted)
	}
	// The outcome of every vector, hashed: any change of verdict fails.
	if sum := fmt.Sprintf("%x", sha256.Sum256([]byte(outcomes.String()))); sum != cctvOutcomes {
		t.Errorf("outcomes hash %s, want %s", sum, cctvOutcomes)
	}
}

// Pinned CCTV results: 526 of the 914 keys are of small order or
// non-canonical; 86 vectors pass both key validation and verify.
const (
	cctvKeyRefused        = 526
	cctvReencodedVerified = 10
	cctvAccepted          = 86
	cctvOutcomes          = "2476a33b57ffe7e73de41b5d0d4d83d7d4b526f0cd1ccd05efdb1a4c920b7f23"
)

type speccheckCase struct {
	Message   string `json:"message"` // hex
	PubKey    string `json:"pub_key"`
	Signature string `json:"signature"`
}

// TestSpeccheck runs the 12 cases of "Taming the many EdDSAs"
// (novifinancial/ed25519-speccheck). verify must give exactly the verdicts
// results.md records for Go; CheckPoint additionally refuses the keys of
// cases 0 and 1 (small order) and 10 and 11 (non-canonical encodings), so
// that of Go's six accepted cases only 2 and 3 are accepted by samizdat.
func TestSpeccheck(t *testing.T) {
	var cases []speccheckCase
	if err := json.Unmarshal(corpus.Read(t, "ed25519", "speccheck", "cases.json"), &cases); err != nil {
		t.Fatal(err)
	}
	// Go's row of results.md: "| V | V | ... |".
	var goRow []bool
	for line := range strings.Lines(string(corpus.Read(t, "ed25519", "speccheck", "results.md"))) {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.TrimSpace(cells[1]) != "Go" {
			continue
		}
		for _, c := range cells[2 : len(cells)-1] {
			goRow = append(goRow, strings.TrimSpace(c) == "V")
		}
	}
	if len(cases) != 12 || len(goRow) != 12 {
		t.Fatalf("%d cases and %d results for Go, want 12 and 12", len(cases), len(goRow))
	}
	var refused, accepted []int
	for i, c := range cases {
		pk, msg, sig := unhex(t, c.PubKey), unhex(t, c.Message), unhex(t, c.Signature)
		if ok := verify(pk, msg, sig); ok != goRow[i] {
			t.Errorf("case %d: verify = %v, results.md says Go gives %v", i, ok, goRow[i])
		}
		keyErr := keys.CheckPoint(pk)
		if keyErr != nil {
			refused = append(refused, i)
		}
		if keyErr == nil && verify(pk, msg, sig) {
			accepted = append(accepted, i)
		}
	}
	if want := []int{0, 1, 10, 11}; !slices.Equal(refused, want) {
		t.Errorf("CheckPoint refused the keys of cases %v, want %v", refused, want)
	}
	if want := []int{2, 3}; !slices.Equal(accepted, want) {
		t.Errorf("accepted cases %v in all, want %v", accepted, want)
	}
}
