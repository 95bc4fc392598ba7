//go:build linux

package verifier

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"
	"github.com/samizdat-news/samizdat/keys"
)

// edVector is one Ed25519 verification from the corpus, with Go's
// verdicts: crypto/ed25519's, and keys.CheckPoint's on the key.
type edVector struct {
	Src      string `json:"src"`
	Pub      string `json:"pub"`
	Msg      string `json:"msg"`
	Sig      string `json:"sig"`
	Verified bool   `json:"verified"`
	KeyOK    bool   `json:"key_ok"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// edVectors loads every Ed25519 edge case of the corpus the Go tests run
// (signing/corpus_test.go): Wycheproof's two files, C2SP CCTV,
// ed25519-speccheck and djb's sign.input, and gives each Go's verdicts.
func edVectors(t *testing.T) []edVector {
	var vs []edVector
	add := func(src string, pub, msg, sig []byte) {
		v := edVector{Src: src, Pub: hex.EncodeToString(pub), Msg: hex.EncodeToString(msg), Sig: hex.EncodeToString(sig)}
		v.Verified = len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
		v.KeyOK = keys.CheckPoint(pub) == nil
		vs = append(vs, v)
	}
	for _, f := range []string{"ed25519_test.json", "eddsa_test.json"} {
		var w struct {
			TestGroups []struct {
				PublicKey *struct{ PK string } `json:"publicKey"`
				Key       *struct{ PK string } `json:"key"`
				Tests     []struct {
					TcID     int
					Msg, Sig string
				}
			}
		}
		if err := json.Unmarshal(corpus.Read(t, "wycheproof", f), &w); err != nil {
			t.Fatal(err)
		}
		for _, g := range w.TestGroups {
			k := g.PublicKey
			if k == nil {
				k = g.Key
			}
			if k == nil {
				t.Fatalf("%s: a group without a public key", f)
			}
			for _, c := range g.Tests {
				add(fmt.Sprintf("wycheproof/%s#%d", f, c.TcID), unhex(t, k.PK), unhex(t, c.Msg), unhex(t, c.Sig))
			}
		}
	}
	var cctv []struct {
		Number        int
		Key, Sig, Msg string
	}
	if err := json.Unmarshal(corpus.Read(t, "ed25519", "cctv", "ed25519vectors.json"), &cctv); err != nil {
		t.Fatal(err)
	}
	for _, c := range cctv {
		add(fmt.Sprintf("cctv#%d", c.Number), unhex(t, c.Key), []byte(c.Msg), unhex(t, c.Sig))
	}
	var spec []struct {
		Message   string `json:"message"`
		PubKey    string `json:"pub_key"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(corpus.Read(t, "ed25519", "speccheck", "cases.json"), &spec); err != nil {
		t.Fatal(err)
	}
	for i, c := range spec {
		add(fmt.Sprintf("speccheck#%d", i), unhex(t, c.PubKey), unhex(t, c.Message), unhex(t, c.Signature))
	}
	zr, err := gzip.NewReader(bytes.NewReader(corpus.Read(t, "ed25519", "go-testdata", "sign.input.gz")))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Split(sc.Text(), ":")
		if len(f) != 5 {
			t.Fatalf("sign.input line %d: want 5 fields", n)
		}
		add(fmt.Sprintf("sign.input#%d", n), unhex(t, f[1]), unhex(t, f[2]), unhex(t, f[3])[:64])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestEd25519Corpus runs every corpus vector through the page's Ed25519
// under both implementations and its key check, and compares each verdict
// with Go's, vector by vector; then, for each vector samizdat accepts (key
// and signature), it flips a bit of the signature or the message and
// expects refusal. (A small-order key, which samizdat refuses, verifies
// some signatures of any message: that is why keys are checked.)
func TestEd25519Corpus(t *testing.T) {
	vs := edVectors(t)
	var verified, keyOK int
	for _, v := range vs {
		if v.Verified {
			verified++
		}
		if v.KeyOK {
			keyOK++
		}
	}
	// 296 Wycheproof, 914 CCTV, 12 speccheck, 128 sign.input.
	if len(vs) != 296+914+12+128 {
		t.Fatalf("%d vectors, want %d", len(vs), 296+914+12+128)
	}
	t.Logf("%d vectors: Go verifies %d, and takes %d keys", len(vs), verified, keyOK)
	p := openPage(t)
	for _, e := range engines {
		var got struct {
			Verified, KeyOK, Flipped []bool
			Ms                       float64
		}
		start := time.Now()
		call(t, p, e, `
const out = {Verified: [], KeyOK: [], Flipped: []};
const t0 = performance.now();
for (const v of a) {
  const pub = unhex(v.pub), msg = unhex(v.msg), sig = unhex(v.sig);
  out.Verified.push(await s.verify(pub, msg, sig));
}
out.Ms = performance.now() - t0;
for (const v of a) {
  out.KeyOK.push(s.checkPoint(unhex(v.pub)) === null);
  if (!v.verified || !v.key_ok) { out.Flipped.push(false); continue; }
  const sig = unhex(v.sig), msg = unhex(v.msg);
  let any = false;
  for (const i of [0, 31, 32, 63]) { const b = sig.slice(); b[i] ^= 1; any ||= await s.verify(unhex(v.pub), msg, b); }
  const m = msg.length ? msg.slice() : Uint8Array.of(0); m[0] ^= 1; any ||= await s.verify(unhex(v.pub), m, sig);
  out.Flipped.push(any);
}
return out;`, vs, &got)
		if len(got.Verified) != len(vs) || len(got.KeyOK) != len(vs) {
			t.Fatalf("%s: %d verdicts for %d vectors", e, len(got.Verified), len(vs))
		}
		bad := 0
		for i, v := range vs {
			if got.Verified[i] != v.Verified {
				bad++
				t.Errorf("%s: %s: verify = %v, Go's crypto/ed25519 says %v", e, v.Src, got.Verified[i], v.Verified)
			}
			if got.KeyOK[i] != v.KeyOK {
				t.Errorf("%s: %s: checkPoint accepts = %v, keys.CheckPoint says %v", e, v.Src, got.KeyOK[i], v.KeyOK)
			}
			if got.Flipped[i] {
				t.Errorf("%s: %s: a signature or message with one bit flipped verifies", e, v.Src)
			}
		}
		t.Logf("%s: %d vectors, %d disagree with Go; %.3f ms a verification in Chromium (%v in all)", e, len(vs), bad, got.Ms/float64(len(vs)), time.Since(start).Round(time.Millisecond))
	}
}
