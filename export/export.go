// Package export writes and verifies standalone bundle files: offline
// copies of one or more articles that carry everything a reader needs to
// verify them with nothing but the publisher's root key. A file holds the
// signed key statement, a signed checkpoint and, for each article, its
// catalog leaf, an inclusion proof of that leaf in the checkpoint, and the
// bundle. See FORMAT.md.
package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Magic starts every standalone bundle file.
const Magic = "SAMIZDAT-EXPORT\x01"

// Limits of standalone files.
const (
	// MaxArticles bounds the articles in one file.
	MaxArticles = 10000
	// MaxProofHashes bounds an inclusion proof (a log of 2^63 leaves
	// needs 63).
	MaxProofHashes = 64
)

const (
	secStatement  = 1
	secCheckpoint = 2
	secArticle    = 3
)

// Write writes a standalone file holding the current revisions of the
// given articles of the publisher whose root key is root.
func Write(w io.Writer, st *store.Store, root *keys.PublicKey, ids []string) error {
	pub, err := st.Publisher(root.ID())
	if err != nil {
		return err
	}
	if pub.Checkpoint == nil {
		return errors.New("export: the publisher's log has no checkpoint")
	}
	if len(ids) == 0 || len(ids) > MaxArticles {
		return fmt.Errorf("export: want 1 to %d articles", MaxArticles)
	}
	var buf bytes.Buffer
	buf.WriteString(Magic)
	section(&buf, secStatement, pub.Statement)
	section(&buf, secCheckpoint, pub.Checkpoint)
	for _, id := range ids {
		a, err := st.Article(pub.ID, id)
		if err != nil {
			return err
		}
		if a.Retracted {
			return fmt.Errorf("export: %q was retracted", id)
		}
		data, err := st.Bundle(a.Digest)
		if err != nil {
			return err
		}
		leaves, err := st.Leaves(pub.ID, a.Leaf, a.Leaf+1)
		if err != nil {
			return err
		}
		proof, err := st.InclusionProof(pub.ID, a.Leaf, pub.Size)
		if err != nil {
			return err
		}
		var sec []byte
		sec = binary.BigEndian.AppendUint64(sec, uint64(a.Leaf))
		sec = append(sec, byte(len(proof)))
		for _, h := range proof {
			sec = append(sec, h[:]...)
		}
		sec = append(sec, byte(len(leaves[0])))
		sec = append(sec, leaves[0]...)
		sec = append(sec, data...)
		section(&buf, secArticle, sec)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func section(b *bytes.Buffer, kind byte, data []byte) {
	b.WriteByte(kind)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
	b.Write(data)
}

// Article is one verified article of a standalone file.
type Article struct {
	Leaf   int64
	Bundle *bundle.Bundle
}

// File is a verified standalone file.
type File struct {
	Trust      *keys.Trust
	Checkpoint *catalog.Checkpoint
	Articles   []Article
}

// MaxSize is the default bound on a standalone file read by Verify.
const MaxSize = 1 << 30

// Verify checks a standalone file against the pinned root key: the key
// statement, the checkpoint, and for every article its inclusion in the
// checkpoint and its bundle, fully decompressed. The first failure is
// returned.
func Verify(data []byte, root *keys.PublicKey, opts *bundle.OpenOptions) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("export: file larger than %d bytes", MaxSize)
	}
	if !bytes.HasPrefix(data, []byte(Magic)) {
		return nil, errors.New("export: not a standalone bundle file (bad magic)")
	}
	rest := data[len(Magic):]
	next := func(want byte, what string) ([]byte, error) {
		if len(rest) < 5 {
			return nil, fmt.Errorf("export: truncated before the %s", what)
		}
		if rest[0] != want {
			return nil, fmt.Errorf("export: section %d where the %s should be", rest[0], what)
		}
		n := binary.BigEndian.Uint32(rest[1:5])
		if uint64(n) > uint64(len(rest)-5) {
			return nil, fmt.Errorf("export: truncated %s: %d bytes announced, %d remain", what, n, len(rest)-5)
		}
		sec := rest[5 : 5+n]
		rest = rest[5+n:]
		return sec, nil
	}
	stmt, err := next(secStatement, "key statement")
	if err != nil {
		return nil, err
	}
	f := &File{}
	if f.Trust, err = keys.NewTrust(root, stmt); err != nil {
		return nil, err
	}
	cpb, err := next(secCheckpoint, "checkpoint")
	if err != nil {
		return nil, err
	}
	if f.Checkpoint, err = catalog.OpenCheckpoint(cpb, f.Trust); err != nil {
		return nil, err
	}
	for len(rest) > 0 {
		if len(f.Articles) == MaxArticles {
			return nil, fmt.Errorf("export: more than %d articles", MaxArticles)
		}
		sec, err := next(secArticle, "article")
		if err != nil {
			return nil, err
		}
		a, err := verifyArticle(sec, f, opts)
		if err != nil {
			return nil, fmt.Errorf("export: article %d: %w", len(f.Articles)+1, err)
		}
		f.Articles = append(f.Articles, *a)
	}
	if len(f.Articles) == 0 {
		return nil, errors.New("export: no articles")
	}
	return f, nil
}

func verifyArticle(sec []byte, f *File, opts *bundle.OpenOptions) (*Article, error) {
	if len(sec) < 9 {
		return nil, errors.New("truncated")
	}
	n := int64(binary.BigEndian.Uint64(sec))
	np := int(sec[8])
	sec = sec[9:]
	if np > MaxProofHashes || len(sec) < np*tlog.HashSize+1 {
		return nil, errors.New("truncated or oversized inclusion proof")
	}
	proof := make(tlog.RecordProof, np)
	for i := range proof {
		copy(proof[i][:], sec[i*tlog.HashSize:])
	}
	sec = sec[np*tlog.HashSize:]
	ll := int(sec[0])
	if len(sec) < 1+ll {
		return nil, errors.New("truncated leaf")
	}
	leafRaw, data := sec[1:1+ll], sec[1+ll:]
	if err := catalog.CheckInclusion(f.Checkpoint, n, leafRaw, proof); err != nil {
		return nil, err
	}
	leaf, err := catalog.ParseLeaf(leafRaw)
	if err != nil {
		return nil, err
	}
	if leaf.Kind != catalog.KindBundle {
		return nil, fmt.Errorf("leaf %d is a %s leaf, not a bundle", n, leaf.Kind)
	}
	b, err := bundle.Verify(data, f.Trust, opts)
	if err != nil {
		return nil, err
	}
	if b.Digest != leaf.Digest || b.Manifest.ID != leaf.ID || b.Manifest.Revision != leaf.Revision {
		return nil, fmt.Errorf("bundle (%q revision %d) is not the one leaf %d records (%q revision %d)", b.Manifest.ID, b.Manifest.Revision, n, leaf.ID, leaf.Revision)
	}
	return &Article{Leaf: n, Bundle: b}, nil
}
