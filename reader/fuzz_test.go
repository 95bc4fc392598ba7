package reader

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

// FuzzLeaves feeds an entry bundle, as a mirror might send it, through
// parsing and the log's rules: it may be refused, never panic, and what is
// accepted must re-encode to the same bytes. A view's right edge, extended
// in two steps, must give the root tlog computes.
func FuzzLeaves(f *testing.F) {
	var good []byte
	for _, l := range []*catalog.Leaf{
		{Kind: catalog.KindKeyStatement, Version: 1},
		{Kind: catalog.KindBundle, ID: "a", Revision: 1},
		{Kind: catalog.KindBundle, ID: "a", Revision: 2},
		{Kind: catalog.KindRetraction, ID: "a", Revision: 2},
		{Kind: catalog.KindMirrorList, Version: 1},
	} {
		e := l.Encode()
		good = binary.BigEndian.AppendUint16(good, uint16(len(e)))
		good = append(good, e...)
	}
	f.Add(good, 5)
	f.Add(good[:len(good)-1], 5)
	f.Add([]byte{0, 0}, 1)
	f.Add([]byte{0xff, 0xff, 1}, 1)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		if want < 0 || want > 256 {
			return
		}
		leaves, err := catalog.ParseEntryBundle(b, want)
		if err != nil {
			return
		}
		var again []byte
		for _, l := range leaves {
			again = binary.BigEndian.AppendUint16(again, uint16(len(l)))
			again = append(again, l...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which re-encodes as %x", b, again)
		}
		// Build the tree the leaves make, then extend an empty view with
		// them: it must accept exactly when the log's rules hold.
		var hashes []tlog.Hash
		hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = hashes[x]
			}
			return out, nil
		})
		for i, l := range leaves {
			hs, err := tlog.StoredHashes(int64(i), l, hr)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, hs...)
		}
		var root tlog.Hash
		if len(leaves) > 0 {
			if root, err = tlog.TreeHash(int64(len(leaves)), hr); err != nil {
				t.Fatal(err)
			}
		}
		v, err := (&view{}).extend(leaves, root)
		if err != nil {
			return
		}
		if v.size != int64(len(leaves)) {
			t.Fatalf("view of %d leaves from %d", v.size, len(leaves))
		}
		if k := len(leaves) / 3; k > 0 {
			rk, err := tlog.TreeHash(int64(k), hr)
			if err != nil {
				t.Fatal(err)
			}
			v1, err := (&view{}).extend(leaves[:k], rk)
			if err != nil {
				t.Fatalf("prefix of %d: %v", k, err)
			}
			if _, err := v1.extend(leaves[k:], root); err != nil {
				t.Fatalf("in two steps: %v", err)
			}
		}
		root[0] ^= 1
		if len(leaves) > 0 {
			if _, err := (&view{}).extend(leaves, root); err == nil {
				t.Fatal("wrong root accepted")
			}
		}
	})
}

// FuzzHead: a state's head file may be damaged in any way; decoding it
// never panics, and what decodes encodes back to the same bytes.
func FuzzHead(f *testing.F) {
	f.Add(encodeHead([]byte("statement"), []byte("checkpoint")))
	f.Add([]byte(headMagic + "\x00\x00\x00\x01s\x00\x00\x00"))
	f.Add([]byte(headMagic + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, cp, err := decodeHead(b)
		if err != nil {
			return
		}
		if again := encodeHead(st, cp); !bytes.Equal(again, b) {
			t.Fatalf("%q decodes, then encodes as %q", b, again)
		}
	})
}
