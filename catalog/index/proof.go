package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/torchwood/prefix"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// Limits of a proof. A key is 256 bits and every inner node on a key's
// path has a longer label than its parent, so a path passes at most 256
// inner nodes (depths 0 to 255).
const (
	// MaxProofSteps bounds the steps (sibling hashes) in a proof.
	MaxProofSteps = 256
	// MaxProofSize bounds an encoded proof: the larger of an absence
	// proof with the longest branch (2+1+32+2+32+32 bytes) and 255 steps,
	// and a presence proof with the longest leaf (2+8+2+catalog.MaxLeafSize
	// bytes) and 256 steps, steps being 33 bytes and the count 2.
	MaxProofSize = max(2+1+32+2+32+32+2+(MaxProofSteps-1)*stepSize,
		2+8+2+catalog.MaxLeafSize+2+MaxProofSteps*stepSize)

	stepSize = 1 + 32 // depth, hash
)

// ProofVersion is the first byte of an encoded proof. Version 2 carries
// the id's newest leaf itself in a presence proof, where version 1
// carried its hash, so that a reader needs no entry bundle to read it.
const ProofVersion = 2

// The kinds of proof, its second byte.
const (
	kindEmpty   = 0 // the index is empty, so the id is absent
	kindPresent = 1 // the id's newest leaf and the path from it to the root
	kindAbsent  = 2 // the branch where the id's path ends, and its path
)

// ErrMalformed is wrapped by every error of ParseProof.
var ErrMalformed = errors.New("index: malformed proof")

// ErrMismatch is wrapped by the error of a proof that does not lead from
// the id to the root: a proof for another id or another index, or a
// tampered one.
var ErrMismatch = errors.New("index: proof does not match the root")

// step is one level of a path: the sibling's hash, beside the inner node
// at depth (the length of its label in bits) on the key's path.
type step struct {
	depth uint8
	hash  [32]byte
}

// Proof shows an article id's value in an index with a given root, with
// the log leaf that value names, or that the id is absent from the index.
// Its bytes (Encode) are the format; it holds nothing that a verifier can
// derive (node labels from the key, the leaf's hash from the leaf), so
// that every bit of an encoded proof matters. A Proof is not changed after
// it is made and is safe for concurrent use.
type Proof struct {
	Present bool  // the id has a value
	Value   Value // the value, when Present: Value.Hash is the leaf's log hash

	leaf *catalog.Leaf // when Present: the leaf Value names, an article leaf

	empty bool   // absent from the empty index
	path  []step // from the bottom up: the leaf's or the branch's path

	// An absence proof's branch: the deepest inner node on the key's path,
	// at depth, whose child on the key's side (child, with its value;
	// the empty node when child is prefix.EmptyNodeLabel) is not a prefix
	// of the key, and whose other child has hash other.
	depth      uint8
	other      [32]byte
	child      prefix.Label
	childValue [32]byte
}

// Len returns the number of steps in the proof's path.
func (p *Proof) Len() int { return len(p.path) }

// Leaf returns the leaf a presence proof carries, a bundle or retraction
// leaf: the id's newest as of the index's root once Verify accepts the
// proof for that id. It returns nil for a proof of absence.
func (p *Proof) Leaf() *catalog.Leaf {
	if p.leaf == nil {
		return nil
	}
	l := *p.leaf
	return &l
}

// Encode returns the proof's binary form (FORMAT.md, "Article index").
func (p *Proof) Encode() []byte {
	b := make([]byte, 0, 2+8+2+catalog.MaxLeafSize+2+len(p.path)*stepSize)
	b = append(b, ProofVersion)
	switch {
	case p.Present:
		var leaf []byte // none in a Proof made by hand, which then does not parse
		if p.leaf != nil {
			leaf = p.leaf.Encode()
		}
		b = append(b, kindPresent)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Value.Leaf))
		b = binary.BigEndian.AppendUint16(b, uint16(len(leaf)))
		b = append(b, leaf...)
	case p.empty:
		return append(b, kindEmpty)
	default:
		b = append(b, kindAbsent, p.depth)
		b = append(b, p.other[:]...)
		b = appendLabel(b, p.child)
		if p.child != prefix.EmptyNodeLabel {
			b = append(b, p.childValue[:]...)
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.path)))
	for _, s := range p.path {
		b = append(b, s.depth)
		b = append(b, s.hash[:]...)
	}
	return b
}

