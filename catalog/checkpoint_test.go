package catalog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

var cpTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testCheckpoint(p *testkeys.Publisher) *catalog.Checkpoint {
	return &catalog.Checkpoint{Origin: catalog.Origin(p.ID()), Size: 3, Root: tlog.Hash(sha256.Sum256([]byte("root"))), Time: cpTime}
}

func mustSign(t *testing.T, c *catalog.Checkpoint, k *keys.PrivateKey) []byte {
	t.Helper()
	b, err := c.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckpointRoundTrip(t *testing.T) {
	p := testkeys.New(t, "pub")
	for _, c := range []*catalog.Checkpoint{
		testCheckpoint(p),
		{Origin: catalog.Origin(p.ID()), Size: 0, Time: testkeys.NotBefore},
		{Origin: catalog.Origin(p.ID()), Size: 1<<63 - 1, Root: tlog.Hash{0xff}, Time: time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Origin: catalog.Origin(p.ID()), Size: 3, Root: tlog.Hash{1}, Time: cpTime, Index: tlog.Hash{2}},
		{Origin: catalog.Origin(p.ID()), Size: 0, Time: testkeys.NotBefore, Index: tlog.Hash{0xff}},
	} {
		signed := mustSign(t, c, p.Signer)
		got, err := catalog.OpenCheckpoint(signed, p.Trust)
		if err != nil {
			t.Fatalf("OpenCheckpoint: %v\n%s", err, signed)
		}
		if *got != *c {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
		parsed, err := catalog.ParseCheckpoint(c.Text())
		if err != nil || *parsed != *c {
			t.Errorf("ParseCheckpoint(Text()) = %+v, %v", parsed, err)
		}
	}
}

func TestCheckpointText(t *testing.T) {
	c := &catalog.Checkpoint{Origin: "samizdat/abc", Size: 12, Root: tlog.Hash{}, Time: time.Unix(1700000000, 0)}
	want := "samizdat/abc\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1700000000\n"
	if got := c.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	c.Index = tlog.Hash{0: 0xfb, 31: 1}
	want += "index +wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\n"
	if got := c.Text(); got != want {
		t.Errorf("Text() with an index = %q, want %q", got, want)
	}
	if got := catalog.Origin("abc"); got != "samizdat/abc" {
		t.Errorf("Origin = %q", got)
	}
}

func TestCheckpointSignNeedsSigningKey(t *testing.T) {
	p := testkeys.New(t, "pub")
	if _, err := testCheckpoint(p).Sign(p.Root); err == nil {
		t.Fatal("a root key signed a checkpoint")
	}
}

func TestOpenCheckpointRefuses(t *testing.T) {
	p := testkeys.New(t, "pub")
	other := testkeys.New(t, "other")
	c := testCheckpoint(p)
	good := mustSign(t, c, p.Signer)
	if _, err := catalog.OpenCheckpoint(good, p.Trust); err != nil {
		t.Fatalf("good checkpoint refused: %v", err)
	}

	// A second signing key, delegated with a window, and one revoked.
	windowed := testkeys.Key(t, "pub-windowed", keys.RoleSigning)
	revoked := testkeys.Key(t, "pub-revoked", keys.RoleSigning)
	from, until := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	stmt := p.Sign(t, 2, []keys.Delegation{testkeys.Delegate(p.Signer), {Key: windowed.Public(), NotBefore: from, NotAfter: until}}, revoked.Public())
	trust2, err := p.Trust.Update(stmt)
	if err != nil {
		t.Fatal(err)
	}
	at := func(tm time.Time) *catalog.Checkpoint {
		c := *testCheckpoint(p)
		c.Time = tm
		return &c
	}
	for _, ok := range []time.Time{from, from.Add(time.Second), until.Add(-time.Second)} {
		if _, err := catalog.OpenCheckpoint(mustSign(t, at(ok), windowed), trust2); err != nil {
			t.Errorf("checkpoint at %s inside the key's window refused: %v", ok, err)
		}
	}

	signNote := func(text string, k *keys.PrivateKey) []byte {
		b, err := note.Sign(&note.Note{Text: text}, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherOrigin := *c
	otherOrigin.Origin = catalog.Origin(other.ID())
	undelegated := testkeys.Key(t, "pub-undelegated", keys.RoleSigning)
	// A root key that signs as if it were a signing key.
	rootSigned := signNote(c.Text(), p.Root)
	tests := []struct {
		name  string
		data  []byte
		trust *keys.Trust
	}{
		{"wrong origin", mustSign(t, &otherOrigin, p.Signer), p.Trust},
		{"another publisher's checkpoint", mustSign(t, testCheckpoint(other), other.Signer), p.Trust},
		{"another publisher's key signing our origin", mustSign(t, c, other.Signer), p.Trust},
		{"undelegated key", mustSign(t, c, undelegated), p.Trust},
		{"revoked key", mustSign(t, c, revoked), trust2},
		{"root key", rootSigned, p.Trust},
		{"before the key's window", mustSign(t, at(from.Add(-time.Second)), windowed), trust2},
		{"at the end of the key's window", mustSign(t, at(until), windowed), trust2},
		{"after the key's window", mustSign(t, at(until.Add(time.Hour)), windowed), trust2},
		{"no signature", []byte(c.Text() + "\n"), p.Trust},
		{"text only", []byte(c.Text()), p.Trust},
		{"altered size", bytes.Replace(good, []byte("\n3\n"), []byte("\n4\n"), 1), p.Trust},
		{"altered signature", func() []byte {
			b := bytes.Clone(good)
			i := bytes.LastIndex(b, []byte(" ")) + 5
			b[i] ^= 'A' ^ 'B'
			return b
		}(), p.Trust},
		{"non-canonical size", signNote(strings.Replace(c.Text(), "\n3\n", "\n03\n", 1), p.Signer), p.Trust},
		{"non-canonical time", signNote(strings.Replace(c.Text(), "time ", "time +", 1), p.Signer), p.Trust},
		{"extra line", signNote(c.Text()+"extra\n", p.Signer), p.Trust},
		{"too large", append(bytes.Clone(good), make([]byte, catalog.MaxCheckpointSize)...), p.Trust},
		{"empty", nil, p.Trust},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := catalog.OpenCheckpoint(tt.data, tt.trust)
			if err == nil {
				t.Fatalf("OpenCheckpoint accepted it: %+v", got)
			}
			var ce *catalog.CheckpointError
			if !errors.As(err, &ce) {
				t.Errorf("error %v (%T) is not a *CheckpointError", err, err)
			}
			if !strings.HasPrefix(err.Error(), "catalog: checkpoint: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestOpenCheckpointSignatureEncoding checks that the signature line must
// be canonical base64: otherwise anyone could make a second, different
// byte string that opens to the same checkpoint.
func TestOpenCheckpointSignatureEncoding(t *testing.T) {
	p := testkeys.New(t, "pub")
	good := mustSign(t, testCheckpoint(p), p.Signer)
	line := good[bytes.LastIndex(good[:len(good)-1], []byte("\n"))+1 : len(good)-1]
	b64 := line[bytes.LastIndexByte(line, ' ')+1:]
	raw, err := base64.StdEncoding.Strict().DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := bytes.IndexByte(b64, '=') - 1
	for _, c := range []byte(alphabet) {
		if c == b64[last] {
			continue
		}
		alt := []byte(string(b64))
		alt[last] = c
		dec, err := base64.StdEncoding.DecodeString(string(alt))
		if err != nil || !bytes.Equal(dec, raw) {
			continue // decodes to other bytes: the signature check refuses it
		}
		data := bytes.Replace(good, b64, alt, 1)
		if _, err := catalog.OpenCheckpoint(data, p.Trust); err == nil {
			t.Errorf("signature with non-canonical base64 %q accepted", alt)
		}
	}
	// note.Open skips a second signature by a key it has verified, without
	// checking it.
	junk := append(raw[:4:4], make([]byte, 64)...)
	twice := append(bytes.Clone(good), "\u2014 pub-signing "+base64.StdEncoding.EncodeToString(junk)+"\n"...)
	if _, err := catalog.OpenCheckpoint(twice, p.Trust); err == nil {
		t.Errorf("checkpoint with a second, unchecked signature by the same key accepted:\n%s", twice)
	}
}

func TestParseCheckpointRefuses(t *testing.T) {
	root := tlog.Hash(sha256.Sum256([]byte("x"))).String()
	good := "samizdat/abc\n5\n" + root + "\ntime 1700000000\n"
	if _, err := catalog.ParseCheckpoint(good); err != nil {
		t.Fatalf("good text refused: %v", err)
	}
	if c, err := catalog.ParseCheckpoint(good + "index " + root + "\n"); err != nil || c.Index.String() != root {
		t.Fatalf("good text with an index line: %+v, %v", c, err)
	}
	// A root hash whose last base64 digit has non-zero padding bits.
	b := []byte(root)
	b[len(b)-2] ^= 1
	loose := string(b)
	for _, text := range []string{
		"",
		"\n",
		strings.TrimSuffix(good, "\n"),
		good + "\n",
		good + "extra\n",
		"other/abc\n5\n" + root + "\ntime 1700000000\n",
		"Samizdat/abc\n5\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n05\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n+5\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n-1\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n-0\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n 5\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n5.0\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n9223372036854775808\n" + root + "\ntime 1700000000\n",
		"samizdat/abc\n5\n" + root[:len(root)-4] + "\ntime 1700000000\n",
		"samizdat/abc\n5\n" + root + "AAAA\ntime 1700000000\n",
		"samizdat/abc\n5\n" + loose + "\ntime 1700000000\n",
		"samizdat/abc\n5\n" + strings.TrimRight(root, "=") + "\ntime 1700000000\n",
		"samizdat/abc\n5\n" + root + "\ntime 01700000000\n",
		"samizdat/abc\n5\n" + root + "\ntime +1700000000\n",
		"samizdat/abc\n5\n" + root + "\ntime -1\n",
		"samizdat/abc\n5\n" + root + "\ntime 253402300800\n",
		"samizdat/abc\n5\n" + root + "\ntime  1700000000\n",
		"samizdat/abc\n5\n" + root + "\nTime 1700000000\n",
		"samizdat/abc\n5\n" + root + "\n1700000000\n",
		"samizdat/abc\r\n5\r\n" + root + "\r\ntime 1700000000\r\n",
		"samizdat/abc\n5\n" + root + "\ntime 1700000000\nfoo 1\n",
		// The index line: fifth, once, a canonical non-zero hash.
		good + "index " + root + "\nindex " + root + "\n",
		good + "index " + root + "\nfoo 1\n",
		"samizdat/abc\n5\n" + root + "\nindex " + root + "\ntime 1700000000\n",
		good + "index AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		good + "index " + loose + "\n",
		good + "index " + strings.TrimRight(root, "=") + "\n",
		good + "index  " + root + "\n",
		good + "Index " + root + "\n",
		good + "index\n",
		good + root + "\n",
	} {
		if c, err := catalog.ParseCheckpoint(text); err == nil {
			t.Errorf("ParseCheckpoint(%q) = %+v, want an error", text, c)
		}
	}
}

// memLog is a log held in memory, hashed with tlog, to make proofs the
// catalog checks.
type memLog struct {
	leaves [][]byte
	hashes []tlog.Hash
}

func (m *memLog) append(t *testing.T, leaf []byte) {
	hs, err := tlog.StoredHashes(int64(len(m.leaves)), leaf, m)
	if err != nil {
		t.Fatal(err)
	}
	m.leaves = append(m.leaves, leaf)
	m.hashes = append(m.hashes, hs...)
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

func (m *memLog) checkpoint(t *testing.T, size int64) *catalog.Checkpoint {
	root, err := tlog.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	return &catalog.Checkpoint{Origin: "samizdat/x", Size: size, Root: root, Time: cpTime}
}

func makeLog(t *testing.T, n int, prefix string) *memLog {
	m := &memLog{}
	for i := range n {
		l := &catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("%s%d", prefix, i), Revision: 1, Digest: digest(byte(i))}
		m.append(t, l.Encode())
	}
	return m
}

func TestCheckInclusion(t *testing.T) {
	const max = 40
	m := makeLog(t, max, "a")
	for size := int64(1); size <= max; size++ {
		c := m.checkpoint(t, size)
		for n := range size {
			proof, err := tlog.ProveRecord(size, n, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := catalog.CheckInclusion(c, n, m.leaves[n], proof); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, n, err)
			}
			if err := catalog.CheckInclusion(c, n, m.leaves[(n+1)%max], proof); err == nil {
				t.Errorf("size %d leaf %d: proof accepted for another leaf", size, n)
			}
			if size > 1 {
				if err := catalog.CheckInclusion(c, (n+1)%size, m.leaves[n], proof); err == nil {
					t.Errorf("size %d leaf %d: proof accepted at another index", size, n)
				}
			}
			if len(proof) > 0 {
				bad := append(tlog.RecordProof(nil), proof...)
				bad[len(bad)-1][0] ^= 1
				if err := catalog.CheckInclusion(c, n, m.leaves[n], bad); err == nil {
					t.Errorf("size %d leaf %d: altered proof accepted", size, n)
				}
				if err := catalog.CheckInclusion(c, n, m.leaves[n], proof[:len(proof)-1]); err == nil {
					t.Errorf("size %d leaf %d: shortened proof accepted", size, n)
				}
			}
			other := *c
			other.Root[0] ^= 1
			if err := catalog.CheckInclusion(&other, n, m.leaves[n], proof); err == nil {
				t.Errorf("size %d leaf %d: proof accepted against another root", size, n)
			}
		}
		for _, n := range []int64{-1, size, size + 1} {
			if err := catalog.CheckInclusion(c, n, m.leaves[0], nil); err == nil {
				t.Errorf("size %d: leaf %d accepted", size, n)
			}
		}
	}
}

func TestCheckConsistency(t *testing.T) {
	const max = 40
	m := makeLog(t, max, "a")
	// fork differs from leaf 0 on.
	fork := makeLog(t, max, "b")
	// late shares the first 20 leaves and differs after.
	late := &memLog{}
	for i := range max {
		if i < 20 {
			late.append(t, m.leaves[i])
		} else {
			late.append(t, (&catalog.Leaf{Kind: catalog.KindKeyStatement, Version: uint64(i), Digest: digest(9)}).Encode())
		}
	}
	empty := &catalog.Checkpoint{Origin: "samizdat/x", Size: 0, Time: cpTime}
	for newer := int64(1); newer <= max; newer++ {
		cn := m.checkpoint(t, newer)
		if err := catalog.CheckConsistency(empty, cn, nil); err != nil {
			t.Errorf("empty -> %d: %v", newer, err)
		}
		if err := catalog.CheckConsistency(cn, cn, nil); err != nil {
			t.Errorf("%d -> %d: %v", newer, newer, err)
		}
		if err := catalog.CheckConsistency(cn, empty, nil); err == nil {
			t.Errorf("%d -> empty (rollback) accepted", newer)
		}
		// Fork: same size, different root.
		if err := catalog.CheckConsistency(fork.checkpoint(t, newer), cn, nil); err == nil {
			t.Errorf("fork at size %d accepted", newer)
		}
		for older := int64(1); older < newer; older++ {
			co := m.checkpoint(t, older)
			proof, err := tlog.ProveTree(newer, older, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := catalog.CheckConsistency(co, cn, proof); err != nil {
				t.Fatalf("%d -> %d: %v", older, newer, err)
			}
			// Rollback: the older checkpoint offered as the newer.
			if err := catalog.CheckConsistency(cn, co, proof); err == nil {
				t.Errorf("%d -> %d (rollback) accepted", newer, older)
			}
			// Fork: an older checkpoint of another history.
			if err := catalog.CheckConsistency(fork.checkpoint(t, older), cn, proof); err == nil {
				t.Errorf("fork %d -> %d accepted", older, newer)
			}
			// Fork after leaf 20: the new log rewrote leaves the old one had.
			if older > 20 {
				lproof, err := tlog.ProveTree(newer, older, late)
				if err != nil {
					t.Fatal(err)
				}
				if err := catalog.CheckConsistency(co, late.checkpoint(t, newer), lproof); err == nil {
					t.Errorf("late fork %d -> %d accepted", older, newer)
				}
			}
			if len(proof) > 0 {
				bad := append(tlog.TreeProof(nil), proof...)
				bad[0][5] ^= 1
				if err := catalog.CheckConsistency(co, cn, bad); err == nil {
					t.Errorf("%d -> %d: altered proof accepted", older, newer)
				}
			}
		}
	}
}

func TestLeafHash(t *testing.T) {
	leaf := []byte{3, 0, 0, 0, 0, 0, 0, 0, 1}
	want := sha256.Sum256(append([]byte{0}, leaf...)) // RFC 6962 leaf hash
	if got := catalog.LeafHash(leaf); got != tlog.Hash(want) {
		t.Errorf("LeafHash = %x, want %x", got, want)
	}
}

// TestCheckConsistencyNeedlessProof checks that a proof given where none
// is needed (from an empty log, or between logs of one size) is refused,
// as transparency-dev/merkle refuses it, so that one answer has one proof.
func TestCheckConsistencyNeedlessProof(t *testing.T) {
	m := makeLog(t, 5, "a")
	empty := &catalog.Checkpoint{Origin: "samizdat/x", Size: 0, Time: cpTime}
	c := m.checkpoint(t, 5)
	extra := tlog.TreeProof{tlog.Hash(sha256.Sum256([]byte("extra")))}
	for _, tc := range []struct {
		name         string
		older, newer *catalog.Checkpoint
	}{
		{"empty to 5", empty, c},
		{"empty to empty", empty, empty},
		{"5 to 5", c, c},
	} {
		if err := catalog.CheckConsistency(tc.older, tc.newer, nil); err != nil {
			t.Errorf("%s, no proof: %v", tc.name, err)
		}
		if err := catalog.CheckConsistency(tc.older, tc.newer, extra); err == nil {
			t.Errorf("%s: a needless proof hash is accepted", tc.name)
		}
	}
}
