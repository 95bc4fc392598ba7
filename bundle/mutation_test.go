package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestMutations changes every byte of a small bundle, truncates it at
// every length and appends bytes to it, and checks that Verify refuses
// every result with a *Error. The bundle holds a short text body (zstd)
// and one small image (stored), so every region of the format is hit:
// magic, signer, signature, manifest length, manifest, and both kinds of
// entry.
func TestMutations(t *testing.T) {
	k := testKeys(t)
	files := []File{
		{Type: "text/plain", Data: []byte("Polls close at eight; results are expected by midnight.")},
		{Name: "map.png", Type: "image/png", Data: testPNG},
	}
	data := mustBuild(t, testMeta(), files, k.signer, nil)
	if _, err := Verify(data, k.trust, nil); err != nil {
		t.Fatalf("the unmutated bundle: %v", err)
	}
	check := func(what string, d []byte) {
		t.Helper()
		b, err := Verify(d, k.trust, nil)
		if err == nil {
			t.Fatalf("%s: Verify accepted it", what)
		}
		if b != nil {
			t.Errorf("%s: Verify returned a bundle with an error", what)
		}
		var be *Error
		if !errors.As(err, &be) {
			t.Errorf("%s: error %q is %T, not *Error", what, err, err)
		}
	}

	n := 0
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			d := bytes.Clone(data)
			d[i] ^= x
			check(fmt.Sprintf("byte %d xor %#02x", i, x), d)
			n++
		}
	}
	for l := range len(data) {
		check(fmt.Sprintf("truncated to %d bytes", l), data[:l:l])
		n++
	}
	for _, tail := range [][]byte{{0}, {0xff}, []byte("SAMIZDAT"), make([]byte, 1024), data} {
		check(fmt.Sprintf("%d bytes appended", len(tail)), append(bytes.Clone(data), tail...))
		n++
	}
	// Swapping two adjacent differing bytes, a mutation xor misses when
	// the bytes are equal.
	for i := 0; i+1 < len(data); i++ {
		if data[i] == data[i+1] {
			continue
		}
		d := bytes.Clone(data)
		d[i], d[i+1] = d[i+1], d[i]
		check(fmt.Sprintf("bytes %d and %d swapped", i, i+1), d)
		n++
	}
	t.Logf("%d mutations of a %d-byte bundle refused", n, len(data))
}