// ParseProof decodes an encoded proof. It checks the form only; Verify
// checks it against an id and a root.
func ParseProof(b []byte) (*Proof, error) {
	bad := func(format string, args ...any) (*Proof, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(b) > MaxProofSize {
		return bad("%d bytes, more than %d", len(b), MaxProofSize)
	}
	if len(b) < 2 {
		return bad("too short")
	}
	if b[0] != ProofVersion {
		return bad("version %d, this reader reads version %d", b[0], ProofVersion)
	}
	p := &Proof{}
	kind := b[1]
	b = b[2:]
	switch kind {
	case kindEmpty:
		if len(b) != 0 {
			return bad("%d bytes after an empty index's proof", len(b))
		}
		p.empty = true
		return p, nil
	case kindPresent:
		p.Present = true
		var err error
		if p.Value, p.leaf, b, err = readArticleLeaf(b); err != nil {
			return bad("%v", err)
		}
	case kindAbsent:
		if len(b) < 1+32 {
			return bad("too short for a branch")
		}
		p.depth = b[0]
		copy(p.other[:], b[1:33])
		l, rest, err := readLabel(b[33:])
		if err != nil {
			return bad("branch child: %v", err)
		}
		p.child, b = l, rest
		if l == prefix.EmptyNodeLabel {
			if p.depth != 0 {
				return bad("empty branch child below the root")
			}
		} else {
			if int(l.BitLen()) <= int(p.depth) {
				return bad("branch child of %d bits at depth %d", l.BitLen(), p.depth)
			}
			if len(b) < 32 {
				return bad("too short for the branch child's value")
			}
			copy(p.childValue[:], b)
			b = b[32:]
		}
	default:
		return bad("kind %d", kind)
	}
	if len(b) < 2 {
		return bad("too short for the step count")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > MaxProofSteps || len(b) != n*stepSize {
		return bad("%d steps in %d bytes", n, len(b))
	}
	// Depths strictly decrease to the root's, 0; an absence proof's
	// start below its branch, which has no path if it is the root.
	prev := 256
	if kind == kindAbsent {
		prev = int(p.depth)
	}
	if n == 0 && prev != 0 {
		return bad("no path to the root")
	}
	p.path = make([]step, n)
	for i := range p.path {
		s := &p.path[i]
		s.depth = b[0]
		copy(s.hash[:], b[1:stepSize])
		b = b[stepSize:]
		if int(s.depth) >= prev {
			return bad("step %d at depth %d, not above %d", i, s.depth, prev)
		}
		prev = int(s.depth)
	}
	if prev != 0 {
		return bad("path ends at depth %d, not at the root", prev)
	}
	return p, nil
}

// keyLabel returns the first n bits of key as a label.
func keyLabel(key [32]byte, n int) prefix.Label {
	var b [32]byte
	copy(b[:], key[:(n+7)/8])
	if n%8 != 0 {
		b[n/8] &= 0xFF << (8 - n%8)
	}
	l, err := prefix.NewLabel(uint32(n), b[:])
	if err != nil {
		panic("index: internal error: " + err.Error())
	}
	return l
}

// bit returns bit i of key, 0 or 1.
func bit(key [32]byte, i int) byte { return key[i/8] >> (7 - i%8) & 1 }

// sibling returns the proof node of a step on key's path: a label that
// branches from the key at the step's depth (the only thing torchwood's
// verifier takes from a sibling's label), and the sibling's hash.
func sibling(key [32]byte, s step) prefix.ProofNode {
	d := int(s.depth)
	l := keyLabel(key, d+1)
	b := l.Bytes()
	b2 := [32]byte(b)
	b2[d/8] ^= 0x80 >> (d % 8)
	l, _ = prefix.NewLabel(uint32(d+1), b2[:])
	return prefix.ProofNode{Label: l, Hash: s.hash}
}

// nodeHash is torchwood's hash of a node from its label and value:
// hash(value || hash(u32 bits || 32 label bytes)).
func nodeHash(l prefix.Label, value [32]byte) [32]byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 36), l.BitLen())
	lh := hash(append(b, l.Bytes()...))
	return hash(append(value[:], lh[:]...))
}

