package store

import bolt "go.etcd.io/bbolt"

// SetBeforeCommit sets a function that Apply calls after writing an
// update's bundle files and before committing the transaction that
// records them; nil removes it. Tests use it to see the store as a crash
// in that window leaves it.
func SetBeforeCommit(fn func(*Store)) { beforeCommit = fn }

// IndexBytes returns the bytes of the keys and values of a publisher's
// article index records (without bbolt's page overhead).
func IndexBytes(s *Store, pub string) (n int64) {
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktPubs).Bucket([]byte(pub)).Bucket(bktIndex).ForEach(func(k, v []byte) error {
			n += int64(len(k) + len(v))
			return nil
		})
	})
	return n
}

// IndexUndoRecords returns how many saved index records a publisher's
// history holds.
func IndexUndoRecords(s *Store, pub string) (n int) {
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktPubs).Bucket([]byte(pub)).Bucket(bktIndexUndo); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}
