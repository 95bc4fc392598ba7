package catalog_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// storeOracleSize is the size of the log TestOracleStoreProofs grows in a
// real store, one leaf per update.
const storeOracleSize = 70

// TestOracleStoreProofs grows a publisher's log in a real store, one leaf
// and one signed checkpoint at a time, and has merkle verify every
// inclusion and consistency proof the store gives for it: the proofs
// readers receive, made from the hashes the store keeps.
func TestOracleStoreProofs(t *testing.T) {
	p := testkeys.New(t, "oracle-store")
	s, err := store.Open(t.TempDir(), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := p.ID()
	m := &memLog{}
	var cps []*catalog.Checkpoint // cps[i] is the checkpoint of size i+1
	for i := range storeOracleSize {
		u := &store.Update{}
		l := &catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("a%d", i), Revision: 1, Digest: digest(byte(i))}
		if i == 0 {
			u.Statement = p.Statement
			l = &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 1, Digest: sha256.Sum256(p.Statement)}
		}
		m.append(t, l.Encode())
		c := m.checkpoint(t, int64(i+1))
		c.Origin, c.Time = catalog.Origin(id), cpTime.Add(time.Duration(i)*time.Second)
		u.Leaves, u.Checkpoint = [][]byte{l.Encode()}, mustSign(t, c, p.Signer)
		if _, err := s.Apply(p.Root.Public(), u); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		cps = append(cps, c)
	}
	h := rfc6962.DefaultHasher
	var incl, cons int
	for size := int64(1); size <= storeOracleSize; size++ {
		c := cps[size-1]
		for n := range size {
			pr, err := s.InclusionProof(id, n, size)
			if err != nil {
				t.Fatal(err)
			}
			lh := catalog.LeafHash(m.leaves[n])
			if err := proof.VerifyInclusion(h, uint64(n), uint64(size), lh[:], merkleProof(pr), c.Root[:]); err != nil {
				t.Errorf("store's proof of leaf %d in %d: merkle says %v", n, size, err)
			} else {
				incl++
			}
		}
		for older := int64(1); older <= size; older++ {
			pr, err := s.ConsistencyProof(id, older, size)
			if err != nil {
				t.Fatal(err)
			}
			o := cps[older-1]
			if err := proof.VerifyConsistency(h, uint64(older), uint64(size), merkleProof(pr), o.Root[:], c.Root[:]); err != nil {
				t.Errorf("store's proof from %d to %d: merkle says %v", older, size, err)
			} else {
				cons++
			}
		}
	}
	t.Logf("store proofs accepted by merkle: %d inclusion, %d consistency", incl, cons)
}
