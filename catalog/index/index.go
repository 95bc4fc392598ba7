// Package index is the article index of a publisher's log: a map from each
// article id to the newest leaf of the log for that id (a bundle revision or
// a retraction), committed by a Merkle prefix tree so that one root hash
// proves, in O(log N) hashes, which leaf is an id's newest, or that the log
// has no leaf for the id at all.
//
// The tree is torchwood's compressed binary Merkle prefix tree
// (filippo.io/torchwood/prefix, pinned at v0.6.1) keyed by SHA-256(id), with
// every hash domain-separated from the log's RFC 6962 hashes. The index is a
// pure function of the log: mirrors recompute it leaf by leaf as the log
// grows (Apply) and compare the root with the one the publisher signed.
// FORMAT.md, "Article index", is the specification; testdata/vectors.json
// holds test vectors for other implementations.
package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"filippo.io/torchwood/prefix"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// HashPrefix starts every input that the index hashes with SHA-256. Its
// first byte (0x73) differs from RFC 6962's 0x00 (leaf) and 0x01 (node), so
// no index hash is ever a log hash, and the other way round.
const HashPrefix = "samizdat/index\x00"

// hash is the tree's hash function: SHA-256(HashPrefix || b).
func hash(b []byte) [32]byte {
	var buf [len(HashPrefix) + 64]byte
	if len(b) > 64 {
		return sha256.Sum256(append([]byte(HashPrefix), b...))
	}
	n := copy(buf[:], HashPrefix)
	n += copy(buf[n:], b)
	return sha256.Sum256(buf[:n])
}

// Key returns the tree key of an article id: SHA-256(id).
func Key(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// Value is what the index holds for an article id: its newest leaf.
type Value struct {
	Leaf int64     // the leaf's index in the log
	Hash tlog.Hash // the leaf's log hash, catalog.LeafHash
}

// valueHash is the tree value that commits to v:
// hash(u64 leaf index || leaf hash).
func (v Value) valueHash() [32]byte {
	var b [8 + 32]byte
	binary.BigEndian.PutUint64(b[:], uint64(v.Leaf))
	copy(b[8:], v.Hash[:])
	return hash(b[:])
}

func (v Value) encode() []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(v.Leaf)), v.Hash[:]...)
}

func decodeValue(b []byte) (Value, error) {
	if len(b) != 8+32 {
		return Value{}, errors.New("index: stored value has the wrong length")
	}
	v := Value{Leaf: int64(binary.BigEndian.Uint64(b))}
	copy(v.Hash[:], b[8:])
	if v.Leaf < 0 {
		return Value{}, errors.New("index: stored value has a negative leaf index")
	}
	return v, nil
}

// CheckLeaf checks that leaf, as served beside a proof of v for id, is the
// leaf v names: its log hash is v.Hash, and it is a bundle or retraction
// leaf of that id. It returns the parsed leaf.
func (v Value) CheckLeaf(id string, leaf []byte) (*catalog.Leaf, error) {
	if catalog.LeafHash(leaf) != v.Hash {
		return nil, fmt.Errorf("index: leaf does not have the hash the index holds for %q", id)
	}
	l, err := catalog.ParseLeaf(leaf)
	if err != nil {
		return nil, err
	}
	if (l.Kind != catalog.KindBundle && l.Kind != catalog.KindRetraction) || l.ID != id {
		return nil, fmt.Errorf("index: leaf %d is a %s leaf of %q, not an article leaf of %q", v.Leaf, l.Kind, l.ID, id)
	}
	return l, nil
}

// update is one id's new value.
type update struct {
	key [32]byte
	v   Value
}

// Index is the article index of one log. It is safe for concurrent use:
// Apply excludes every other call; lookups and proofs run in parallel.
type Index struct {
	mu    sync.RWMutex
	s     Store
	tree  *prefix.Tree
	size  int64
	nodes nodeStorage
	root  tlog.Hash
	err   error // a Store error in the middle of an Apply: the index is lost
}

// New returns an empty index of an empty log, kept in memory.
func New() *Index {
	x, err := Open(context.Background(), NewMemoryStore())
	if err != nil {
		panic("index: opening a memory store failed: " + err.Error()) // cannot happen
	}
	return x
}

// Open returns the index kept in s, or a new empty one if s is empty.
func Open(ctx context.Context, s Store) (*Index, error) {
	ns := nodeStorage{s}
	x := &Index{s: s, tree: prefix.NewTree(hash, ns), nodes: ns}
	b, ok, err := s.Get(ctx, []byte{recSize})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if !ok {
		if err := prefix.InitStorage(ctx, hash, ns); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		if err := s.Put(ctx, []byte{recSize}, make([]byte, 8)); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
	} else {
		if len(b) != 8 || int64(binary.BigEndian.Uint64(b)) < 0 {
			return nil, errors.New("index: stored size is malformed")
		}
		x.size = int64(binary.BigEndian.Uint64(b))
	}
	if x.root, err = x.tree.RootHash(ctx); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return x, nil
}

