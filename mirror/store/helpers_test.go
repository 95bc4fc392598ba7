package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// memLog is the publisher's own copy of its log, hashed with tlog.
type memLog struct {
	leaves [][]byte
	hashes []tlog.Hash
}

func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// with returns a copy of the log with leaves appended.
func (m *memLog) with(t testing.TB, leaves ...[]byte) *memLog {
	t.Helper()
	n := &memLog{leaves: append([][]byte(nil), m.leaves...), hashes: append([]tlog.Hash(nil), m.hashes...)}
	for _, l := range leaves {
		hs, err := tlog.StoredHashes(int64(len(n.leaves)), l, n)
		if err != nil {
			t.Fatal(err)
		}
		n.leaves = append(n.leaves, l)
		n.hashes = append(n.hashes, hs...)
	}
	return n
}

// index returns the root of the article index of the log's first size
// leaves, computed afresh in memory: the reference the store's must equal.
// For a log that has a leaf no index takes (tests of malformed leaves) it
// returns the zero hash: a checkpoint without an index.
func (m *memLog) index(t testing.TB, size int64) tlog.Hash {
	t.Helper()
	x := index.New()
	ls := make([]*catalog.Leaf, size)
	for i := range ls {
		var err error
		if ls[i], err = catalog.ParseLeaf(m.leaves[i]); err != nil {
			return tlog.Hash{}
		}
	}
	if err := x.Apply(context.Background(), 0, ls); err != nil {
		return tlog.Hash{}
	}
	return x.Root()
}

func (m *memLog) root(t testing.TB, size int64) tlog.Hash {
	t.Helper()
	if size == 0 {
		return tlog.Hash{}
	}
	h, err := tlog.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fixture is a store in a temporary directory and a publisher that writes
// updates for it by hand, keeping its own copy of the log.
type fixture struct {
	t   testing.TB
	dir string
	st  *store.Store
	pub *testkeys.Publisher
	log *memLog
	now time.Time
	cps map[int64]*catalog.Checkpoint // the checkpoints applied, by size
	// legacy makes signCP sign checkpoints without the article index
	// line, as before the index existed.
	legacy bool
}

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "store"), pub: testkeys.New(t, "pub"), log: &memLog{}, now: start, cps: map[int64]*catalog.Checkpoint{}}
	var err error
	if f.st, err = store.Open(f.dir, &store.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	return f
}

func (f *fixture) tick() time.Time {
	f.now = f.now.Add(time.Minute)
	return f.now
}

func (f *fixture) id() string { return f.pub.ID() }

// bundle builds revision rev of article id, signed now, and its leaf.
func (f *fixture) bundle(id string, rev uint64, body string, images ...bundle.File) ([]byte, []byte) {
	f.t.Helper()
	return buildBundle(f.t, f.pub, id, rev, f.now, body, images...)
}

