package reader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// index is a reader's index of a publisher's log, in <state>/index.db
// (bbolt): each article's state, and what the reader needs to extend the
// log without reading it again (its size, the right edge of its tree, the
// versions it records). It is a cache of what the leaves file and the
// head prove: loadState checks it against the head's checkpoint, and
// rebuilds it from the leaves when it does not match. It is opened for
// each use, so that processes sharing a state take turns.
type index struct {
	path string
}

// indexLockWait bounds the wait for another process's use of an index.
const indexLockWait = 10 * time.Second

var (
	bktMeta     = []byte("meta")
	bktArticles = []byte("articles")

	keyCheckpoint = []byte("checkpoint") // the head's checkpoint this index goes with
	keySize       = []byte("size")
	keyEdge       = []byte("edge")
	keyLeafBytes  = []byte("leaf-bytes")
	keyVersions   = []byte("versions")  // key version, mirror version, mirror digest
	keyAnchor     = []byte("anchor")    // a sync in progress: the checkpoint it was checked against
	keyProofs     = []byte("proofs")    // and the consistency proofs: head -> anchor, size -> anchor
	keyStatement  = []byte("statement") // and the key statement anchor verifies under
)

// indexMeta is an index's meta bucket.
type indexMeta struct {
	checkpoint []byte
	size       int64
	edge       []tlog.Hash
	leafBytes  int64
	keyVersion uint64
	mirrorVer  uint64
	mirrorDig  bundle.Digest
	anchor     []byte         // nil unless a sync is in progress
	statement  []byte         // the statement anchor verifies under
	baseProof  tlog.TreeProof // head's checkpoint -> anchor
	tipProof   tlog.TreeProof // size -> anchor
}

func (x *index) open(readOnly bool) (*bolt.DB, error) {
	return bolt.Open(x.path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: indexLockWait})
}

// damagedFile turns a panic of bbolt, which asserts rather than checks
// what it reads from its pages (on opening, the freelist), into an
// error: a damaged index file is rebuilt or reported, not a crash.
func damagedFile(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("index: damaged file (%v)", r)
	}
}

// read runs f on the index's buckets in a read-only transaction.
func (x *index) read(f func(meta, arts *bolt.Bucket) error) (err error) {
	defer damagedFile(&err)
	db, err := x.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta, arts := tx.Bucket(bktMeta), tx.Bucket(bktArticles)
		if meta == nil || arts == nil {
			return errors.New("index: no buckets")
		}
		return f(meta, arts)
	})
}