// Size returns the number of log leaves applied: the index is the one of
// the log's first Size leaves.
func (x *Index) Size() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.size
}

// Root returns the root hash of the index.
func (x *Index) Root() tlog.Hash {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.root
}

// EmptyRoot returns the root hash of the index of a log without article
// leaves.
func EmptyRoot() tlog.Hash { return emptyRoot }

// emptyRoot and emptyNodeHash are the hashes of an empty index's root and
// of torchwood's empty node.
var emptyRoot, emptyNodeHash = func() (tlog.Hash, [32]byte) {
	ctx := context.Background()
	s := nodeStorage{NewMemoryStore()}
	if err := prefix.InitStorage(ctx, hash, s); err != nil {
		panic("index: " + err.Error())
	}
	r, err1 := s.Load(ctx, prefix.RootLabel)
	e, err2 := s.Load(ctx, prefix.EmptyNodeLabel)
	if err1 != nil || err2 != nil {
		panic("index: cannot make the empty index")
	}
	return r.Hash, e.Hash
}()

// Apply applies leaves, the log's leaves from index from on, to an index
// of size from, which becomes the index of size from+len(leaves). Each
// bundle or retraction leaf becomes its id's value; key statement and
// mirror list leaves only count. It costs O(len(leaves) log N).
//
// Apply does not judge the log's rules (catalog.Next does, in the store
// that accepted the leaves); it refuses a leaf it cannot index: an unknown
// kind or an invalid id. It checks every leaf before it changes anything,
// so such an error leaves the index as it was. If the Store fails, the
// Store may hold part of the leaves: every later call of this Index returns
// that error, and the caller rolls the Store's transaction back and opens
// the Index again.
func (x *Index) Apply(ctx context.Context, from int64, leaves []*catalog.Leaf) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err != nil {
		return x.err
	}
	if from != x.size {
		return fmt.Errorf("index: leaves from %d applied to an index of size %d", from, x.size)
	}
	if int64(len(leaves)) > 1<<62-from {
		return errors.New("index: too many leaves")
	}
	// Plan: the last value of each id in the batch, in first-seen order.
	var plan []update
	seen := make(map[[32]byte]int)
	for i, l := range leaves {
		n := from + int64(i)
		if l == nil {
			return fmt.Errorf("index: leaf %d is missing", n)
		}
		switch l.Kind {
		case catalog.KindBundle, catalog.KindRetraction:
		case catalog.KindKeyStatement, catalog.KindMirrorList:
			continue
		default:
			return fmt.Errorf("index: leaf %d has unknown kind %d", n, l.Kind)
		}
		if err := bundle.CheckID(l.ID); err != nil {
			return fmt.Errorf("index: leaf %d: %w", n, err)
		}
		u := update{Key(l.ID), Value{Leaf: n, Hash: catalog.LeafHash(l.Encode())}}
		if j, ok := seen[u.key]; ok {
			plan[j] = u
			continue
		}
		seen[u.key] = len(plan)
		plan = append(plan, u)
	}
	size := from + int64(len(leaves))
	root, err := x.write(ctx, plan, size)
	if err != nil {
		x.err = fmt.Errorf("index: store failed while applying leaves %d to %d: %w", from, size-1, err)
		return x.err
	}
	x.size, x.root = size, root
	return nil
}

// write inserts planned values and the new size into the store and
// returns the new root.
func (x *Index) write(ctx context.Context, plan []update, size int64) (tlog.Hash, error) {
	for _, u := range plan {
		if err := x.tree.Insert(ctx, u.key, u.v.valueHash()); err != nil {
			return tlog.Hash{}, err
		}
		if err := x.s.Put(ctx, valueKey(u.key), u.v.encode()); err != nil {
			return tlog.Hash{}, err
		}
	}
	if err := x.s.Put(ctx, []byte{recSize}, binary.BigEndian.AppendUint64(nil, uint64(size))); err != nil {
		return tlog.Hash{}, err
	}
	return x.tree.RootHash(ctx)
}

// Lookup returns the value of an article id, and whether it has one.
func (x *Index) Lookup(ctx context.Context, id string) (Value, bool, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.err != nil {
		return Value{}, false, x.err
	}
	return x.lookup(ctx, Key(id))
}