func buildBundle(t testing.TB, p *testkeys.Publisher, id string, rev uint64, at time.Time, body string, images ...bundle.File) ([]byte, []byte) {
	t.Helper()
	meta := bundle.Metadata{ID: id, Revision: rev, Created: start, Updated: at, Title: "Title of " + id}
	files := append([]bundle.File{{Type: "text/html", Data: []byte(body)}}, images...)
	raw, err := bundle.Build(meta, files, p.Root.Public(), p.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &catalog.Leaf{Kind: catalog.KindBundle, ID: id, Revision: rev, Digest: sha256.Sum256(raw)}
	return raw, l.Encode()
}

func keyLeaf(version uint64, stmt []byte) []byte {
	return (&catalog.Leaf{Kind: catalog.KindKeyStatement, Version: version, Digest: sha256.Sum256(stmt)}).Encode()
}

func retraction(id string, rev uint64, at time.Time) []byte {
	return (&catalog.Leaf{Kind: catalog.KindRetraction, ID: id, Revision: rev, Time: at}).Encode()
}

// signCP signs a checkpoint of log at size, at time at.
func (f *fixture) signCP(log *memLog, size int64, at time.Time) []byte {
	f.t.Helper()
	c := &catalog.Checkpoint{Origin: catalog.Origin(f.id()), Size: size, Root: log.root(f.t, size), Time: at, Index: log.index(f.t, size)}
	if f.legacy {
		c.Index = tlog.Hash{}
	}
	b, err := c.Sign(f.pub.Signer)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// next returns an update appending leaves, with a checkpoint signed now.
func (f *fixture) next(leaves ...[]byte) *store.Update {
	f.t.Helper()
	l := f.log.with(f.t, leaves...)
	return &store.Update{Leaves: leaves, Checkpoint: f.signCP(l, int64(len(l.leaves)), f.tick())}
}

// apply applies u, which must succeed, and records its leaves.
func (f *fixture) apply(u *store.Update) *store.Result {
	f.t.Helper()
	res, err := f.st.Apply(f.pub.Root.Public(), u)
	if err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
	f.log = f.log.with(f.t, u.Leaves...)
	if u.Checkpoint != nil {
		c, err := catalog.OpenCheckpoint(u.Checkpoint, mustTrust(f))
		if err != nil {
			f.t.Fatal(err)
		}
		f.cps[c.Size] = c
	}
	return res
}

func mustTrust(f *fixture) *keys.Trust {
	f.t.Helper()
	tr, err := f.st.Trust(f.pub.Root.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	return tr
}

// init applies a first update: the key statement, its leaf, and articles
// a and b at revision 1 with their bundles. It returns the bundles.
func (f *fixture) init() (a, b []byte) {
	f.t.Helper()
	a, la := f.bundle("a", 1, "<p>article a</p>")
	b, lb := f.bundle("b", 1, "<p>article b</p>", bundle.File{Name: "img/b.png", Type: "image/png", Data: []byte("\x89PNG b")})
	u := f.next(keyLeaf(1, f.pub.Statement), la, lb)
	u.Statement = f.pub.Statement
	u.Bundles = [][]byte{a, b}
	f.apply(u)
	return a, b
}

// bundlePath is where the store keeps a bundle: bundles/xx/digest.
func (f *fixture) bundlePath(raw []byte) string {
	h := bundle.Digest(sha256.Sum256(raw)).String()
	return filepath.Join(f.dir, "bundles", h[:2], h)
}

func (f *fixture) check() []store.Problem {
	f.t.Helper()
	probs, err := f.st.Check(f.pub.Root.Public(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return probs
}

func (f *fixture) checkClean() {
	f.t.Helper()
	if probs := f.check(); len(probs) > 0 {
		f.t.Errorf("Check found %d problems:\n%s", len(probs), problems(probs))
	}
}

func problems(probs []store.Problem) string {
	var b strings.Builder
	for _, p := range probs {
		fmt.Fprintf(&b, "\t%s\n", p)
	}
	return b.String()
}

// snapshot returns everything the store holds: every file but the
// database, by hash, and every bucket, key and value of the database. It
// closes and reopens the store to read the database.
func (f *fixture) snapshot() string {
	f.t.Helper()
	var lines []string
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "store.db" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.dir, path)
		lines = append(lines, fmt.Sprintf("file %s %x", filepath.ToSlash(rel), sha256.Sum256(data)))
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.withDB(func(db *bolt.DB) {
		err := db.View(func(tx *bolt.Tx) error {
			var walk func(path string, b *bolt.Bucket) error
			walk = func(path string, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if sub := b.Bucket(k); sub != nil {
						return walk(path+"/"+hex.EncodeToString(k), sub)
					}
					lines = append(lines, fmt.Sprintf("db %s/%x = %x", path, k, v))
					return nil
				})
			}
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
		})
		if err != nil {
			f.t.Fatal(err)
		}
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// withDB closes the store, runs fn on its database, and reopens it.
func (f *fixture) withDB(fn func(db *bolt.DB)) {
	f.t.Helper()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(f.dir, "store.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		f.t.Fatal(err)
	}
	if f.st, err = store.Open(f.dir, nil); err != nil {
		f.t.Fatal(err)
	}
}

// pubBucket returns the publisher's bucket in tx.
func pubBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	return tx.Bucket([]byte("publishers")).Bucket([]byte(id))
}

// u64 is the key of leaf or stored hash v in the database.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
