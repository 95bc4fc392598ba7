package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/internal/corpus"

	"github.com/klauspost/compress/zstd"
)

// rleFrame hand-writes a zstd frame of total zero bytes made of RLE
// blocks of 128 KiB: a few bytes per block, so a 1 GiB "zip bomb" is a 32
// KiB frame. contentSize is written in the header unless it is negative;
// windowLog sets the declared window (1 << windowLog bytes).
func rleFrame(total, contentSize int64, windowLog int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd} // magic
	if contentSize < 0 {
		b = append(b, 0x00) // no content size, no checksum, no dictionary
	} else {
		b = append(b, 0xc0) // 8-byte content size
	}
	b = append(b, byte(windowLog-10)<<3)
	if contentSize >= 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(contentSize))
	}
	const block = 128 << 10
	for total > 0 {
		n := min(total, block)
		total -= n
		h := uint32(n)<<3 | 1<<1 // RLE block
		if total == 0 {
			h |= 1 // last
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return b
}

// allocated runs f and returns how many bytes it allocated, across the
// whole process: callers must not run in parallel with other tests.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestRLEFrameIsValid(t *testing.T) {
	// The hand-written frames decode to what they claim with a plain
	// decoder, so the refusals below are the limits', not syntax errors.
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range [][]byte{rleFrame(300<<10, -1, 17), rleFrame(300<<10, 300<<10, 17), rleFrame(5, 5, 10)} {
		out, err := d.DecodeAll(f, nil)
		if err != nil || len(out) != len(bytes.Repeat([]byte{0}, len(out))) {
			t.Fatalf("DecodeAll = %d bytes, %v", len(out), err)
		}
	}
	// And a sealed bundle of one such frame verifies when it is honest.
	content := make([]byte, 300<<10)
	if _, err := Verify(sealFrame(t, rleFrame(300<<10, -1, 17), content), testKeys(t).trust, nil); err != nil {
		t.Fatalf("honest RLE frame: %v", err)
	}
}

// TestZstdBombs signs bundles whose one entry is a hostile zstd frame and
// checks that Entry refuses each quickly, without allocating much more
// than the entry's signed size.
func TestZstdBombs(t *testing.T) {
	k := testKeys(t)
	const gib = 1 << 30
	ten := make([]byte, 10)
	mib := make([]byte, 1<<20)
	lim := &Limits{EntrySize: 1 << 20, DecoderMemory: 2 << 20}
	tests := []struct {
		name    string
		frame   []byte
		content []byte // what the manifest claims
		maxMem  uint64 // bytes Entry may allocate
	}{
		{"1 GiB claimed as 10 bytes, no content size", rleFrame(gib, -1, 17), ten, 1 << 20},
		{"1 GiB claimed as 10 bytes, content size 10", rleFrame(gib, 10, 17), ten, 1 << 20},
		{"1 GiB claimed as 10 bytes, content size 1 GiB", rleFrame(gib, gib, 17), ten, 1 << 20},
		{"1 GiB claimed as 1 MiB, no content size", rleFrame(gib, -1, 17), mib, 3 << 20},
		{"1 GiB claimed as 1 MiB, content size 1 MiB", rleFrame(gib, 1<<20, 17), mib, 3 << 20},
		{"1 MiB + 1 claimed as 1 MiB", rleFrame(1<<20+1, -1, 17), mib, 3 << 20},
		{"1 MiB - 1 claimed as 1 MiB", rleFrame(1<<20-1, -1, 17), mib, 3 << 20},
		{"window of 1 GiB", rleFrame(10, -1, 30), ten, 1 << 20},
		{"window of 2 MiB", rleFrame(10, -1, 21), ten, 1 << 20},
		{"content size past the frame", rleFrame(10, 11, 17), ten, 1 << 20},
		{"10 bytes claimed as 11", rleFrame(10, 10, 17), make([]byte, 11), 1 << 20},
		{"11 bytes claimed as 10", rleFrame(11, 11, 17), ten, 1 << 20},
		{"two frames", append(rleFrame(5, 5, 10), rleFrame(gib, -1, 17)...), ten, 1 << 20},
		{"empty", nil, ten, 1 << 20},
		{"magic only", []byte{0x28, 0xb5, 0x2f, 0xfd}, ten, 1 << 20},
		{"skippable frame", []byte{0x50, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3}, ten, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sealFrame(t, tt.frame, tt.content)
			b, err := Open(data, k.trust, &OpenOptions{Limits: lim})
			if err != nil {
				t.Fatalf("Open: %v", err) // the container is honest; only the frame lies
			}
			b.Entry(0) // warm the shared decoder for these limits
			var out []byte
			start := time.Now()
			mem := allocated(func() { out, err = b.Entry(0) })
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("Entry accepted %d bytes", len(out))
			}
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(err.Error(), `entry "index.txt"`) {
				t.Errorf("error %q is not a *Error naming the entry", err)
			}
			if mem > tt.maxMem {
				t.Errorf("Entry allocated %d bytes, want at most %d", mem, tt.maxMem)
			}
			if elapsed > time.Second {
				t.Errorf("Entry took %v", elapsed)
			}
			t.Logf("%v after %v, %d bytes allocated", err, elapsed, mem)
		})
	}
}