// Verify checks that p proves id's value (or absence) in the index whose
// root hash is root. It returns the value and true when the id is present,
// a zero Value and false when p proves it absent, and an error wrapping
// ErrMismatch when p proves nothing about id under root.
func (p *Proof) Verify(root tlog.Hash, id string) (Value, bool, error) {
	if err := bundle.CheckID(id); err != nil {
		return Value{}, false, fmt.Errorf("index: %w", err)
	}
	key := Key(id)
	mismatch := func(format string, args ...any) (Value, bool, error) {
		return Value{}, false, fmt.Errorf("%w: %q: "+format, append([]any{ErrMismatch, id}, args...)...)
	}
	nodes := make([]prefix.ProofNode, 0, 2+len(p.path))
	switch {
	case p.empty:
		if root != emptyRoot {
			return mismatch("the index is not empty")
		}
		return Value{}, false, nil
	case p.Present:
		// The leaf is the id's: an index maps only an id's own leaves to
		// its key, but one signed by a stolen key need not.
		if p.leaf == nil {
			return mismatch("the proof carries no leaf")
		}
		if p.leaf.ID != id {
			return mismatch("its leaf %d is an article leaf of %q", p.Value.Leaf, p.leaf.ID)
		}
		for _, s := range p.path {
			nodes = append(nodes, sibling(key, s))
		}
		if err := prefix.VerifyMembershipProof(hash, key, p.Value.valueHash(), nodes, root); err != nil {
			return mismatch("%v", err)
		}
		return p.Value, true, nil
	}
	// Absent: the branch child on the key's side is where the key's path
	// leaves the tree. torchwood v0.6.1's VerifyNonMembershipProof trusts
	// that child's label as given; bind it by hashing it with its value.
	d := int(p.depth)
	child := prefix.ProofNode{Label: p.child, Hash: emptyNodeHash}
	if p.child != prefix.EmptyNodeLabel {
		for i := range d + 1 {
			if b, _ := p.child.Bit(uint32(i)); b != bit(key, i) {
				return mismatch("the branch child is not on the key's side of depth %d", d)
			}
		}
		if keyLabel(key, int(p.child.BitLen())) == p.child {
			return mismatch("the branch child is on the key's path")
		}
		child.Hash = nodeHash(p.child, p.childValue)
	}
	nodes = append(nodes, sibling(key, step{p.depth, p.other}), child)
	for _, s := range p.path {
		nodes = append(nodes, sibling(key, s))
	}
	if err := prefix.VerifyNonMembershipProof(hash, key, nodes, root); err != nil {
		return mismatch("%v", err)
	}
	return Value{}, false, nil
}

// Verify parses an encoded proof and checks it for id against root: it
// returns the id's value and true, or false if the proof shows the id
// absent, or an error wrapping ErrMalformed or ErrMismatch. A caller that
// wants the leaf the value names (Proof.Leaf) calls ParseProof and
// Proof.Verify instead.
func Verify(root tlog.Hash, id string, proof []byte) (Value, bool, error) {
	p, err := ParseProof(proof)
	if err != nil {
		return Value{}, false, err
	}
	return p.Verify(root, id)
}

// readArticleLeaf decodes, from the front of b, what a presence carries:
// the leaf's index (u64) and the leaf (u16 length, then the leaf), an
// article leaf in its canonical form. It returns the value (the index and
// the leaf's log hash), the leaf and the rest of b; an error says why b
// holds none, for a parser to wrap.
func readArticleLeaf(b []byte) (Value, *catalog.Leaf, []byte, error) {
	if len(b) < 8+2 {
		return Value{}, nil, nil, errors.New("too short for a leaf")
	}
	v := Value{Leaf: int64(binary.BigEndian.Uint64(b))}
	if v.Leaf < 0 {
		return Value{}, nil, nil, errors.New("leaf index out of range")
	}
	n := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if n > catalog.MaxLeafSize || n > len(b) {
		return Value{}, nil, nil, fmt.Errorf("leaf of %d bytes in %d (at most %d)", n, len(b), catalog.MaxLeafSize)
	}
	l, err := catalog.ParseLeaf(b[:n])
	if err != nil {
		return Value{}, nil, nil, err
	}
	if l.Kind != catalog.KindBundle && l.Kind != catalog.KindRetraction {
		return Value{}, nil, nil, fmt.Errorf("a %s leaf, not an article leaf", l.Kind)
	}
	v.Hash = catalog.LeafHash(b[:n])
	return v, l, b[n:], nil
}
