package reader

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// ReplaceIndexCheckpoint makes an index say it goes with another
// checkpoint than the head's, as after a crash between the two.
func ReplaceIndexCheckpoint(t testing.TB, path string) {
	t.Helper()
	updateMeta(t, path, func(b *bolt.Bucket) error { return b.Put(keyCheckpoint, []byte("another")) })
}

// AlterIndexEdge flips a bit of an index's right edge.
func AlterIndexEdge(t testing.TB, path string) {
	t.Helper()
	updateMeta(t, path, func(b *bolt.Bucket) error {
		e := append([]byte(nil), b.Get(keyEdge)...)
		if len(e) == 0 {
			t.Fatal("index has no edge")
		}
		e[0] ^= 1
		return b.Put(keyEdge, e)
	})
}

func updateMeta(t testing.TB, path string, f func(*bolt.Bucket) error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket(bktMeta)) }); err != nil {
		t.Fatal(err)
	}
}
