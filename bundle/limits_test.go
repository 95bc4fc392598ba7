package bundle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// prose returns n bytes of compressible, varied text.
func prose(n int) []byte {
	words := strings.Fields(`the council met on tuesday to discuss the budget and the new
		rules for the press while reporters waited outside in the rain for a statement
		that never came because the minister had left by a side door before noon`)
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[(i*7+i/13)%len(words)])
		if i%17 == 16 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// limitsBundle is a bundle whose sizes are all different, so that each
// limit is hit by exactly one thing.
func limitsBundle(t *testing.T) (files []File, data []byte, sizes Limits) {
	k := testKeys(t)
	files = []File{
		{Type: "text/markdown", Data: prose(3000)},
		{Name: "a.png", Type: "image/png", Data: bytes.Repeat([]byte{7}, 200)},
		{Name: "b.svg", Type: "image/svg+xml", Data: prose(500)},
	}
	data = mustBuild(t, testMeta(), files, k.signer, nil)
	sizes = Limits{
		BundleSize:    int64(len(data)),
		ManifestSize:  int(binary.BigEndian.Uint32(data[headerSize-4:])),
		Entries:       3,
		EntrySize:     3000,
		TotalSize:     3700,
		DecoderMemory: 3000,
	}
	return files, data, sizes
}

// TestLimits checks each limit at its edge: a bundle exactly at the limit
// is built and verified, one byte (or entry) over is refused by Open and,
// with the same limits, by Build.
func TestLimits(t *testing.T) {
	k := testKeys(t)
	files, data, exact := limitsBundle(t)
	tests := []struct {
		field     string
		tighten   func(l *Limits)
		openErr   string
		buildErr  string
		entryOnly bool // refused by Entry rather than by Open
	}{
		{"BundleSize", func(l *Limits) { l.BundleSize-- }, fmt.Sprintf("%d bytes, limit %d", exact.BundleSize, exact.BundleSize-1), fmt.Sprintf("%d bytes, limit %d", exact.BundleSize, exact.BundleSize-1), false},
		{"ManifestSize", func(l *Limits) { l.ManifestSize-- }, "manifest length", "manifest is", false},
		{"Entries", func(l *Limits) { l.Entries-- }, "3 entries, want 1 to 2", "3 entries, limit 2", false},
		{"EntrySize", func(l *Limits) { l.EntrySize-- }, `entry "index.md": 3000 bytes, limit 2999`, `entry "index.md" is 3000 bytes, limit 2999`, false},
		{"TotalSize", func(l *Limits) { l.TotalSize-- }, "entries total more than 3699 bytes", "entries total more than 3699 bytes", false},
		{"DecoderMemory", func(l *Limits) { l.DecoderMemory-- }, "decoder memory", "decoder memory", false},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			// At the limit: built to the same bytes, and verified.
			lim := exact
			if got, err := Build(testMeta(), files, k.root.Public(), k.signer, &BuildOptions{Limits: &lim}); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Build at the limits: %v", err)
			}
			if _, err := Verify(data, k.trust, &OpenOptions{Limits: &lim}); err != nil {
				t.Fatalf("Verify at the limits: %v", err)
			}
			// One over: refused by both.
			tt.tighten(&lim)
			b, err := Open(data, k.trust, &OpenOptions{Limits: &lim})
			if err == nil {
				_, err = Verify(data, k.trust, &OpenOptions{Limits: &lim})
				if !tt.entryOnly {
					t.Errorf("Open accepted it; Verify: %v", err)
				}
			} else if b != nil {
				t.Errorf("Open returned a bundle with an error")
			}
			wantRefusal(t, err, tt.openErr)
			_, err = Build(testMeta(), files, k.root.Public(), k.signer, &BuildOptions{Limits: &lim})
			wantError(t, err, tt.buildErr)
		})
	}
}

// TestLimitsDefaults checks that zero and negative fields mean the
// defaults, and that the defaults are what the doc comment says.
func TestLimitsDefaults(t *testing.T) {
	want := Limits{BundleSize: 96 << 20, ManifestSize: 256 << 10, Entries: 512, EntrySize: 16 << 20, TotalSize: 64 << 20, DecoderMemory: 32 << 20}
	if DefaultLimits != want {
		t.Errorf("DefaultLimits = %+v, want %+v", DefaultLimits, want)
	}
	for _, l := range []*Limits{nil, {}, {BundleSize: -1, ManifestSize: -1, Entries: -1, EntrySize: -1, TotalSize: -1, DecoderMemory: -1}} {
		if got := l.withDefaults(); got != want {
			t.Errorf("%+v.withDefaults() = %+v", l, got)
		}
	}
	l := Limits{Entries: 3}
	if got := l.withDefaults(); got.Entries != 3 || got.BundleSize != want.BundleSize {
		t.Errorf("withDefaults overrode a set field: %+v", got)
	}
}

// TestBuildOpenAgree builds bundles under small limits and checks that
// whatever Build accepts, Verify with the same limits accepts too. Sizes
// around the zstd window's minimum (1 KiB) are the interesting ones: a
// frame's declared window may be larger than its content.
func TestBuildOpenAgree(t *testing.T) {
	for _, level := range []int{0, 1, 22} {
		for _, entrySize := range []int64{512, 1000, 1023, 1024, 1025, 2047, 2048, 4096, 5000} {
			for _, n := range []int{0, 1, 511, 512, 513, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 4096, 5000} {
				buildOpenAgree(t, level, entrySize, n)
			}
		}
	}
}

func buildOpenAgree(t *testing.T, level int, entrySize int64, n int) {
	t.Helper()
	k := testKeys(t)
	lim := &Limits{EntrySize: entrySize}
	files := []File{{Type: "text/plain", Data: prose(n)}}
	data, err := Build(testMeta(), files, k.root.Public(), k.signer, &BuildOptions{Limits: lim, Level: level})
	switch {
	case int64(n) > entrySize:
		if err == nil {
			t.Errorf("EntrySize %d: Build accepted a %d-byte body", entrySize, n)
		}
	case err != nil:
		t.Errorf("level %d, EntrySize %d: Build of %d bytes: %v", level, entrySize, n, err)
	default:
		if _, err := Verify(data, k.trust, &OpenOptions{Limits: lim}); err != nil {
			t.Errorf("level %d, EntrySize %d: Build accepted a %d-byte body that Verify refuses: %v", level, entrySize, n, err)
		}
	}
}
