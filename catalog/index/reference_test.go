package index_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// This file computes root hashes from FORMAT.md's description alone,
// without torchwood, as another implementation would.

func refH(parts ...[]byte) [32]byte {
	b := []byte("samizdat/index\x00")
	for _, p := range parts {
		b = append(b, p...)
	}
	return sha256.Sum256(b)
}

// refLH is the label hash of the first bits of key (zero-padded).
func refLH(key [32]byte, bits int) [32]byte {
	var l [32]byte
	for i := range bits {
		if key[i/8]>>(7-i%8)&1 == 1 {
			l[i/8] |= 0x80 >> (i % 8)
		}
	}
	return refH(binary.BigEndian.AppendUint32(nil, uint32(bits)), l[:])
}

func refN(lh, v [32]byte) [32]byte { return refH(v[:], lh[:]) }

func refEmpty() [32]byte {
	e := refH(binary.BigEndian.AppendUint32(nil, 0), bytes.Repeat([]byte{1}, 32))
	return refN(e, refN(e, refH([]byte{0})))
}

type refEntry struct {
	key [32]byte
	v   index.Value
}

func refBit(k [32]byte, i int) int { return int(k[i/8] >> (7 - i%8) & 1) }

// refNode hashes the subtree of entries (sorted, at least one).
func refNode(es []refEntry) [32]byte {
	if len(es) == 1 {
		v := refH(binary.BigEndian.AppendUint64(nil, uint64(es[0].v.Leaf)), es[0].v.Hash[:])
		return refN(refLH(es[0].key, 256), v)
	}
	first, last := es[0].key, es[len(es)-1].key
	d := 0
	for refBit(first, d) == refBit(last, d) {
		d++
	}
	i := slices.IndexFunc(es, func(e refEntry) bool { return refBit(e.key, d) == 1 })
	l, r := refNode(es[:i]), refNode(es[i:])
	return refN(refLH(first, d), refH(l[:], r[:]))
}

func refRoot(m model) [32]byte {
	var es []refEntry
	for id, v := range m {
		es = append(es, refEntry{index.Key(id), v})
	}
	slices.SortFunc(es, func(a, b refEntry) int { return bytes.Compare(a.key[:], b.key[:]) })
	var zero [32]byte
	if len(es) == 0 {
		return refN(refLH(zero, 0), refH([]byte{0}))
	}
	i := slices.IndexFunc(es, func(e refEntry) bool { return refBit(e.key, 0) == 1 })
	if i < 0 {
		i = len(es)
	}
	l, r := refEmpty(), refEmpty()
	if i > 0 {
		l = refNode(es[:i])
	}
	if i < len(es) {
		r = refNode(es[i:])
	}
	return refN(refLH(zero, 0), refH(l[:], r[:]))
}

// TestReferenceRoot compares the index's roots with refRoot's for maps of
// 0 to 300 ids, including one-child roots.
func TestReferenceRoot(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 5, 17, 300} {
		for trial := range 4 {
			x := index.New()
			m := model{}
			var leaves []*catalog.Leaf
			for i := range n {
				leaves = append(leaves, bundleLeaf(fmt.Sprintf("r%d-%d", trial, rng.IntN(1_000_000)+i*1_000_000), 1))
			}
			if err := x.Apply(ctx, 0, leaves); err != nil {
				t.Fatal(err)
			}
			m.apply(0, leaves)
			if got, want := [32]byte(x.Root()), refRoot(m); got != want {
				t.Fatalf("%d ids: root %x, FORMAT.md's reference %x", n, got, want)
			}
		}
	}
}