// TestEntrySizeMismatch signs honest zstd frames under manifests that
// claim one byte more or less, or other bytes of the same size.
func TestEntrySizeMismatch(t *testing.T) {
	k := testKeys(t)
	enc, err := encoder(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	content := prose(5000)
	frame := enc.EncodeAll(content, nil)
	other := bytes.Clone(content)
	other[4999] ^= 1
	for _, tt := range []struct {
		name  string
		claim []byte
		want  string
	}{
		{"shorter", content[:4999], "decompressed"},
		{"longer", append(bytes.Clone(content), 'x'), "decompressed"},
		{"other bytes", other, "content does not match the signed hash"},
		{"empty", nil, "decompressed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(sealFrame(t, frame, tt.claim), k.trust, nil)
			wantRefusal(t, err, tt.want)
		})
	}
	if _, err := Verify(sealFrame(t, frame, content), k.trust, nil); err != nil {
		t.Errorf("honest claim: %v", err)
	}
}

// zipFiles reads every file of a zip archive in the corpus, or skips the
// test if the corpus is absent.
func zipFiles(t *testing.T, name string) map[string][]byte {
	t.Helper()
	files, err := readCorpusZip(corpus.Path(t, "zstd", name))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readCorpusZip reads every file of a zip archive.
func readCorpusZip(path string) (map[string][]byte, error) {
	r, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	files := map[string][]byte{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		files[f.Name] = b
	}
	return files, nil
}

// corpusDictionary primes decoders in the corpus tests, so the frames
// also run through the dictionary code paths.
var corpusDictionary, _ = NewDictionary(bytes.Repeat([]byte("0123456789qwe\nabc"), 64))

// openFrame signs a bundle whose body is frame, claimed as content, with
// or without a dictionary, and returns the opened bundle.
func openFrame(t *testing.T, frame, content []byte, dict *Dictionary) *Bundle {
	t.Helper()
	k := testKeys(t)
	m := sealedManifest(t, zstdEntry("index.txt", "text/plain", frame, content))
	opts := &OpenOptions{}
	if dict != nil {
		m.Dictionary = dict.Hash()
		opts.Dictionaries = func([32]byte) *Dictionary { return dict }
	}
	b, err := Open(seal(t, k.signer, m.encode(), frame), k.trust, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// TestCorpusBadFrames wraps each malformed frame of klauspost/compress's
// test corpus as a correctly signed entry. The manifest claims exactly
// what a plain decoder produced before it gave up, so the decoder's error
// is all that stands between the frame and acceptance: Entry must return
// it, and never panic.
func TestCorpusBadFrames(t *testing.T) {
	files := zipFiles(t, "bad.zip")
	plain, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	n := 0
	for name, frame := range files {
		if !strings.HasSuffix(name, ".zst") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			partial, plainErr := plain.DecodeAll(frame, nil)
			if plainErr == nil {
				t.Fatalf("a plain decoder accepts this \"bad\" frame")
			}
			claims := [][]byte{partial, nil, make([]byte, 1<<20)}
			for _, dict := range []*Dictionary{nil, corpusDictionary} {
				for _, claim := range claims {
					b := openFrame(t, frame, claim, dict)
					out, err := b.Entry(0)
					if err == nil {
						t.Fatalf("Entry accepted %d bytes (dictionary %v)", len(out), dict != nil)
					}
					if out != nil {
						t.Errorf("Entry returned bytes with an error")
					}
				}
			}
			if want, ok := files[strings.TrimSuffix(name, ".zst")]; ok {
				t.Logf("%s (corpus says %q)", plainErr, bytes.TrimSpace(want))
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d bad frames in the corpus", n)
	}
}

// TestCorpusGoodFrames wraps each valid frame of the corpus as a signed
// entry. Frames with an expected output must decode to it; the others
// must decode to what a plain decoder gives, or fail only on the size or
// hash check when that exceeds the limits.
func TestCorpusGoodFrames(t *testing.T) {
	files := zipFiles(t, "good.zip")
	plain, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	n := 0
	for name, frame := range files {
		if !strings.HasSuffix(name, ".zst") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			want, ok := files[strings.TrimSuffix(name, ".zst")]
			if !ok {
				if want, err = plain.DecodeAll(frame, nil); err != nil {
					t.Fatalf("plain decoder: %v", err)
				}
			}
			b := openFrame(t, frame, want, nil)
			out, err := b.Entry(0)
			if err != nil {
				t.Fatalf("Entry: %v", err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("Entry = %q, want %q", out, want)
			}
			// Claimed one byte short, the same frame is refused.
			if len(want) > 0 {
				b = openFrame(t, frame, want[:len(want)-1], nil)
				if _, err := b.Entry(0); err == nil {
					t.Errorf("accepted with a short claim")
				}
			}
			// Under a dictionary the frames either decode the same (they
			// name none, so the dictionary is not used) or fail.
			b = openFrame(t, frame, want, corpusDictionary)
			if out, err := b.Entry(0); err == nil && !bytes.Equal(out, want) {
				t.Errorf("with a dictionary: %q", out)
			}
			if sha256.Sum256(out) != b.Manifest.Entries[0].SHA256 {
				t.Errorf("hash")
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d good frames in the corpus", n)
	}
}
