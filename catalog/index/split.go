package index

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"strings"

	"filippo.io/torchwood/prefix"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// A proof splits at the cut depth of its index's size into a top part and
// a bottom part (FORMAT.md, "Split proofs"). The keys that share their
// first D bits, D the cut depth, form a bucket; every key of a bucket has
// the same top part, and a bottom part depends only on the subtree below
// the bucket's root, so a static mirror rewrites, per export, one small top
// part per bucket and the bottom parts of the buckets that changed, where
// it would rewrite a full proof per article.

// MaxCutDepth is the largest cut depth: bucket names have at most 8 hex
// digits.
const MaxCutDepth = 32

// SplitVersion is the first byte of an encoded top or bottom part.
const SplitVersion = 1

// Limits of the parts of a split proof.
const (
	// MaxTopSize bounds an encoded top part: version, kind, cut depth and
	// a 4-byte bucket, then the larger of a bucket root's hash with 32
	// steps (2+32+32*33 bytes) and an absence proof whose branch is above
	// the cut, so with at most 31 steps (2+1+32+2+32+32+2+31*33 bytes).
	MaxTopSize = 3 + 4 + max(32+2+MaxCutDepth*stepSize, 2+1+32+2+32+32+2+(MaxCutDepth-1)*stepSize)
	// MaxBottomSize bounds an encoded bottom part: its kinds are laid out
	// as a proof's, so it is no longer than the longest proof.
	MaxBottomSize = MaxProofSize
)

// The kinds of a top part, its second byte.
const (
	topComplete = 0 // the bucket is empty: its keys' whole absence proof
	topNode     = 1 // the bucket root's hash and the steps above it
)

// The kinds of a bottom part, its second byte. They are numbered as the
// proof kinds they complete.
const (
	bottomPresent = 1 // the id's leaf and its path up to the bucket root
	bottomAbsent  = 2 // the branch below the bucket root and its path up
	bottomOutside = 3 // the bucket root itself, which is not on the key's path
)

// ErrParts is wrapped by the error of Join when a top part and a bottom
// part do not belong together or to the id and size asked for: parts of
// another size, bucket or bucket root, or cut at another depth.
var ErrParts = errors.New("index: the parts of a split proof do not fit")

// CutDepth returns the cut depth of the index of a log of size leaves:
// half the bits of size, at least 1 and at most MaxCutDepth. There are
// then about sqrt(size) buckets of about sqrt(size) ids each, which makes
// the files a static export rewrites after one changed article (a top
// part per bucket, and the bottom parts of one bucket) about 2*sqrt(size),
// the fewest that a split in two levels allows.
func CutDepth(size int64) int {
	d := bits.Len64(uint64(max(size, 1))) / 2
	return min(max(d, 1), MaxCutDepth)
}

// Bucket is a set of keys that share their first Depth bits, Depth a cut
// depth. Its name (String) is the hex digits that hold those bits, the
// bits after them zero: "3a" is the bucket of the keys that start with
// 0x3a at depth 8, "38" the keys that start with 0b0011_1 at depth 5.
type Bucket struct {
	depth uint8
	bits  [4]byte // the first depth bits, the rest zero
}

// BucketOf returns the bucket of id in the index of a log of size leaves.
func BucketOf(size int64, id string) Bucket { return bucketOf(Key(id), CutDepth(size)) }

func bucketOf(key [32]byte, depth int) Bucket {
	b := Bucket{depth: uint8(depth)}
	copy(b.bits[:], key[:4])
	mask := ^uint32(0) << (32 - depth)
	if depth == 0 {
		mask = 0
	}
	binary.BigEndian.PutUint32(b.bits[:], binary.BigEndian.Uint32(b.bits[:])&mask)
	return b
}

// Buckets returns every bucket of the index of a log of size leaves, in
// the order of their names.
func Buckets(size int64) iter.Seq[Bucket] {
	d := CutDepth(size)
	return func(yield func(Bucket) bool) {
		for i := range uint64(1) << d {
			b := Bucket{depth: uint8(d)}
			binary.BigEndian.PutUint32(b.bits[:], uint32(i<<(32-d)))
			if !yield(b) {
				return
			}
		}
	}
}

