package index_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/catalog/index/indextest"
)

// boltStore is an index.Store over a bucket in a bbolt write transaction:
// the shape a store on disk would give the index (FORMAT.md, "Article
// index", Storage), so that one Apply is one transaction.
type boltStore struct{ b *bbolt.Bucket }

func (s boltStore) Get(_ context.Context, key []byte) ([]byte, bool, error) {
	v := s.b.Get(key)
	if v == nil {
		return nil, false, nil
	}
	return append([]byte{}, v...), true, nil // v lives only as long as the transaction
}

func (s boltStore) Put(_ context.Context, key, value []byte) error { return s.b.Put(key, value) }

var indexBucket = []byte("index")

func openBolt(t testing.TB) *bbolt.DB {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "store.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// applyBolt applies leaves to the index kept in db in one transaction.
func applyBolt(db *bbolt.DB, from int64, leaves []*catalog.Leaf) (root string, err error) {
	ctx := context.Background()
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(indexBucket)
		if err != nil {
			return err
		}
		x, err := index.Open(ctx, boltStore{b})
		if err != nil {
			return err
		}
		if err := x.Apply(ctx, from, leaves); err != nil {
			return err
		}
		root = x.Root().String()
		return nil
	})
	return root, err
}

// TestBoltStore runs the Store conformance test on a bbolt bucket, each
// store in one long transaction.
func TestBoltStore(t *testing.T) {
	indextest.TestStore(t, func(t *testing.T) index.Store {
		db := openBolt(t)
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback() })
		b, err := tx.CreateBucket(indexBucket)
		if err != nil {
			t.Fatal(err)
		}
		return boltStore{b}
	})
}

// TestBoltRollback checks that a refused Apply in a transaction that is
// rolled back leaves the index on disk as it was.
func TestBoltRollback(t *testing.T) {
	db := openBolt(t)
	root, err := applyBolt(db, 0, []*catalog.Leaf{bundleLeaf("a", 1), bundleLeaf("b", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyBolt(db, 2, []*catalog.Leaf{bundleLeaf("c", 1), {Kind: 9}}); err == nil {
		t.Fatal("a bad leaf was applied")
	}
	again, err := applyBolt(db, 2, nil)
	if err != nil || again != root {
		t.Fatalf("after a refused batch: root %s, %v; want %s", again, err, root)
	}
}

// BenchmarkBoltUpdate measures one new article applied, in its own
// transaction with fsync, to an index of 100k ids kept in bbolt, and the
// bytes the database file grows by per update.
func BenchmarkBoltUpdate(b *testing.B) {
	db := openBolt(b)
	const n = 100_000
	for i := 0; i < n; i += 10_000 {
		var batch []*catalog.Leaf
		for j := i; j < i+10_000; j++ {
			batch = append(batch, benchLeaf(j, 1))
		}
		if _, err := applyBolt(db, int64(i), batch); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(db.Path())
	before := st.Size()
	s0 := db.Stats()
	i := 0
	for b.Loop() {
		if _, err := applyBolt(db, int64(n+i), []*catalog.Leaf{benchLeaf(n+i, 1)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	st, _ = os.Stat(db.Path())
	b.ReportMetric(float64(before)/n, "fileB/id")
	b.ReportMetric(float64(st.Size()-before)/float64(i), "growthB/update")
	s1 := db.Stats()
	b.ReportMetric(float64(s1.TxStats.GetWrite()-s0.TxStats.GetWrite())/float64(i), "pageWrites/update")
}
