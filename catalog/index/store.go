package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"filippo.io/torchwood/prefix"
)

// Store is where an Index keeps its state: a map from byte keys to byte
// values, such as a bbolt bucket or a table. An Index writes only the
// O(log N) records that each leaf changes, so a store on disk never
// rewrites the whole tree; see FORMAT.md, "Article index", for the records.
//
// Put must replace a record that exists. Get returns ok false for a key
// that was never put. A disk store makes one Apply atomic by running it
// inside one transaction (and throwing the Index away if Apply fails).
//
// A Store used by an Index must be safe for concurrent Gets; the Index never
// calls Put concurrently with anything else.
type Store interface {
	Get(ctx context.Context, key []byte) (value []byte, ok bool, err error)
	Put(ctx context.Context, key, value []byte) error
}

// MemoryStore is a Store in memory. It is safe for concurrent use.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: make(map[string][]byte)} }

// Get returns the value of key.
func (s *MemoryStore) Get(_ context.Context, key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[string(key)]
	return v, ok, nil
}

// Put sets the value of key. It keeps its own copy of value.
func (s *MemoryStore) Put(_ context.Context, key, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(key)] = append([]byte(nil), value...)
	return nil
}

// Len returns the number of records held.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// The record keys. Each starts with one byte naming its kind.
const (
	recNode  = 'n' // "n" label: a tree node
	recValue = 'v' // "v" SHA-256(id): the id's Value
	recSize  = 's' // "s": the number of log leaves applied
)

// emptyBits is the label length that stands for torchwood's empty node
// (the placeholder beside a root's only child) in encoded labels.
const emptyBits = 0xFFFF

// appendLabel appends a label's encoding: u16 bit length (0xFFFF for the
// empty node), then the ceil(bits/8) bytes that hold the bits.
func appendLabel(b []byte, l prefix.Label) []byte {
	if l == prefix.EmptyNodeLabel {
		return binary.BigEndian.AppendUint16(b, emptyBits)
	}
	n := l.BitLen()
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, l.Bytes()[:(n+7)/8]...)
}

// errShort is returned by readLabel when b ends too soon.
var errShort = errors.New("too short")

// readLabel decodes a label from the front of b and returns the rest.
// Unused bits of the last byte must be zero.
func readLabel(b []byte) (prefix.Label, []byte, error) {
	if len(b) < 2 {
		return prefix.Label{}, nil, errShort
	}
	n := binary.BigEndian.Uint16(b)
	b = b[2:]
	if n == emptyBits {
		return prefix.EmptyNodeLabel, b, nil
	}
	if n > 256 {
		return prefix.Label{}, nil, fmt.Errorf("label of %d bits", n)
	}
	k := (int(n) + 7) / 8
	if len(b) < k {
		return prefix.Label{}, nil, errShort
	}
	var full [32]byte
	copy(full[:], b[:k])
	l, err := prefix.NewLabel(uint32(n), full[:])
	if err != nil {
		return prefix.Label{}, nil, err
	}
	return l, b[k:], nil
}

func nodeKey(l prefix.Label) []byte { return appendLabel([]byte{recNode}, l) }

func valueKey(key [32]byte) []byte { return append([]byte{recValue}, key[:]...) }

// nodeStorage is the prefix.Storage that torchwood's tree works on, kept
// in a Store. A node record is its hash, followed for an inner node (the
// root included) by its left and right children's labels.
type nodeStorage struct{ s Store }

func (n nodeStorage) Load(ctx context.Context, l prefix.Label) (*prefix.Node, error) {
	v, ok, err := n.s.Get(ctx, nodeKey(l))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, prefix.ErrNodeNotFound
	}
	bad := func(why string) (*prefix.Node, error) {
		return nil, fmt.Errorf("index: stored node %s: %s", l, why)
	}
	if len(v) < 32 {
		return bad("too short")
	}
	node := &prefix.Node{Label: l}
	copy(node.Hash[:], v)
	v = v[32:]
	if l.IsLeaf() || l == prefix.EmptyNodeLabel {
		if len(v) != 0 {
			return bad("trailing bytes")
		}
		return node, nil
	}
	if node.Left, v, err = readLabel(v); err != nil {
		return bad(err.Error())
	}
	if node.Right, v, err = readLabel(v); err != nil {
		return bad(err.Error())
	}
	if len(v) != 0 {
		return bad("trailing bytes")
	}
	return node, nil
}

func (n nodeStorage) Store(ctx context.Context, nodes ...*prefix.Node) error {
	for _, node := range nodes {
		v := append(make([]byte, 0, 32+2*34), node.Hash[:]...)
		if !node.Label.IsLeaf() && node.Label != prefix.EmptyNodeLabel {
			v = appendLabel(appendLabel(v, node.Left), node.Right)
		}
		if err := n.s.Put(ctx, nodeKey(node.Label), v); err != nil {
			return err
		}
	}
	return nil
}
