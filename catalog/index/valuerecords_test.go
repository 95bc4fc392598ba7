package index

import (
	"bytes"
	"fmt"
	"testing"
)

// TestValueRecords: the value record of every id falls in the range of
// its bucket's ValueRecords and in no other bucket's, at cut depths from
// 1 to MaxCutDepth, the last bucket's range open at its end.
func TestValueRecords(t *testing.T) {
	for _, size := range []int64{1, 7, 300, 65536, 1 << 40} {
		d := CutDepth(size)
		for i := range 200 {
			id := fmt.Sprint("id-", i)
			k := Key(id)
			rec := append([]byte{recValue}, k[:]...)
			b := BucketOf(size, id)
			in := func(b Bucket) bool {
				from, to := b.ValueRecords()
				return bytes.Compare(rec, from) >= 0 && (to == nil || bytes.Compare(rec, to) < 0)
			}
			if !in(b) {
				t.Fatalf("size %d: the record of %q is not in its bucket %s's range", size, id, b)
			}
			// The buckets beside it do not hold it.
			for _, other := range []string{fmt.Sprint("id-", i+1000), fmt.Sprint("x-", i)} {
				if ob := BucketOf(size, other); ob != b && in(ob) {
					t.Fatalf("size %d: the record of %q is in bucket %s's range, its bucket is %s", size, id, ob, b)
				}
			}
		}
		// The first and the last bucket.
		var first, last Bucket
		n := 0
		for b := range Buckets(size) {
			if n == 0 {
				first = b
			}
			last, n = b, n+1
		}
		if from, _ := first.ValueRecords(); !bytes.Equal(from, []byte{recValue, 0, 0, 0, 0}) {
			t.Errorf("depth %d: the first bucket starts at %x", d, from)
		}
		if _, to := last.ValueRecords(); to != nil {
			t.Errorf("depth %d: the last bucket ends at %x, want the end of the value records", d, to)
		}
	}
}
