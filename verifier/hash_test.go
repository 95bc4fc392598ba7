//go:build linux

package verifier

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestHashes compares the page's SHA-256 (both paths) and its pure-JS
// SHA-512 with Go's on every length from 0 to 300 bytes (every padding
// case of both block sizes) and on 1 MiB.
func TestHashes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type vec struct{ Data, SHA256, SHA512 string }
	var vs []vec
	for _, n := range append(rangeTo(300), 1<<20) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s2, s5 := sha256.Sum256(b), sha512.Sum512(b)
		vs = append(vs, vec{hex.EncodeToString(b), hex.EncodeToString(s2[:]), hex.EncodeToString(s5[:])})
	}
	p := openPage(t)
	for _, e := range engines {
		var errs []string
		call(t, p, e, `
const errs = [];
for (const v of a) {
  const d = unhex(v.Data);
  if (hex(await s.sha256(d)) !== v.SHA256) errs.push('sha256 of ' + d.length + ' bytes');
  if (hex(s.sha256Pure(d)) !== v.SHA256) errs.push('pure sha256 of ' + d.length + ' bytes');
  if (hex(s.sha512Pure(d)) !== v.SHA512) errs.push('pure sha512 of ' + d.length + ' bytes');
}
return errs;`, vs, &errs)
		for _, m := range errs {
			t.Errorf("%s: %s", e, m)
		}
	}
}

func rangeTo(n int) []int {
	r := make([]int, n+1)
	for i := range r {
		r[i] = i
	}
	return r
}