// get returns the state of article id among leaves [0, size), or nil.
func (x *index) get(id string, size int64) (*catalog.Article, error) {
	var a *catalog.Article
	err := x.read(func(_, arts *bolt.Bucket) error {
		var err error
		a, err = decodeArticle(id, arts.Get([]byte(id)), size)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reader: index %s: %w", x.path, err)
	}
	return a, nil
}

// each calls f with every article's state among leaves [0, size).
func (x *index) each(size int64, f func(*catalog.Article)) error {
	err := x.read(func(_, arts *bolt.Bucket) error {
		return arts.ForEach(func(k, v []byte) error {
			a, err := decodeArticle(string(k), v, size)
			if a != nil {
				f(a)
			}
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("reader: index %s: %w", x.path, err)
	}
	return nil
}

// readMeta reads the index's meta bucket.
func (x *index) readMeta() (*indexMeta, error) {
	var m *indexMeta
	err := x.read(func(meta, _ *bolt.Bucket) error {
		var err error
		m, err = decodeMeta(meta)
		return err
	})
	return m, err
}

// write records v (a view whose base is x, or nil when v holds every
// article) with the meta m, in one transaction.
func (x *index) write(v *view, m *indexMeta) (err error) {
	defer damagedFile(&err)
	db, err := x.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		if v.base == nil {
			// The view holds the whole log: start afresh.
			for _, name := range [][]byte{bktMeta, bktArticles} {
				if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bktMeta)
		if err != nil {
			return err
		}
		arts, err := tx.CreateBucketIfNotExists(bktArticles)
		if err != nil {
			return err
		}
		// In key order, which bbolt inserts fastest.
		for _, id := range slices.Sorted(maps.Keys(v.articles)) {
			if err := arts.Put([]byte(id), encodeArticle(v.articles[id])); err != nil {
				return err
			}
		}
		return putMeta(meta, m)
	})
}

// encodeArticle encodes an article's state: revision, digest, leaf,
// retracted (0 or 1) and the retraction's time in Unix nanoseconds.
func encodeArticle(a *catalog.Article) []byte {
	b := binary.BigEndian.AppendUint64(nil, a.Revision)
	b = append(b, a.Digest[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Leaf))
	r := byte(0)
	if a.Retracted {
		r = 1
	}
	b = append(b, r)
	var t int64
	if a.Retracted {
		t = a.Time.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(t))
}

// decodeArticle decodes an article's state; nil v is none. A state set at
// or beyond size (another process moved the index on) is an error.
func decodeArticle(id string, v []byte, size int64) (*catalog.Article, error) {
	if v == nil {
		return nil, nil
	}
	if len(v) != 8+32+8+1+8 || v[48] > 1 {
		return nil, fmt.Errorf("article %q: damaged", id)
	}
	a := &catalog.Article{ID: id, Revision: binary.BigEndian.Uint64(v), Leaf: int64(binary.BigEndian.Uint64(v[40:])), Retracted: v[48] == 1}
	copy(a.Digest[:], v[8:40])
	if a.Retracted {
		a.Time = time.Unix(0, int64(binary.BigEndian.Uint64(v[49:]))).UTC()
	}
	if a.Leaf < 0 || a.Leaf >= size {
		return nil, fmt.Errorf("article %q: set by leaf %d, beyond the %d leaves the state holds (another process changed it)", id, a.Leaf, size)
	}
	return a, nil
}

func putMeta(b *bolt.Bucket, m *indexMeta) error {
	u := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	var edge []byte
	for _, h := range m.edge {
		edge = append(edge, h[:]...)
	}
	versions := append(append(u(m.keyVersion), u(m.mirrorVer)...), m.mirrorDig[:]...)
	puts := [][2][]byte{
		{keyCheckpoint, m.checkpoint}, {keySize, u(uint64(m.size))}, {keyEdge, edge},
		{keyLeafBytes, u(uint64(m.leafBytes))}, {keyVersions, versions},
	}
	for _, p := range puts {
		if err := b.Put(p[0], p[1]); err != nil {
			return err
		}
	}
	if m.anchor == nil {
		for _, k := range [][]byte{keyAnchor, keyProofs, keyStatement} {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
	proofs := []byte{byte(len(m.baseProof))}
	for _, h := range slicesConcat(m.baseProof, m.tipProof) {
		proofs = append(proofs, h[:]...)
	}
	if err := b.Put(keyAnchor, m.anchor); err != nil {
		return err
	}
	if err := b.Put(keyStatement, m.statement); err != nil {
		return err
	}
	return b.Put(keyProofs, proofs)
}

func slicesConcat(a, b []tlog.Hash) []tlog.Hash {
	return append(append([]tlog.Hash(nil), a...), b...)
}

func decodeMeta(b *bolt.Bucket) (*indexMeta, error) {
	m := &indexMeta{checkpoint: bytes.Clone(b.Get(keyCheckpoint)), anchor: bytes.Clone(b.Get(keyAnchor)), statement: bytes.Clone(b.Get(keyStatement))}
	size, edge, lb, vers := b.Get(keySize), b.Get(keyEdge), b.Get(keyLeafBytes), b.Get(keyVersions)
	if m.checkpoint == nil || len(size) != 8 || len(lb) != 8 || len(vers) != 48 || len(edge)%tlog.HashSize != 0 {
		return nil, errors.New("index: damaged meta")
	}
	m.size, m.leafBytes = int64(binary.BigEndian.Uint64(size)), int64(binary.BigEndian.Uint64(lb))
	m.keyVersion, m.mirrorVer = binary.BigEndian.Uint64(vers), binary.BigEndian.Uint64(vers[8:])
	copy(m.mirrorDig[:], vers[16:])
	m.edge = hashes(edge)
	if !edgeFits(m.edge, m.size) || m.leafBytes < 0 {
		return nil, errors.New("index: damaged meta")
	}
	if m.anchor != nil {
		p := b.Get(keyProofs)
		if len(p) < 1 || (len(p)-1)%tlog.HashSize != 0 || int(p[0]) > (len(p)-1)/tlog.HashSize {
			return nil, errors.New("index: damaged proofs")
		}
		all := hashes(p[1:])
		m.baseProof, m.tipProof = all[:p[0]], all[p[0]:]
	}
	return m, nil
}

func hashes(b []byte) []tlog.Hash {
	out := make([]tlog.Hash, len(b)/tlog.HashSize)
	for i := range out {
		copy(out[i][:], b[i*tlog.HashSize:])
	}
	return out
}