// ParseBucket returns the bucket named name in the index of a log of size
// leaves: ceil(CutDepth(size)/4) lowercase hex digits, the bits after the
// cut depth zero.
func ParseBucket(size int64, name string) (Bucket, error) {
	d := CutDepth(size)
	if len(name) != (d+3)/4 {
		return Bucket{}, fmt.Errorf("index: bucket name %q: not %d hex digits", name, (d+3)/4)
	}
	var s [8]byte
	for i := range s {
		s[i] = '0'
	}
	copy(s[:], name)
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Bucket{}, fmt.Errorf("index: bucket name %q: not lowercase hex", name)
		}
	}
	var raw [4]byte
	hex.Decode(raw[:], s[:])
	var key [32]byte
	copy(key[:], raw[:])
	b := bucketOf(key, d)
	if b.bits != raw {
		return Bucket{}, fmt.Errorf("index: bucket name %q: bits set after the cut depth %d", name, d)
	}
	return b, nil
}

// Depth returns the cut depth of the bucket.
func (b Bucket) Depth() int { return int(b.depth) }

// String returns the bucket's name.
func (b Bucket) String() string {
	return hex.EncodeToString(b.bits[:])[:(b.depth+3)/4]
}

// ValueRecords returns the range [from, to) of the Store record keys that
// hold the values of the bucket's ids (FORMAT.md, "Article index": "v"
// then SHA-256(id)); to is nil for the last bucket, whose range runs to
// the end of the value records. The bucket's root, and so the bottom
// parts below it, change only when one of these records does: a store
// that keeps the records each Apply changed can tell, without a proof,
// that a bucket's root is the same at two sizes of one cut depth.
func (b Bucket) ValueRecords() (from, to []byte) {
	from = append([]byte{recValue}, b.bits[:]...)
	next := uint64(binary.BigEndian.Uint32(b.bits[:])) + 1<<(32-b.depth)
	if next >= 1<<32 {
		return from, nil
	}
	return from, binary.BigEndian.AppendUint32([]byte{recValue}, uint32(next))
}

// label returns the bucket's bits as a label.
func (b Bucket) label() prefix.Label {
	var key [32]byte
	copy(key[:], b.bits[:])
	return keyLabel(key, int(b.depth))
}

// holds reports whether label l starts with the bucket's bits.
func (b Bucket) holds(l prefix.Label) bool {
	return l != prefix.EmptyNodeLabel && l.HasPrefix(b.label())
}

// Top is the top part of the proofs of a bucket's keys at one index root.
// Either the bucket is empty and the top part is the whole absence proof of
// each of its keys, or it holds the hash of the bucket root (the highest
// node whose label starts with the bucket's bits) and the steps from it up
// to the index root. A Top is not changed after it is made and is safe for
// concurrent use.
type Top struct {
	bucket Bucket
	proof  *Proof // the whole proof, when the bucket is empty
	node   [32]byte
	path   []step // from the bucket root up, depths below the cut depth
}

// Bucket returns the bucket whose keys the top part serves.
func (t *Top) Bucket() Bucket { return t.bucket }

// Node returns the hash of the bucket root, which names the bottom parts
// below it, and true; or false if the bucket is empty, so that the top
// part is a whole proof and needs no bottom part.
func (t *Top) Node() (tlog.Hash, bool) { return t.node, t.proof == nil }

// Encode returns the top part's binary form (FORMAT.md, "Split proofs").
func (t *Top) Encode() []byte {
	b := make([]byte, 0, MaxTopSize)
	b = append(b, SplitVersion, topNode, t.bucket.depth)
	if t.proof != nil {
		b[1] = topComplete
	}
	b = append(b, t.bucket.bits[:(t.bucket.depth+7)/8]...)
	if t.proof != nil {
		return append(b, t.proof.Encode()...)
	}
	b = append(b, t.node[:]...)
	return appendSteps(b, t.path)
}

// Bottom is the bottom part of one key's proof: the key's leaf and path,
// or the branch where its path ends, up to the bucket root; or, when the
// key is not below the bucket root, that root's label and value. It
// depends only on the subtree below the bucket root, whose hash (Node)
// names it. A Bottom is not changed after it is made and is safe for
// concurrent use.
type Bottom struct {
	kind byte
	// bottomPresent: the value, the leaf.
	value Value
	leaf  *catalog.Leaf
	// bottomAbsent: the branch; bottomOutside: child is the bucket root.
	depth      uint8
	other      [32]byte
	child      prefix.Label
	childValue [32]byte
	path       []step // from the bottom up, up to the bucket root
}

// Encode returns the bottom part's binary form (FORMAT.md, "Split proofs").
func (b *Bottom) Encode() []byte {
	e := make([]byte, 0, 2+8+2+catalog.MaxLeafSize+2+len(b.path)*stepSize)
	e = append(e, SplitVersion, b.kind)
	switch b.kind {
	case bottomPresent:
		leaf := b.leaf.Encode()
		e = binary.BigEndian.AppendUint64(e, uint64(b.value.Leaf))
		e = binary.BigEndian.AppendUint16(e, uint16(len(leaf)))
		e = append(e, leaf...)
	case bottomAbsent:
		e = append(e, b.depth)
		e = append(e, b.other[:]...)
		e = appendLabel(e, b.child)
		e = append(e, b.childValue[:]...)
	case bottomOutside:
		e = appendLabel(e, b.child)
		return append(e, b.childValue[:]...)
	}
	return appendSteps(e, b.path)
}