func (x *Index) lookup(ctx context.Context, key [32]byte) (Value, bool, error) {
	b, ok, err := x.s.Get(ctx, valueKey(key))
	if err != nil || !ok {
		return Value{}, false, err
	}
	v, err := decodeValue(b)
	return v, err == nil, err
}

// LeafFunc returns leaf n of the log an index was applied from, encoded:
// Prove puts the leaf that an id's value names in the id's proof.
type LeafFunc func(n int64) ([]byte, error)

// LeafSlice returns the LeafFunc of a log held in memory.
func LeafSlice(log []*catalog.Leaf) LeafFunc {
	return func(n int64) ([]byte, error) {
		if n < 0 || n >= int64(len(log)) {
			return nil, fmt.Errorf("index: no leaf %d in a log of %d", n, len(log))
		}
		return log[n].Encode(), nil
	}
}

// Prove returns the proof of id's value, with the leaf that it names,
// read through leaf, or of the id's absence, in the index as it is now
// (its Root). It checks that the leaf is the one the index holds.
func (x *Index) Prove(ctx context.Context, id string, leaf LeafFunc) (*Proof, error) {
	if err := bundle.CheckID(id); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.err != nil {
		return nil, x.err
	}
	p, err := x.prove(ctx, Key(id))
	if err != nil {
		return nil, fmt.Errorf("index: proof of %q: %w", id, err)
	}
	if p.Present {
		raw, err := leaf(p.Value.Leaf)
		if err != nil {
			return nil, fmt.Errorf("index: proof of %q: leaf %d: %w", id, p.Value.Leaf, err)
		}
		if p.leaf, err = p.Value.CheckLeaf(id, raw); err != nil {
			return nil, fmt.Errorf("index: proof of %q: the log's leaf %d is not the one the index holds: %w", id, p.Value.Leaf, err)
		}
	}
	return p, nil
}

func (x *Index) prove(ctx context.Context, key [32]byte) (*Proof, error) {
	v, ok, err := x.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	found, nodes, err := x.tree.Lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	if found != ok {
		return nil, errors.New("tree and values disagree")
	}
	full := keyLabel(key, 256)
	depth := func(n prefix.ProofNode) uint8 {
		// The depth of the inner node where n branches off the key's
		// path: their common prefix (0 beside the empty node).
		return uint8(prefix.LongestCommonPrefix(full, n.Label).BitLen())
	}
	steps := func(nodes []prefix.ProofNode) []step {
		s := make([]step, len(nodes))
		for i, n := range nodes {
			s[i] = step{depth(n), n.Hash}
		}
		return s
	}
	if found {
		return &Proof{Present: true, Value: v, path: steps(nodes)}, nil
	}
	if len(nodes) == 1 && nodes[0].Label == prefix.EmptyNodeLabel {
		return &Proof{empty: true}, nil
	}
	if len(nodes) == 1 {
		// torchwood v0.6.1 leaves out the empty node when the root has
		// one child and the key is on the empty side.
		nodes = append(nodes, prefix.ProofNode{Label: prefix.EmptyNodeLabel, Hash: emptyNodeHash})
	}
	// nodes[0] and nodes[1] are the children of the branch where the
	// key's path ends; find the one on the key's side.
	a, b := nodes[0], nodes[1]
	d := prefix.LongestCommonPrefix(a.Label, b.Label).BitLen()
	keySide := func(n prefix.ProofNode) bool {
		return n.Label != prefix.EmptyNodeLabel && labelBit(n.Label, d) == bit(key, int(d))
	}
	if keySide(a) || (!keySide(b) && a.Label == prefix.EmptyNodeLabel) {
		a, b = b, a
	}
	// Now b is on the key's side and a on the other.
	p := &Proof{depth: uint8(d), other: a.Hash, child: b.Label, path: steps(nodes[2:])}
	switch {
	case b.Label == prefix.EmptyNodeLabel:
	case b.Label.IsLeaf():
		cv, ok, err := x.lookup(ctx, [32]byte(b.Label.Bytes()))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("no value for leaf %s", b.Label)
		}
		p.childValue = cv.valueHash()
	default:
		n, err := x.nodes.Load(ctx, b.Label)
		if err != nil {
			return nil, err
		}
		l, err := x.nodes.Load(ctx, n.Left)
		if err != nil {
			return nil, err
		}
		r, err := x.nodes.Load(ctx, n.Right)
		if err != nil {
			return nil, err
		}
		p.childValue = hash(append(l.Hash[:], r.Hash[:]...))
	}
	return p, nil
}

// labelBit returns bit i of a label that is longer than i bits.
func labelBit(l prefix.Label, i uint32) byte {
	b, _ := l.Bit(i)
	return b
}
