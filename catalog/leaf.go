// Package catalog is a publisher's append-only Merkle log: the leaves that
// record bundles, retractions, key statements and mirror lists, the signed
// checkpoints that commit to the log, the proofs that tie a leaf or an older
// checkpoint to a newer one, and the rules a sequence of leaves must obey.
//
// Hashing, proofs and tree arithmetic are RFC 6962's, as implemented by
// golang.org/x/mod/sumdb/tlog; checkpoints are C2SP tlog-checkpoint notes
// signed with golang.org/x/mod/sumdb/note. See FORMAT.md. Everything here is
// a pure function of its inputs and safe for concurrent use.
package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// Kind is the type of a leaf.
type Kind uint8

// The leaf kinds.
const (
	KindBundle       Kind = 1 // an article revision: id, revision, bundle digest
	KindRetraction   Kind = 2 // an article withdrawn: id, revision, time
	KindKeyStatement Kind = 3 // a key statement: version, SHA-256
	KindMirrorList   Kind = 4 // a mirror list: version, SHA-256
)

func (k Kind) String() string {
	switch k {
	case KindBundle:
		return "bundle"
	case KindRetraction:
		return "retraction"
	case KindKeyStatement:
		return "key-statement"
	case KindMirrorList:
		return "mirror-list"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MaxLeafSize bounds an encoded leaf.
const MaxLeafSize = 1 + 1 + bundle.MaxIDLen + 8 + 32

// Leaf is one record of the log. Which fields are set depends on Kind.
type Leaf struct {
	Kind     Kind
	ID       string        // bundle, retraction
	Revision uint64        // bundle, retraction
	Digest   bundle.Digest // bundle: the bundle; statement, mirror list: SHA-256 of the signed bytes
	Time     time.Time     // retraction
	Version  uint64        // key statement, mirror list
}

// Encode returns the leaf's bytes, the record that the log hashes.
func (l *Leaf) Encode() []byte {
	b := []byte{byte(l.Kind)}
	switch l.Kind {
	case KindBundle:
		b = append(append(b, byte(len(l.ID))), l.ID...)
		b = binary.BigEndian.AppendUint64(b, l.Revision)
		b = append(b, l.Digest[:]...)
	case KindRetraction:
		b = append(append(b, byte(len(l.ID))), l.ID...)
		b = binary.BigEndian.AppendUint64(b, l.Revision)
		b = binary.BigEndian.AppendUint64(b, uint64(l.Time.Unix()))
	case KindKeyStatement, KindMirrorList:
		b = binary.BigEndian.AppendUint64(b, l.Version)
		b = append(b, l.Digest[:]...)
	}
	return b
}

// ParseLeaf decodes a leaf and checks its fields.
func ParseLeaf(b []byte) (*Leaf, error) {
	bad := func(format string, args ...any) (*Leaf, error) {
		return nil, fmt.Errorf("catalog: leaf: "+format, args...)
	}
	if len(b) == 0 || len(b) > MaxLeafSize {
		return bad("size %d outside 1..%d", len(b), MaxLeafSize)
	}
	l := &Leaf{Kind: Kind(b[0])}
	rest := b[1:]
	switch l.Kind {
	case KindBundle, KindRetraction:
		tail := 8 + 32 // revision, digest
		if l.Kind == KindRetraction {
			tail = 8 + 8 // revision, time
		}
		if len(rest) < 1 || len(rest) != 1+int(rest[0])+tail {
			return bad("%s leaf has the wrong length", l.Kind)
		}
		l.ID = string(rest[1 : 1+rest[0]])
		if err := bundle.CheckID(l.ID); err != nil {
			return bad("%v", err)
		}
		rest = rest[1+rest[0]:]
		l.Revision = binary.BigEndian.Uint64(rest)
		if l.Revision == 0 {
			return bad("revision 0")
		}
		if l.Kind == KindBundle {
			copy(l.Digest[:], rest[8:])
		} else {
			t := int64(binary.BigEndian.Uint64(rest[8:]))
			if t < 0 || t > 253402300799 {
				return bad("retraction time out of range")
			}
			l.Time = time.Unix(t, 0).UTC()
		}
	case KindKeyStatement, KindMirrorList:
		if len(rest) != 8+32 {
			return bad("%s leaf has the wrong length", l.Kind)
		}
		l.Version = binary.BigEndian.Uint64(rest)
		if l.Version == 0 {
			return bad("version 0")
		}
		copy(l.Digest[:], rest[8:])
	default:
		return bad("unknown kind %d", b[0])
	}
	if !bytes.Equal(l.Encode(), b) {
		return bad("not in canonical form")
	}
	return l, nil
}

// Article is the state of one article id after a log's leaves are applied.
type Article struct {
	ID        string
	Revision  uint64
	Digest    bundle.Digest // the current revision's bundle
	Leaf      int64         // index of the leaf that set this state
	Retracted bool
	Time      time.Time // retraction time
}

// ErrRule is wrapped by every violation of the log's rules.
var ErrRule = errors.New("catalog: leaf breaks the log's rules")

// Next checks that leaf l, at index n, may follow prev, the article's state
// so far (nil for an id not seen before), and returns the new state.
// It applies to bundle and retraction leaves only.
//
// The rules: a bundle leaf's revision is higher than every earlier revision
// of its id (a new revision supersedes the old); a retraction names the
// current revision of an article that is not already retracted.
func Next(prev *Article, l *Leaf, n int64) (*Article, error) {
	switch l.Kind {
	case KindBundle:
		if prev != nil && l.Revision <= prev.Revision {
			return nil, fmt.Errorf("%w: %q revision %d does not exceed revision %d", ErrRule, l.ID, l.Revision, prev.Revision)
		}
		return &Article{ID: l.ID, Revision: l.Revision, Digest: l.Digest, Leaf: n}, nil
	case KindRetraction:
		if prev == nil || prev.Retracted || prev.Revision != l.Revision {
			return nil, fmt.Errorf("%w: retraction of %q revision %d does not name the current revision", ErrRule, l.ID, l.Revision)
		}
		a := *prev
		a.Retracted, a.Time, a.Leaf = true, l.Time, n
		return &a, nil
	}
	return nil, fmt.Errorf("%w: %s leaf is not an article leaf", ErrRule, l.Kind)
}

// NextVersion checks that a key statement or mirror list leaf's version is
// higher than prev, the highest version of its kind so far.
func NextVersion(prev uint64, l *Leaf) error {
	if l.Version <= prev {
		return fmt.Errorf("%w: %s version %d does not exceed %d", ErrRule, l.Kind, l.Version, prev)
	}
	return nil
}
