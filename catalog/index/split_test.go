package index_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

func TestCutDepth(t *testing.T) {
	for _, c := range []struct {
		size  int64
		depth int
	}{
		{-1, 1}, {0, 1}, {1, 1}, {3, 1}, {4, 1}, {8, 2}, {1000, 5}, {1023, 5}, {1024, 5},
		{10_000, 7}, {100_000, 8}, {1_000_000, 10}, {1 << 62, 31}, {1<<63 - 1, 31},
	} {
		if got := index.CutDepth(c.size); got != c.depth {
			t.Errorf("CutDepth(%d) = %d, want %d", c.size, got, c.depth)
		}
	}
}

func TestBucketNames(t *testing.T) {
	for _, size := range []int64{0, 8, 1000, 100_000, 1 << 62} {
		d := index.CutDepth(size)
		n := 0
		prev := ""
		for b := range index.Buckets(size) {
			if b.Depth() != d || len(b.String()) != (d+3)/4 || b.String() <= prev && n > 0 {
				t.Fatalf("size %d: bucket %d named %q at depth %d after %q", size, n, b, b.Depth(), prev)
			}
			got, err := index.ParseBucket(size, b.String())
			if err != nil || got != b {
				t.Fatalf("ParseBucket(%d, %q) = %v, %v", size, b, got, err)
			}
			prev = b.String()
			if n++; n == 1<<12 {
				break
			}
		}
		if want := min(1<<d, 1<<12); n != want {
			t.Errorf("size %d: %d buckets, want %d", size, n, want)
		}
	}
	for _, id := range []string{"a", "first-article", "zzz"} {
		b := index.BucketOf(1000, id) // depth 5
		k := index.Key(id)
		if want := fmt.Sprintf("%02x", k[0]&0xf8); b.String() != want {
			t.Errorf("BucketOf(1000, %q) = %s, want %s", id, b, want)
		}
	}
	for _, c := range []struct {
		size int64
		name string
	}{
		{1000, ""}, {1000, "0"}, {1000, "000"}, {1000, "04"}, {1000, "0A"}, {1000, "g0"}, {1000, "-8"},
		{100_000, "ab/"}, {0, "4"}, {0, "08"},
	} {
		if b, err := index.ParseBucket(c.size, c.name); err == nil {
			t.Errorf("ParseBucket(%d, %q) = %v, want an error", c.size, c.name, b)
		}
	}
}

// splitLog returns a log of n leaves: articles art-0 to art-2999 (some
// revised, some retracted), with a key statement and a mirror list.
func splitLog(n int) []*catalog.Leaf {
	r := rand.New(rand.NewPCG(10, 10))
	log := []*catalog.Leaf{statement(1)}
	revs := map[string]uint64{}
	for len(log) < n {
		switch i := r.IntN(3000); {
		case len(log)%997 == 0:
			log = append(log, mirrors(uint64(len(log))))
		case i%50 == 7 && revs[fmt.Sprint("art-", i)] > 0:
			id := fmt.Sprint("art-", i)
			log = append(log, retraction(id, revs[id]))
		default:
			id := fmt.Sprint("art-", i)
			revs[id]++
			log = append(log, bundleLeaf(id, revs[id]))
		}
	}
	return log[:n]
}

// splitCase is one id's parts at one size.
type splitCase struct {
	id     string
	top    []byte
	bottom []byte // nil when the top part is whole
}