// Node returns the hash of the node at the top of the bottom part, which
// the top part it belongs with names as its bucket root.
func (b *Bottom) Node() tlog.Hash {
	_, h := b.node()
	return h
}

// node climbs the bottom part from its start to its top node. Every label
// on the way is a prefix of the key's: for a presence, the key of the
// leaf's id; for an absence, the branch child's, which agrees with the key
// up to the branch and so on every label above it.
func (b *Bottom) node() (prefix.Label, [32]byte) {
	switch b.kind {
	case bottomPresent:
		return b.climbFrom(Key(b.leaf.ID))
	case bottomAbsent:
		return b.climbFrom([32]byte(b.child.Bytes()))
	}
	return b.child, nodeHash(b.child, b.childValue)
}

// climbFrom climbs the bottom part of a presence or an absence inside the
// bucket root's subtree, every label on the way a prefix of ref.
func (b *Bottom) climbFrom(ref [32]byte) (prefix.Label, [32]byte) {
	var l prefix.Label
	var h [32]byte
	switch b.kind {
	case bottomPresent:
		l = keyLabel(ref, 256)
		h = nodeHash(l, b.value.valueHash())
	case bottomAbsent:
		l, h = climb(ref, nodeHash(b.child, b.childValue), step{b.depth, b.other})
	}
	for _, s := range b.path {
		l, h = climb(ref, h, s)
	}
	return l, h
}

// climb returns the label and hash of the inner node of s.depth bits on
// the path of key ref, whose child on ref's side has hash h and whose
// other child is s's sibling.
func climb(ref [32]byte, h [32]byte, s step) (prefix.Label, [32]byte) {
	l := keyLabel(ref, int(s.depth))
	var v [32]byte
	if bit(ref, int(s.depth)) == 0 {
		v = hash(append(h[:], s.hash[:]...))
	} else {
		v = hash(append(s.hash[:], h[:]...))
	}
	return l, nodeHash(l, v)
}

func appendSteps(b []byte, path []step) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(path)))
	for _, s := range path {
		b = append(b, s.depth)
		b = append(b, s.hash[:]...)
	}
	return b
}

