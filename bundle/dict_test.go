package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// testDictionary holds the boilerplate a newsroom repeats in every article.
func testDictionary(t testing.TB) *Dictionary {
	t.Helper()
	d, err := NewDictionary([]byte(strings.Repeat(`<footer class="site-footer"><p>Independent journalism since 1991.
Support us: readers fund our reporting. Follow us on our mirrors.</p></footer>
<nav class="site-nav"><a href="/news">News</a><a href="/opinion">Opinion</a></nav>
`, 4) + string(prose(2000))))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDictionary(t *testing.T) {
	for _, n := range []int{0, 1, 7, MaxDictionarySize + 1} {
		if _, err := NewDictionary(make([]byte, n)); err == nil {
			t.Errorf("NewDictionary of %d bytes accepted", n)
		} else if !strings.HasPrefix(err.Error(), "bundle: dictionary must be 8 to") {
			t.Errorf("NewDictionary of %d bytes: %v", n, err)
		}
	}
	for _, n := range []int{8, MaxDictionarySize} {
		content := bytes.Repeat([]byte{'a'}, n)
		d, err := NewDictionary(content)
		if err != nil {
			t.Fatalf("NewDictionary of %d bytes: %v", n, err)
		}
		if d.Hash() != sha256.Sum256(content) || !bytes.Equal(d.Content(), content) {
			t.Errorf("Hash or Content wrong")
		}
		content[0] = 'b' // the dictionary keeps its own copy
		if d.Content()[0] != 'a' {
			t.Errorf("Dictionary aliases its input")
		}
		if d.id() == 0 {
			t.Errorf("zero dictionary id")
		}
	}
}

func TestDictionary(t *testing.T) {
	k := testKeys(t)
	dict := testDictionary(t)
	body := []byte(`<article><p>The mayor resigned on Friday.</p></article>
<footer class="site-footer"><p>Independent journalism since 1991.
Support us: readers fund our reporting. Follow us on our mirrors.</p></footer>
<nav class="site-nav"><a href="/news">News</a><a href="/opinion">Opinion</a></nav>
`)
	files := []File{{Type: "text/html", Data: body}, {Name: "a.svg", Type: "image/svg+xml", Data: []byte(testSVG)}, {Name: "b.png", Type: "image/png", Data: testPNG}}
	with := mustBuild(t, testMeta(), files, k.signer, &BuildOptions{Dictionary: dict})
	without := mustBuild(t, testMeta(), files, k.signer, nil)
	if len(with) >= len(without)-50 {
		t.Errorf("with a dictionary %d bytes, without %d: the dictionary is not used", len(with), len(without))
	}
	if again := mustBuild(t, testMeta(), files, k.signer, &BuildOptions{Dictionary: dict}); !bytes.Equal(with, again) {
		t.Errorf("Build with a dictionary is not deterministic")
	}

	// Without the dictionary: ErrDictionaryNeeded, from Open and Verify.
	for _, opts := range []*OpenOptions{nil, {}, {Dictionaries: func([32]byte) *Dictionary { return nil }}} {
		b, err := Open(with, k.trust, opts)
		if !errors.Is(err, ErrDictionaryNeeded) || b != nil {
			t.Errorf("Open without the dictionary: %v, want ErrDictionaryNeeded", err)
		}
		wantRefusal(t, err, "needs dictionary")
		if _, err := Verify(with, k.trust, opts); !errors.Is(err, ErrDictionaryNeeded) {
			t.Errorf("Verify without the dictionary: %v", err)
		}
	}

	// With it: the manifest names it and every entry decodes.
	var asked [32]byte
	opts := &OpenOptions{Dictionaries: func(h [32]byte) *Dictionary { asked = h; return dict }}
	b, err := Verify(with, k.trust, opts)
	if err != nil {
		t.Fatalf("Verify with the dictionary: %v", err)
	}
	if asked != dict.Hash() || b.Manifest.Dictionary != dict.Hash() || !b.Manifest.HasDictionary() {
		t.Errorf("asked for %x, manifest names %x, want %x", asked, b.Manifest.Dictionary, dict.Hash())
	}
	for i, f := range []File{files[0], files[1], files[2]} {
		if got, err := b.Entry(i); err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("Entry(%d) = %q, %v", i, got, err)
		}
	}

	// A bundle without a dictionary never asks for one.
	called := false
	if _, err := Verify(without, k.trust, &OpenOptions{Dictionaries: func([32]byte) *Dictionary { called = true; return dict }}); err != nil || called {
		t.Errorf("bundle without a dictionary: %v, asked %v", err, called)
	}

	// The wrong dictionary, handed back for the right hash, is refused.
	wrong, err := NewDictionary(bytes.Repeat([]byte("other words "), 100))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(with, k.trust, &OpenOptions{Dictionaries: func([32]byte) *Dictionary { return wrong }})
	wantRefusal(t, err, "was given "+hex.EncodeToString(wrong.hash[:]))
}

// TestDictionaryFrames checks that frames written with one dictionary do
// not decode under another, even one whose zstd id is the same.
func TestDictionaryFrames(t *testing.T) {
	dict := testDictionary(t)
	enc, err := encoder(0, dict)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("Independent journalism since 1991. Support us: readers fund our reporting.")
	frame := enc.EncodeAll(content, nil)
	lim := DefaultLimits
	if out, err := decompress(frame, len(content), dict, &lim); err != nil || !bytes.Equal(out, content) {
		t.Fatalf("decompress with the dictionary = %q, %v", out, err)
	}
	if _, err := decompress(frame, len(content), nil, &lim); err == nil {
		t.Errorf("decompressed without the dictionary")
	}
	other, _ := NewDictionary(bytes.Repeat([]byte("x"), 64))
	if out, err := decompress(frame, len(content), other, &lim); err == nil && bytes.Equal(out, content) {
		t.Errorf("decompressed with another dictionary")
	}
}
