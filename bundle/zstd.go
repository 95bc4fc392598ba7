package bundle

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Dictionary is a publisher's zstd dictionary: raw content that primes the
// compressor, named by its SHA-256. Bundles name the dictionary they need;
// mirrors and readers fetch it once per publisher.
type Dictionary struct {
	content []byte
	hash    [32]byte
}

// NewDictionary makes a dictionary from raw content (typically text that
// recurs in the publisher's articles: boilerplate, common words).
func NewDictionary(content []byte) (*Dictionary, error) {
	if len(content) < 8 || len(content) > MaxDictionarySize {
		return nil, fmt.Errorf("bundle: dictionary must be 8 to %d bytes, is %d", MaxDictionarySize, len(content))
	}
	return &Dictionary{content: append([]byte(nil), content...), hash: sha256.Sum256(content)}, nil
}

// Hash returns the dictionary's SHA-256, its name.
func (d *Dictionary) Hash() [32]byte { return d.hash }

// Content returns the dictionary's bytes. Callers must not modify them.
func (d *Dictionary) Content() []byte { return d.content }

// id is the zstd dictionary id written in frames: the hash's first four
// bytes, forced non-zero.
func (d *Dictionary) id() uint32 { return binary.BigEndian.Uint32(d.hash[:4]) | 1 }

type encKey struct {
	level int
	dict  [32]byte
}

var encoders sync.Map // encKey -> *zstd.Encoder

// encoder returns a shared encoder; EncodeAll is safe for concurrent use.
func encoder(level int, dict *Dictionary) (*zstd.Encoder, error) {
	k := encKey{level: level}
	if dict != nil {
		k.dict = dict.hash
	}
	if e, ok := encoders.Load(k); ok {
		return e.(*zstd.Encoder), nil
	}
	// Single-segment frames declare their content size as their window,
	// so a frame never needs a larger window than its entry's size and
	// Open's window limit (Limits.EntrySize) accepts every frame Build
	// writes. Without it, a 1024-byte entry declares a 2048-byte window.
	opts := []zstd.EOption{zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithZeroFrames(true), zstd.WithSingleSegment(true)}
	if level != 0 {
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("bundle: zstd level %d outside 1..22", level)
		}
		opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)))
	}
	if dict != nil {
		opts = append(opts, zstd.WithEncoderDictRaw(dict.id(), dict.content))
	}
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("bundle: zstd: %w", err)
	}
	actual, _ := encoders.LoadOrStore(k, e)
	return actual.(*zstd.Encoder), nil
}

type decKey struct {
	window, memory int64
	dict           [32]byte
}

var decoders sync.Map // decKey -> *zstd.Decoder

// decoder returns a shared decoder bounded by lim; DecodeAll is safe for
// concurrent use.
func decoder(dict *Dictionary, lim *Limits) (*zstd.Decoder, error) {
	k := decKey{window: lim.EntrySize, memory: lim.DecoderMemory}
	if dict != nil {
		k.dict = dict.hash
	}
	if d, ok := decoders.Load(k); ok {
		return d.(*zstd.Decoder), nil
	}
	opts := []zstd.DOption{
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxWindow(uint64(max(lim.EntrySize, zstd.MinWindowSize))),
		zstd.WithDecoderMaxMemory(uint64(lim.DecoderMemory)),
		// Decode no more than the capacity of dst, which decompress sets
		// from the signed size: a frame that expands past it fails at
		// once instead of growing dst up to DecoderMemory.
		zstd.WithDecodeAllCapLimit(true),
	}
	if dict != nil {
		opts = append(opts, zstd.WithDecoderDictRaw(dict.id(), dict.content))
	}
	d, err := zstd.NewReader(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("bundle: zstd: %w", err)
	}
	actual, _ := decoders.LoadOrStore(k, d)
	return actual.(*zstd.Decoder), nil
}

// decoderSlack is room left past an entry's size in the output buffer:
// the decoder's fast copy loops need 32 bytes beyond the data they write,
// and fall back to slower exact copies without them.
const decoderSlack = 32

// decompress decodes one zstd frame of exactly size bytes.
func decompress(src []byte, size int, dict *Dictionary, lim *Limits) ([]byte, error) {
	d, err := decoder(dict, lim)
	if err != nil {
		return nil, err
	}
	out, err := d.DecodeAll(src, make([]byte, 0, size+decoderSlack))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) != size {
		return nil, fmt.Errorf("decompressed to %d bytes, manifest says %d", len(out), size)
	}
	return out, nil
}