// readSteps decodes the step count and steps that end b. Depths strictly
// decrease from below first (the depth of what lies below the first step).
func readSteps(b []byte, first int) ([]step, error) {
	if len(b) < 2 {
		return nil, errors.New("too short for the step count")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > MaxProofSteps || len(b) != n*stepSize {
		return nil, fmt.Errorf("%d steps in %d bytes", n, len(b))
	}
	path := make([]step, n)
	prev := first
	for i := range path {
		s := &path[i]
		s.depth = b[0]
		copy(s.hash[:], b[1:stepSize])
		b = b[stepSize:]
		if int(s.depth) >= prev {
			return nil, fmt.Errorf("step %d at depth %d, not above %d", i, s.depth, prev)
		}
		prev = int(s.depth)
	}
	return path, nil
}

// ParseTop decodes an encoded top part. It checks the form only; Join
// checks it against an id, a size and a bottom part, and Proof.Verify the
// joined proof against a root.
func ParseTop(b []byte) (*Top, error) {
	bad := func(format string, args ...any) (*Top, error) {
		return nil, fmt.Errorf("%w: top part: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(b) > MaxTopSize {
		return bad("%d bytes, more than %d", len(b), MaxTopSize)
	}
	if len(b) < 3 {
		return bad("too short")
	}
	if b[0] != SplitVersion {
		return bad("version %d, this reader reads version %d", b[0], SplitVersion)
	}
	kind, d := b[1], int(b[2])
	if d < 1 || d > MaxCutDepth {
		return bad("cut depth %d, not 1 to %d", d, MaxCutDepth)
	}
	b = b[3:]
	n := (d + 7) / 8
	if len(b) < n {
		return bad("too short for the bucket")
	}
	var key [32]byte
	copy(key[:], b[:n])
	t := &Top{bucket: bucketOf(key, d)}
	if !bytesEqual(t.bucket.bits[:n], b[:n]) {
		return bad("bucket bits set after the cut depth %d", d)
	}
	b = b[n:]
	switch kind {
	case topComplete:
		p, err := ParseProof(b)
		if err != nil {
			return bad("%s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
		}
		switch {
		case p.Present:
			return bad("a presence proof for a whole bucket")
		case !p.empty && int(p.depth) >= d:
			return bad("an absence proof whose branch, at depth %d, is below the cut depth %d", p.depth, d)
		case !p.empty && t.bucket.holds(p.child):
			return bad("an absence proof whose branch child is in the bucket")
		}
		t.proof = p
		return t, nil
	case topNode:
		if len(b) < 32 {
			return bad("too short for the bucket root")
		}
		copy(t.node[:], b)
		path, err := readSteps(b[32:], d)
		if err != nil {
			return bad("%v", err)
		}
		if len(path) == 0 || path[len(path)-1].depth != 0 {
			return bad("path does not end at the root")
		}
		t.path = path
		return t, nil
	}
	return bad("kind %d", kind)
}

// ParseBottom decodes an encoded bottom part. It checks the form only;
// Join checks it against a top part.
func ParseBottom(b []byte) (*Bottom, error) {
	bad := func(format string, args ...any) (*Bottom, error) {
		return nil, fmt.Errorf("%w: bottom part: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(b) > MaxBottomSize {
		return bad("%d bytes, more than %d", len(b), MaxBottomSize)
	}
	if len(b) < 2 {
		return bad("too short")
	}
	if b[0] != SplitVersion {
		return bad("version %d, this reader reads version %d", b[0], SplitVersion)
	}
	p := &Bottom{kind: b[1]}
	b = b[2:]
	first := 256
	switch p.kind {
	case bottomPresent:
		var err error
		if p.value, p.leaf, b, err = readArticleLeaf(b); err != nil {
			return bad("%v", err)
		}
		if err := bundle.CheckID(p.leaf.ID); err != nil {
			return bad("%v", err)
		}
	case bottomAbsent, bottomOutside:
		if p.kind == bottomAbsent {
			if len(b) < 1+32 {
				return bad("too short for a branch")
			}
			p.depth = b[0]
			copy(p.other[:], b[1:33])
			b = b[33:]
			first = int(p.depth)
		}
		l, rest, err := readLabel(b)
		if err != nil {
			return bad("node label: %v", err)
		}
		if l == prefix.EmptyNodeLabel || l.BitLen() == 0 {
			return bad("the empty node or the root as a node below a cut")
		}
		if p.kind == bottomAbsent && int(l.BitLen()) <= first {
			return bad("branch child of %d bits at depth %d", l.BitLen(), first)
		}
		if len(rest) < 32 {
			return bad("too short for the node's value")
		}
		p.child = l
		copy(p.childValue[:], rest)
		b = rest[32:]
		if p.kind == bottomOutside {
			if len(b) != 0 {
				return bad("%d bytes after the node", len(b))
			}
			return p, nil
		}
	default:
		return bad("kind %d", p.kind)
	}
	path, err := readSteps(b, first)
	if err != nil {
		return bad("%v", err)
	}
	p.path = path
	return p, nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// Split returns the top and bottom parts of p, a proof for id in the index
// of a log of size leaves, cut at CutDepth(size). The bottom part is nil
// when id's bucket is empty: the top part is then the whole proof.
func (p *Proof) Split(size int64, id string) (*Top, *Bottom, error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, nil, fmt.Errorf("index: %w", err)
	}
	if p.Present && p.leaf.ID != id {
		return nil, nil, fmt.Errorf("index: split of a proof for %q as one for %q", p.leaf.ID, id)
	}
	return p.split(Key(id), CutDepth(size))
}

func (p *Proof) split(key [32]byte, d int) (*Top, *Bottom, error) {
	t := &Top{bucket: bucketOf(key, d)}
	if !p.Present && (p.empty || int(p.depth) < d) {
		if p.empty || !t.bucket.holds(p.child) {
			t.proof = p
			return t, nil, nil
		}
		// The branch is above the cut, its child on the key's side is
		// the bucket root and is not on the key's path.
		b := &Bottom{kind: bottomOutside, child: p.child, childValue: p.childValue}
		t.node = nodeHash(p.child, p.childValue)
		t.path = append([]step{{p.depth, p.other}}, p.path...)
		return t, b, nil
	}
	b := &Bottom{kind: bottomAbsent, depth: p.depth, other: p.other, child: p.child, childValue: p.childValue}
	if p.Present {
		b = &Bottom{kind: bottomPresent, value: p.Value, leaf: p.leaf}
	}
	i := 0
	for i < len(p.path) && int(p.path[i].depth) >= d {
		i++
	}
	b.path, t.path = p.path[:i:i], p.path[i:]
	if len(t.path) == 0 {
		return nil, nil, errors.New("index: internal error: a proof with no step above the cut depth")
	}
	_, t.node = b.climbFrom(key)
	return t, b, nil
}

// Verify checks that the top part's bucket root hash and the steps above
// it lead to root, the index root of the size it is for: the labels on the
// way are prefixes of the bucket's bits, all shorter than the cut depth.
// The error wraps ErrMismatch. A reader checks it before it fetches the
// bottom part that the top part names, so that a changed top part is
// refused, not taken for a missing bottom part. A whole top part (Node
// false) has no bucket root: Join returns it as the id's proof, which
// Proof.Verify checks, and Verify checks nothing.
func (t *Top) Verify(root tlog.Hash) error {
	if t.proof != nil {
		return nil
	}
	var ref [32]byte
	copy(ref[:], t.bucket.bits[:])
	h := t.node
	for _, s := range t.path {
		_, h = climb(ref, h, s)
	}
	if h != root {
		return fmt.Errorf("%w: the top part of bucket %s does not lead to the index root", ErrMismatch, t.bucket)
	}
	return nil
}

// Check returns an error wrapping ErrParts unless t is a top part for id
// in the index of a log of size leaves: cut at size's cut depth, of id's
// bucket. A reader checks it before it fetches the bottom part that t
// names; Join checks it again.
func (t *Top) Check(size int64, id string) error {
	want := BucketOf(size, id)
	if t.bucket.depth != want.depth {
		return fmt.Errorf("%w: %q: the top part is cut at depth %d, an index of size %d at %d", ErrParts, id, t.bucket.depth, size, want.depth)
	}
	if t.bucket != want {
		return fmt.Errorf("%w: %q: the top part is of bucket %s, the id's bucket is %s", ErrParts, id, t.bucket, want)
	}
	return nil
}

// Join returns the proof for id in the index of a log of size leaves that
// top and bottom are the parts of; bottom is nil when top is a whole
// proof (Top.Node). It checks that the parts fit (an error wrapping
// ErrParts): top is of id's bucket at size's cut depth, and bottom leads
// to top's bucket root from no higher than the cut depth, so that the
// joined path's depths strictly decrease. The caller verifies the joined
// proof against the root (Proof.Verify), which checks everything else.
func Join(size int64, id string, top *Top, bottom *Bottom) (*Proof, error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	bad := func(format string, args ...any) (*Proof, error) {
		return nil, fmt.Errorf("%w: %q: "+format, append([]any{ErrParts, id}, args...)...)
	}
	if err := top.Check(size, id); err != nil {
		return nil, err
	}
	if top.proof != nil {
		if bottom != nil {
			return bad("a bottom part beside a whole top part")
		}
		return top.proof, nil
	}
	if bottom == nil {
		return bad("no bottom part below bucket root %x", top.node)
	}
	l, h := bottom.node()
	if h != top.node {
		return bad("the bottom part leads to node %x, the top part's bucket root is %x", h[:8], top.node[:8])
	}
	if int(l.BitLen()) < int(top.bucket.depth) {
		return bad("the bottom part ends at depth %d, above the cut depth %d", l.BitLen(), top.bucket.depth)
	}
	path := func(below []step) []step {
		return append(append(make([]step, 0, len(below)+len(top.path)), below...), top.path...)
	}
	switch bottom.kind {
	case bottomPresent:
		return &Proof{Present: true, Value: bottom.value, leaf: bottom.leaf, path: path(bottom.path)}, nil
	case bottomAbsent:
		return &Proof{depth: bottom.depth, other: bottom.other, child: bottom.child, childValue: bottom.childValue, path: path(bottom.path)}, nil
	}
	// bottomOutside: the branch is the top part's first step, the bucket
	// root's parent.
	s := top.path[0]
	return &Proof{depth: s.depth, other: s.hash, child: bottom.child, childValue: bottom.childValue, path: path(nil)[1:]}, nil
}

// Top returns the top part of the proofs of bucket's keys in the index as
// it is now (its Root); bucket is of the cut depth of the index's size.
func (x *Index) Top(ctx context.Context, bucket Bucket) (*Top, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.err != nil {
		return nil, x.err
	}
	if d := CutDepth(x.size); bucket.Depth() != d {
		return nil, fmt.Errorf("index: bucket %s is cut at depth %d, an index of size %d at %d", bucket, bucket.Depth(), x.size, d)
	}
	var key [32]byte // the bucket's first key
	copy(key[:], bucket.bits[:])
	p, err := x.prove(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("index: top part of bucket %s: %w", bucket, err)
	}
	t, _, err := p.split(key, bucket.Depth())
	return t, err
}