// TestSplitProperty checks, for indexes of sizes 0 to 5000, that every
// proof splits into a top part shared by its whole bucket and a bottom
// part that together join into the same proof, and that parts of another
// size or bucket do not join into a proof that verifies.
func TestSplitProperty(t *testing.T) {
	ctx := context.Background()
	log := splitLog(5000)
	sizes := []int64{0, 1, 2, 3, 4, 5, 8, 16, 31, 64, 100, 255, 256, 511, 1000, 1023, 1024, 2047, 2500, 4095, 4096, 5000}
	if testing.Short() {
		sizes = sizes[:15]
	}
	x := index.New()
	m := model{}
	r := rand.New(rand.NewPCG(1, 2))
	var prev map[string]splitCase // the previous size's parts
	var prevSize int64
	var prevRoot [32]byte
	for _, size := range sizes {
		if err := x.Apply(ctx, x.Size(), log[x.Size():size]); err != nil {
			t.Fatal(err)
		}
		m = model{}
		m.apply(0, log[:size])
		root := x.Root()
		tops := map[index.Bucket][]byte{}
		for b := range index.Buckets(size) {
			top, err := x.Top(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if top.Bucket() != b {
				t.Fatalf("size %d: Top(%s) is of bucket %s", size, b, top.Bucket())
			}
			if err := top.Verify(root); err != nil {
				t.Fatalf("size %d: Top(%s) does not verify: %v", size, b, err)
			}
			tops[b] = top.Encode()
		}
		ids := []string{}
		for id := range m {
			if size <= 1024 || r.IntN(8) == 0 {
				ids = append(ids, id)
			}
		}
		for i := range 200 {
			ids = append(ids, fmt.Sprint("never-", i))
		}
		cases := map[string]splitCase{}
		for _, id := range ids {
			c := checkSplit(t, x, log, size, root, id, m, tops)
			cases[id] = c
		}
		// Parts of another bucket or size do not make a proof.
		n := 0
		for _, id := range ids {
			if n++; n > 300 {
				break
			}
			c := cases[id]
			other := ids[r.IntN(len(ids))]
			oc := cases[other]
			if index.BucketOf(size, other) != index.BucketOf(size, id) {
				if join(t, size, id, oc.top, c.bottom) != nil {
					t.Fatalf("size %d: %q joined with the top part of %q, of another bucket", size, id, other)
				}
				if oc.bottom != nil && c.bottom != nil && join(t, size, id, c.top, oc.bottom) != nil {
					t.Fatalf("size %d: %q joined with the bottom part of %q, of another bucket", size, id, other)
				}
			}
			if pc, ok := prev[id]; ok {
				mustNotProveUnlessSame(t, size, root, id, pc, c, prevSize)
				if pt, err := index.ParseTop(pc.top); err != nil {
					t.Fatal(err)
				} else if _, node := pt.Node(); node && prevRoot != root && pt.Verify(root) == nil {
					t.Fatalf("size %d: the top part of size %d for %q verifies", size, prevSize, id)
				}
			}
		}
		prev, prevSize, prevRoot = cases, size, root
	}
}

// checkSplit checks id's split proof at size and returns its parts.
func checkSplit(t *testing.T, x *index.Index, log []*catalog.Leaf, size int64, root [32]byte, id string, m model, tops map[index.Bucket][]byte) splitCase {
	t.Helper()
	ctx := context.Background()
	p, err := x.Prove(ctx, id, index.LeafSlice(log))
	if err != nil {
		t.Fatal(err)
	}
	top, bottom, err := p.Split(size, id)
	if err != nil {
		t.Fatalf("size %d: Split(%q): %v", size, id, err)
	}
	c := splitCase{id: id, top: top.Encode()}
	if want := tops[index.BucketOf(size, id)]; !bytes.Equal(c.top, want) {
		t.Fatalf("size %d: %q's top part %x, its bucket's %x", size, id, c.top, want)
	}
	if len(c.top) > index.MaxTopSize {
		t.Fatalf("size %d: top part of %d bytes", size, len(c.top))
	}
	node, whole := top.Node()
	whole = !whole
	if whole != (bottom == nil) {
		t.Fatalf("size %d: %q: whole top part %v, bottom part %v", size, id, whole, bottom)
	}
	if bottom != nil {
		c.bottom = bottom.Encode()
		if bottom.Node() != node {
			t.Fatalf("size %d: %q: bottom part's node %x, top part's %x", size, id, bottom.Node(), node)
		}
	}
	joined := join(t, size, id, c.top, c.bottom)
	if joined == nil {
		t.Fatalf("size %d: %q: parts do not join", size, id)
	}
	if !bytes.Equal(joined.Encode(), p.Encode()) {
		t.Fatalf("size %d: %q: joined %x, proof %x", size, id, joined.Encode(), p.Encode())
	}
	got, ok, err := joined.Verify(root, id)
	want, wantOK := m[id]
	if err != nil || ok != wantOK || got != want {
		t.Fatalf("size %d: %q: joined proof verifies to %+v, %v, %v; want %+v, %v", size, id, got, ok, err, want, wantOK)
	}
	return c
}

// join parses the parts and joins them; it returns nil if they do not
// join, and fails the test if they do not parse.
func join(t *testing.T, size int64, id string, top, bottom []byte) *index.Proof {
	t.Helper()
	tp, err := index.ParseTop(top)
	if err != nil {
		t.Fatalf("ParseTop: %v", err)
	}
	if !bytes.Equal(tp.Encode(), top) {
		t.Fatalf("top part %x re-encodes to %x", top, tp.Encode())
	}
	var bp *index.Bottom
	if bottom != nil {
		if bp, err = index.ParseBottom(bottom); err != nil {
			t.Fatalf("ParseBottom: %v", err)
		}
		if !bytes.Equal(bp.Encode(), bottom) {
			t.Fatalf("bottom part %x re-encodes to %x", bottom, bp.Encode())
		}
	}
	p, err := index.Join(size, id, tp, bp)
	if err != nil {
		if !errors.Is(err, index.ErrParts) {
			t.Fatalf("Join: %v does not wrap ErrParts", err)
		}
		return nil
	}
	return p
}

// mustNotProveUnlessSame checks that the previous size's top part does
// not make id's proof at this size verify, unless the parts are the same.
func mustNotProveUnlessSame(t *testing.T, size int64, root [32]byte, id string, prev, now splitCase, prevSize int64) {
	t.Helper()
	if bytes.Equal(prev.top, now.top) {
		return
	}
	p := join(t, size, id, prev.top, now.bottom)
	if p == nil {
		return
	}
	if _, _, err := p.Verify(root, id); !errors.Is(err, index.ErrMismatch) {
		t.Fatalf("size %d: the top part of size %d for %q: %v, want ErrMismatch", size, prevSize, id, err)
	}
}

// splitFixture is an index of 300 leaves with the split parts of a present
// and an absent id.
type splitFixture struct {
	x           *index.Index
	log         []*catalog.Leaf
	size        int64
	root        [32]byte
	present     splitCase
	absent      splitCase // an absent id whose path ends below its bucket root
	outside     splitCase // an absent id whose path ends above its bucket root, at outsideSize
	outsideSize int64
	whole       splitCase // an absent id of an empty bucket, at outsideSize
	neighbour   splitCase // a present id of another bucket
}

func newSplitFixture(t *testing.T) *splitFixture {
	ctx := context.Background()
	f := &splitFixture{log: splitLog(300), size: 300, x: index.New()}
	if err := f.x.Apply(ctx, 0, f.log); err != nil {
		t.Fatal(err)
	}
	f.root = f.x.Root()
	parts := func(id string) splitCase { return partsOf(t, f.x, f.log, f.size, id) }
	f.present = parts(f.log[1].ID)
	for i := 0; f.absent.bottom == nil; i++ {
		if c := parts(fmt.Sprint("never-", i)); c.bottom != nil && c.bottom[1] == 2 {
			f.absent = c
		}
	}
	for i := 2; f.neighbour.top == nil || bytes.Equal(f.neighbour.top, f.present.top); i++ {
		f.neighbour = parts(f.log[i].ID)
	}
	// An index of one article has an empty bucket and a bucket whose
	// root is the article's leaf, above every absent id's path.
	small := index.New()
	f.outsideSize = 2 // one article: two buckets, one empty
	if err := small.Apply(ctx, 0, f.log[:f.outsideSize]); err != nil {
		t.Fatal(err)
	}
	for i := 0; f.outside.bottom == nil || f.whole.top == nil; i++ {
		if i == 1000 {
			t.Fatal("no absent id whose path ends above its bucket root, or of an empty bucket, in 1,000")
		}
		switch c := partsOf(t, small, f.log, f.outsideSize, fmt.Sprint("never-", i)); {
		case c.bottom == nil:
			f.whole = c
		case c.bottom[1] == 3:
			f.outside = c
		}
	}
	return f
}

// partsOf returns the split parts of id's proof in x, of size leaves.
func partsOf(t *testing.T, x *index.Index, log []*catalog.Leaf, size int64, id string) splitCase {
	t.Helper()
	{
		p, err := x.Prove(context.Background(), id, index.LeafSlice(log))
		if err != nil {
			t.Fatal(err)
		}
		top, bottom, err := p.Split(size, id)
		if err != nil {
			t.Fatal(err)
		}
		c := splitCase{id: id, top: top.Encode()}
		if bottom != nil {
			c.bottom = bottom.Encode()
		}
		return c
	}
}

// TestTopVerify checks that a top part leads to its root and that a
// change to any of its bytes after the bucket does not.
func TestTopVerify(t *testing.T) {
	f := newSplitFixture(t)
	top, err := index.ParseTop(f.present.top)
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Verify(f.root); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < len(f.present.top); i++ {
		b := flip(f.present.top, i)
		top, err := index.ParseTop(b)
		if err != nil {
			continue // a depth changed out of order
		}
		if err := top.Verify(f.root); !errors.Is(err, index.ErrMismatch) || !strings.Contains(err.Error(), "top part of bucket") {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
}

// TestJoinRefuses checks that parts that do not fit give a clear error,
// never a proof: each case names the check of Join it needs.
func TestJoinRefuses(t *testing.T) {
	f := newSplitFixture(t)
	ctx := context.Background()
	id := f.present.id
	// The proof at a size of a smaller cut depth (4 at 63 leaves, 4 at
	// 300) and a larger one.
	small := index.New()
	if err := small.Apply(ctx, 0, f.log[:3]); err != nil {
		t.Fatal(err)
	}
	ps, err := small.Prove(ctx, id, index.LeafSlice(f.log))
	if err != nil {
		t.Fatal(err)
	}
	smallTop, _, err := ps.Split(3, id)
	if err != nil {
		t.Fatal(err)
	}
	// A top part cut higher than the cut depth, relabelled with the
	// right depth and bucket: its bucket root is above the cut depth, and
	// the bottom part below it is the rest of a valid proof.
	p, err := f.x.Prove(ctx, id, index.LeafSlice(f.log))
	if err != nil {
		t.Fatal(err)
	}
	highTop, highBottom, err := p.Split(4, id) // cut depth 1
	if err != nil {
		t.Fatal(err)
	}
	hb := highTop.Encode() // version, kind, depth 1, 1 bucket byte, ...
	relabelled := []byte{hb[0], hb[1], 4, index.Key(id)[0] & 0xf0}
	relabelled = append(relabelled, hb[4:]...)
	for _, c := range []struct {
		name        string
		top, bottom []byte
		want        string
		size        int64 // if not f.size
	}{
		{"top part of another cut depth (size)", smallTop.Encode(), f.present.bottom, "cut at depth 1, an index of size 300 at 4", 0},
		{"top part of another bucket", f.neighbour.top, f.present.bottom, "the top part is of bucket", 0},
		{"bottom part of another bucket", f.present.top, f.neighbour.bottom, "the bottom part leads to node", 0},
		{"no bottom part", f.present.top, nil, "no bottom part", 0},
		{"bottom part above the cut", relabelled, highBottom.Encode(), "above the cut depth 4", 0},
		{"bottom part whose node hash mismatches", f.present.top, flip(f.present.bottom, len(f.present.bottom)-1), "the bottom part leads to node", 0},
		{"absent id's bottom part with a flipped sibling", f.absent.top, flip(f.absent.bottom, len(f.absent.bottom)-1), "the bottom part leads to node", 0},
		{"outside bottom part with a flipped node value", f.outside.top, flip(f.outside.bottom, len(f.outside.bottom)-1), "the bottom part leads to node", f.outsideSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			top, err := index.ParseTop(c.top)
			if err != nil {
				t.Fatal(err)
			}
			var bottom *index.Bottom
			if c.bottom != nil {
				if bottom, err = index.ParseBottom(c.bottom); err != nil {
					t.Fatal(err)
				}
			}
			id := id
			if bytes.Equal(c.top, f.absent.top) {
				id = f.absent.id
			} else if bytes.Equal(c.top, f.outside.top) {
				id = f.outside.id
			}
			size := f.size
			if c.size != 0 {
				size = c.size
			}
			p, err := index.Join(size, id, top, bottom)
			if !errors.Is(err, index.ErrParts) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Join = %v, %v; want an ErrParts error with %q", p, err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
		})
	}
	// A whole top part takes no bottom part.
	wt, err := index.ParseTop(f.whole.top)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := index.ParseBottom(f.outside.bottom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.Join(f.outsideSize, f.whole.id, wt, pb); !errors.Is(err, index.ErrParts) || !strings.Contains(err.Error(), "beside a whole top part") {
		t.Errorf("Join of a whole top part and a bottom part: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

// TestParsePartsRefuses checks that malformed parts do not parse, each
// with a one-line error wrapping ErrMalformed.
func TestParsePartsRefuses(t *testing.T) {
	f := newSplitFixture(t)
	top, bottom, absent, outside := f.present.top, f.present.bottom, f.absent.bottom, f.outside.bottom
	with := func(b []byte, fn func([]byte) []byte) []byte { return fn(bytes.Clone(b)) }
	for _, c := range []struct {
		name string
		top  bool
		b    []byte
		want string
	}{
		{"empty top", true, nil, "too short"},
		{"top version", true, with(top, func(b []byte) []byte { b[0] = 2; return b }), "version 2"},
		{"top kind", true, with(top, func(b []byte) []byte { b[1] = 2; return b }), "kind 2"},
		{"top cut depth 0", true, with(top, func(b []byte) []byte { b[2] = 0; return b }), "cut depth 0"},
		{"top cut depth 33", true, with(top, func(b []byte) []byte { b[2] = 33; return b }), "cut depth 33"},
		{"top bucket bits after the cut", true, with(top, func(b []byte) []byte { b[3] |= 1; return b }), "bits set after the cut"},
		{"top truncated", true, top[:len(top)-1], "steps in"},
		{"top trailing byte", true, append(bytes.Clone(top), 0), "steps in"},
		{"top too short for the root", true, top[:10], "too short for the bucket root"},
		{"top oversized", true, make([]byte, index.MaxTopSize+1), "more than"},
		{"top step below the cut", true, with(top, func(b []byte) []byte { b[len(b)-66] = 4; return b }), "not above"},
		{"top path not at the root", true, with(top, func(b []byte) []byte { b = b[:len(b)-33]; b[37]--; return b }), "does not end at the root"},
		{"top whole kind with a presence", true, append([]byte{1, 0, 4, f.present.top[3]}, presentProof(t, f)...), "a presence proof"},
		{"empty bottom", false, nil, "too short"},
		{"bottom version", false, with(bottom, func(b []byte) []byte { b[0] = 0; return b }), "version 0"},
		{"bottom kind", false, with(bottom, func(b []byte) []byte { b[1] = 4; return b }), "kind 4"},
		{"bottom truncated", false, bottom[:len(bottom)-1], "steps in"},
		{"bottom trailing byte", false, append(bytes.Clone(bottom), 0), "steps in"},
		{"bottom oversized", false, make([]byte, index.MaxBottomSize+1), "more than"},
		{"bottom leaf too long", false, with(bottom, func(b []byte) []byte { b[10], b[11] = 0xff, 0xff; return b }), "leaf of"},
		{"absent bottom truncated", false, absent[:len(absent)-1], "steps in"},
		{"absent bottom branch child above the branch", false, slices.Concat([]byte{1, 2, 9}, make([]byte, 32), []byte{0, 9, 0, 0}, make([]byte, 32), []byte{0, 0}), "branch child of"},
		{"outside bottom truncated", false, outside[:len(outside)-1], "too short for the node's value"},
		{"outside bottom trailing byte", false, append(bytes.Clone(outside), 0), "bytes after the node"},
		{"outside bottom with the empty node", false, append([]byte{1, 3, 0xff, 0xff}, make([]byte, 32)...), "the empty node"},
		{"outside bottom with the root", false, append([]byte{1, 3, 0, 0}, make([]byte, 32)...), "the empty node or the root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.top {
				_, err = index.ParseTop(c.b)
			} else {
				_, err = index.ParseBottom(c.b)
			}
			if !errors.Is(err, index.ErrMalformed) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("parse = %v; want a one-line ErrMalformed error with %q", err, c.want)
			}
		})
	}
}

func presentProof(t *testing.T, f *splitFixture) []byte {
	p, err := f.x.Prove(context.Background(), f.present.id, index.LeafSlice(f.log))
	if err != nil {
		t.Fatal(err)
	}
	return p.Encode()
}
