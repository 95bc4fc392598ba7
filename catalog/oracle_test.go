package catalog_test

// This file checks our checkpoints and proofs with independent
// implementations of the C2SP and RFC 6962 formats, used as oracles:
//
//   - github.com/transparency-dev/formats (log.ParseCheckpoint, its note
//     verifiers and its tlog-cosignature verifier);
//   - filippo.io/torchwood (ParseCheckpoint, Checkpoint.String and its
//     tlog-cosignature signer);
//   - github.com/transparency-dev/merkle (the RFC 6962 hasher,
//     proof.VerifyInclusion and proof.VerifyConsistency);
//   - and a signed-note check written here from the C2SP text alone
//     (specOpen), which shares no code with golang.org/x/mod/sumdb/note.
//
// Proofs are made here as the store makes them (tlog.ProveRecord and
// tlog.ProveTree over the log's stored hashes), and oracle_store_test.go
// checks the store's own. Every tampered proof must be refused by both our
// checks and the oracle's.
//
// Tiles are checked over HTTP in mirror/web (TestTilesAndProofsOfAGrownLog
// and the reader routes' test): torchwood's tlog-tiles client
// (TileFetcher, Client.Entry) reads the mirror's tiles and proves each
// leaf it reads against the checkpoint.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
)

// oracleLogSize is the size of the log the oracle tests build; every
// proof up to exhaustiveSize is checked, and a sample above it.
const (
	oracleLogSize  = 4097
	exhaustiveSize = 64
)

// oracleSizes are the checkpoint sizes checked: 0, 1, the powers of two
// and their neighbours, and a large one.
var oracleSizes = []int64{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 1023, 1024, 1025, 4095, 4096, 4097}

// oracleTimes are checkpoint times: the format's bounds and ordinary ones.
var oracleTimes = []time.Time{time.Unix(0, 0).UTC(), testkeys.NotBefore, cpTime, time.Unix(253402300799, 0).UTC()}

var oracleLog *memLog

// bigLog returns a log of oracleLogSize bundle leaves, built once.
func bigLog(t *testing.T) *memLog {
	if oracleLog == nil {
		oracleLog = makeLog(t, oracleLogSize, "article-")
	}
	return oracleLog
}

// sampleIndexes returns the leaf indexes checked in a log of the given
// size: all of them up to exhaustiveSize, else the ends, the middle, the
// powers of two around it and a spread of others.
func sampleIndexes(size int64) []int64 {
	if size <= exhaustiveSize {
		var all []int64
		for i := range size {
			all = append(all, i)
		}
		return all
	}
	seen := map[int64]bool{}
	var out []int64
	add := func(i int64) {
		if i >= 0 && i < size && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, i := range []int64{0, 1, 2, size / 2, size/2 + 1, size - 2, size - 1} {
		add(i)
	}
	for p := int64(1); p < size; p *= 2 {
		add(p - 1)
		add(p)
	}
	for i := int64(7); i < size; i += size/13 + 1 {
		add(i)
	}
	return out
}

// specOpen verifies a signed note as the C2SP signed-note and
// tlog-checkpoint texts describe it, with no code from a note library:
// the text is everything up to the last blank line; the signature line
// "— NAME BASE64" names the key; BASE64 is key ID || Ed25519 signature,
// with key ID = SHA-256(NAME || 0x0A || 0x01 || public key)[:4]. It
// returns the text if the one signature by (name, pub) verifies.
func specOpen(signed []byte, name string, pub ed25519.PublicKey) (string, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return "", fmt.Errorf("no blank line")
	}
	text, sigs := signed[:i+1], signed[i+2:]
	id := sha256.Sum256(append([]byte(name+"\n\x01"), pub...))
	found := false
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if line == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok || !strings.HasSuffix(rest, "\n") {
			return "", fmt.Errorf("malformed signature line %q", line)
		}
		n, b64, _ := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 4 {
			return "", fmt.Errorf("malformed signature line %q", line)
		}
		if n != name || !bytes.Equal(raw[:4], id[:4]) {
			continue // an unknown key: ignored, as the spec says
		}
		if len(raw) != 4+ed25519.SignatureSize || !ed25519.Verify(pub, text, raw[4:]) {
			return "", fmt.Errorf("bad signature by %s", name)
		}
		found = true
	}
	if !found {
		return "", fmt.Errorf("no signature by %s", name)
	}
	return string(text), nil
}

// vkey writes a public key as a C2SP vkey from its parts, for comparison
// with our keys' text form.
func vkey(name string, pub ed25519.PublicKey) string {
	id := sha256.Sum256(append([]byte(name+"\n\x01"), pub...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(id[:4]), base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)))
}

// TestOracleCheckpoints signs checkpoints of many sizes and times and has
// formats, torchwood and specOpen parse and verify each one.
func TestOracleCheckpoints(t *testing.T) {
	p := testkeys.New(t, "oracle")
	m := bigLog(t)
	pub := p.Signer.Public()
	if got, want := pub.String(), vkey(pub.Name(), pub.Ed25519()); got != want {
		t.Fatalf("our key text %s, C2SP vkey %s", got, want)
	}
	fv, err := fnote.NewVerifier(pub.String())
	if err != nil {
		t.Fatalf("formats refuses our key: %v", err)
	}
	origin := catalog.Origin(p.ID())
	var formatsOK, torchwoodOK, specOK int
	for _, size := range oracleSizes {
		for _, tm := range oracleTimes {
			c := m.checkpoint(t, size)
			c.Origin, c.Time = origin, tm
			if size%2 == 0 {
				// Half with the article index line, as signed today,
				// half in the older four-line form.
				c.Index = tlog.Hash(sha256.Sum256(fmt.Appendf(nil, "index %d", size)))
			}
			signed := mustSign(t, c, p.Signer)
			// Ours refuses only a time outside the signing key's window.
			inWindow := !tm.Before(testkeys.NotBefore) && tm.Before(testkeys.NotAfter)
			if _, err := catalog.OpenCheckpoint(signed, p.Trust); (err == nil) != inWindow {
				t.Fatalf("size %d time %d: our own check: %v", size, tm.Unix(), err)
			}
			ext := fmt.Sprintf("time %d\n", tm.Unix())
			if c.Index != (tlog.Hash{}) {
				ext += "index " + c.Index.String() + "\n"
			}

			fc, rest, _, err := flog.ParseCheckpoint(signed, origin, fv)
			switch {
			case err != nil:
				t.Errorf("size %d time %d: formats refuses it: %v", size, tm.Unix(), err)
			case fc.Origin != origin || fc.Size != uint64(size) || !bytes.Equal(fc.Hash, c.Root[:]) || string(rest) != ext:
				t.Errorf("size %d: formats reads origin %q size %d root %x extension %q", size, fc.Origin, fc.Size, fc.Hash, rest)
			default:
				formatsOK++
			}

			tc, err := torchwood.ParseCheckpoint(c.Text())
			switch {
			case err != nil:
				t.Errorf("size %d time %d: torchwood refuses it: %v", size, tm.Unix(), err)
			case tc.Origin != origin || tc.N != size || tc.Hash != c.Root || tc.Extension != ext:
				t.Errorf("size %d: torchwood reads %+v", size, tc)
			case tc.String() != c.Text():
				t.Errorf("size %d: torchwood re-encodes\n%q\nas\n%q", size, c.Text(), tc.String())
			default:
				torchwoodOK++
			}

			if text, err := specOpen(signed, pub.Name(), pub.Ed25519()); err != nil || text != c.Text() {
				t.Errorf("size %d time %d: the C2SP signed-note check: %q, %v", size, tm.Unix(), text, err)
			} else {
				specOK++
			}
		}
	}
	t.Logf("%d checkpoints: formats accepted %d, torchwood parsed and re-encoded %d byte for byte, the C2SP signed-note check accepted %d",
		len(oracleSizes)*len(oracleTimes), formatsOK, torchwoodOK, specOK)
}

// TestOracleCheckpointsRefused checks that the oracles refuse what we
// refuse for a reason C2SP shares: a signature that does not verify, a
// note for another origin, a key they were not given.
func TestOracleCheckpointsRefused(t *testing.T) {
	p := testkeys.New(t, "oracle")
	other := testkeys.New(t, "oracle-other")
	c := bigLog(t).checkpoint(t, 17)
	c.Origin = catalog.Origin(p.ID())
	signed := mustSign(t, c, p.Signer)
	fv, err := fnote.NewVerifier(p.Signer.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	pub := p.Signer.Public()
	refused := 0
	// Every byte of the signature's base64, changed, must be refused.
	sigAt := bytes.LastIndexByte(signed[:len(signed)-1], ' ') + 1
	for i := sigAt; i < len(signed)-1; i++ {
		bad := bytes.Clone(signed)
		bad[i] = "AB"[btoi(bad[i] == 'A')]
		_, ourErr := catalog.OpenCheckpoint(bad, p.Trust)
		_, _, _, fErr := flog.ParseCheckpoint(bad, c.Origin, fv)
		_, sErr := specOpen(bad, pub.Name(), pub.Ed25519())
		if ourErr == nil || fErr == nil || sErr == nil {
			t.Errorf("signature byte %d changed: ours %v, formats %v, spec %v", i-sigAt, ourErr, fErr, sErr)
		} else {
			refused++
		}
	}
	// Every byte of the text, changed, must be refused by the signature.
	for i := range len(c.Text()) {
		bad := bytes.Clone(signed)
		bad[i] ^= 0x01
		if bad[i] == '\n' || signed[i] == '\n' {
			continue
		}
		_, ourErr := catalog.OpenCheckpoint(bad, p.Trust)
		_, _, _, fErr := flog.ParseCheckpoint(bad, c.Origin, fv)
		_, sErr := specOpen(bad, pub.Name(), pub.Ed25519())
		if ourErr == nil || fErr == nil || sErr == nil {
			t.Errorf("text byte %d changed: ours %v, formats %v, spec %v", i, ourErr, fErr, sErr)
		} else {
			refused++
		}
	}
	if _, _, _, err := flog.ParseCheckpoint(signed, catalog.Origin(other.ID()), fv); err == nil {
		t.Error("formats accepts the checkpoint for another origin")
	}
	ov, _ := fnote.NewVerifier(other.Signer.Public().String())
	if _, _, _, err := flog.ParseCheckpoint(signed, c.Origin, ov); err == nil {
		t.Error("formats accepts the checkpoint with another publisher's key")
	}
	t.Logf("%d tampered checkpoints refused by ours, formats and the C2SP check alike", refused)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOracleCosignature checks what FORMAT.md says of the C2SP
// tlog-cosignature option: a witness's cosignature/v1 (torchwood's
// signer) over one of our checkpoints, time line included, verifies with
// formats' cosignature verifier, and our own check still opens the
// cosigned note, ignoring the signature by a key it does not know.
func TestOracleCosignature(t *testing.T) {
	p := testkeys.New(t, "oracle")
	c := bigLog(t).checkpoint(t, 33)
	c.Origin = catalog.Origin(p.ID())
	signed := mustSign(t, c, p.Signer)
	wkey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	w, err := torchwood.NewCosignatureSigner("witness.example/w1", wkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(p.Signer.Public()))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, w)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(vkey("witness.example/w1", wkey.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	fv, _ := fnote.NewVerifier(p.Signer.Public().String())
	_, _, fn, err := flog.ParseCheckpoint(cosigned, c.Origin, fv, wv)
	if err != nil {
		t.Fatalf("formats refuses the cosigned checkpoint: %v", err)
	}
	if len(fn.Sigs) != 2 {
		t.Fatalf("formats verified %d signatures, want the log's and the witness's", len(fn.Sigs))
	}
	ts, err := fnote.CoSigV1Timestamp(fn.Sigs[1])
	if err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
		t.Errorf("cosignature time %v, %v", ts, err)
	}
	got, err := catalog.OpenCheckpoint(cosigned, p.Trust)
	if err != nil || *got != *c {
		t.Errorf("our check of the cosigned checkpoint: %+v, %v", got, err)
	}
	t.Logf("cosigned checkpoint: %d bytes, %d without the cosignature", len(cosigned), len(signed))
}

// merkleProof converts a tlog proof to the merkle module's form.
func merkleProof[P ~[]tlog.Hash](p P) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = bytes.Clone(h[:])
	}
	return out
}

// tamperings returns broken copies of a proof: each hash with a bit
// flipped, one hash short, one hash too many.
func tamperings(p []tlog.Hash) map[string][]tlog.Hash {
	out := map[string][]tlog.Hash{}
	for i := range p {
		q := append([]tlog.Hash(nil), p...)
		q[i][i%32] ^= 0x80
		out[fmt.Sprintf("hash %d flipped", i)] = q
	}
	if len(p) > 0 {
		out["one hash short"] = append([]tlog.Hash(nil), p[:len(p)-1]...)
	}
	out["one hash too many"] = append(append([]tlog.Hash(nil), p...), tlog.Hash(sha256.Sum256([]byte("extra"))))
	return out
}

// TestOracleInclusion has merkle verify every inclusion proof of a leaf
// in a log of size up to exhaustiveSize, and a sample above, and refuse
// every tampered one, as CheckInclusion does.
func TestOracleInclusion(t *testing.T) {
	m := bigLog(t)
	h := rfc6962.DefaultHasher
	var sizes []int64
	for s := int64(1); s <= exhaustiveSize; s++ {
		sizes = append(sizes, s)
	}
	for _, s := range oracleSizes {
		if s > exhaustiveSize {
			sizes = append(sizes, s)
		}
	}
	var accepted, refused int
	for _, size := range sizes {
		c := m.checkpoint(t, size)
		for _, n := range sampleIndexes(size) {
			leaf := m.leaves[n]
			lh := catalog.LeafHash(leaf)
			if !bytes.Equal(h.HashLeaf(leaf), lh[:]) {
				t.Fatalf("leaf %d: merkle hashes it %x, we %x", n, h.HashLeaf(leaf), lh)
			}
			p, err := tlog.ProveRecord(size, n, m)
			if err != nil {
				t.Fatal(err)
			}
			ours := catalog.CheckInclusion(c, n, leaf, p)
			theirs := proof.VerifyInclusion(h, uint64(n), uint64(size), lh[:], merkleProof(p), c.Root[:])
			if ours != nil || theirs != nil {
				t.Errorf("leaf %d of %d: ours %v, merkle %v", n, size, ours, theirs)
				continue
			}
			accepted++
			bad := tamperings(p)
			if size > 1 {
				bad["wrong index"] = p
			}
			for why, q := range bad {
				idx := n
				if why == "wrong index" {
					idx = (n + 1) % size
				}
				ours := catalog.CheckInclusion(c, idx, leaf, q)
				theirs := proof.VerifyInclusion(h, uint64(idx), uint64(size), lh[:], merkleProof(q), c.Root[:])
				if ours == nil || theirs == nil {
					t.Errorf("leaf %d of %d, %s: ours %v, merkle %v", n, size, why, ours, theirs)
					continue
				}
				refused++
			}
			// Another leaf at the same index.
			other := append(bytes.Clone(leaf), 0)
			oh := catalog.LeafHash(other)
			if catalog.CheckInclusion(c, n, other, p) == nil || proof.VerifyInclusion(h, uint64(n), uint64(size), oh[:], merkleProof(p), c.Root[:]) == nil {
				t.Errorf("leaf %d of %d: another leaf is accepted", n, size)
			} else {
				refused++
			}
		}
	}
	t.Logf("inclusion: %d proofs accepted by both ours and merkle, %d tampered proofs refused by both", accepted, refused)
}

// TestOracleConsistency has merkle verify every consistency proof between
// sizes 0 ≤ older ≤ newer ≤ exhaustiveSize, and a sample above, and
// refuse every tampered one, as CheckConsistency does.
func TestOracleConsistency(t *testing.T) {
	m := bigLog(t)
	h := rfc6962.DefaultHasher
	type pair struct{ older, newer int64 }
	var pairs []pair
	for newer := int64(0); newer <= exhaustiveSize; newer++ {
		for older := int64(0); older <= newer; older++ {
			pairs = append(pairs, pair{older, newer})
		}
	}
	for _, newer := range oracleSizes {
		if newer <= exhaustiveSize {
			continue
		}
		for _, older := range sampleIndexes(newer) {
			pairs = append(pairs, pair{older + 1, newer})
		}
		pairs = append(pairs, pair{0, newer})
	}
	roots := map[int64]tlog.Hash{}
	root := func(size int64) tlog.Hash {
		r, ok := roots[size]
		if !ok {
			r = m.checkpoint(t, size).Root
			roots[size] = r
		}
		return r
	}
	var accepted, refused int
	for _, pr := range pairs {
		older := &catalog.Checkpoint{Origin: "samizdat/x", Size: pr.older, Root: root(pr.older), Time: cpTime}
		newer := &catalog.Checkpoint{Origin: "samizdat/x", Size: pr.newer, Root: root(pr.newer), Time: cpTime}
		var p tlog.TreeProof
		if pr.older > 0 { // the store proves nothing from an empty log
			var err error
			if p, err = tlog.ProveTree(pr.newer, pr.older, m); err != nil {
				t.Fatal(err)
			}
		}
		ours := catalog.CheckConsistency(older, newer, p)
		theirs := proof.VerifyConsistency(h, uint64(pr.older), uint64(pr.newer), merkleProof(p), older.Root[:], newer.Root[:])
		if ours != nil || theirs != nil {
			t.Errorf("%d to %d: ours %v, merkle %v", pr.older, pr.newer, ours, theirs)
			continue
		}
		accepted++
		if pr.older == 0 || pr.older == pr.newer {
			// No proof is needed, and one given is refused.
			extra := tlog.TreeProof{tlog.Hash(sha256.Sum256([]byte("extra")))}
			ours := catalog.CheckConsistency(older, newer, extra)
			theirs := proof.VerifyConsistency(h, uint64(pr.older), uint64(pr.newer), merkleProof(extra), older.Root[:], newer.Root[:])
			if ours == nil || theirs == nil {
				t.Errorf("%d to %d with a needless proof hash: ours %v, merkle %v", pr.older, pr.newer, ours, theirs)
			} else {
				refused++
			}
			if pr.older > 0 {
				forked := *newer
				forked.Root[0] ^= 1
				ours := catalog.CheckConsistency(older, &forked, p)
				theirs := proof.VerifyConsistency(h, uint64(pr.older), uint64(pr.newer), nil, older.Root[:], forked.Root[:])
				if ours == nil || theirs == nil {
					t.Errorf("%d to %d with another root: ours %v, merkle %v", pr.older, pr.newer, ours, theirs)
				} else {
					refused++
				}
			}
			continue
		}
		type broken struct {
			p                    []tlog.Hash
			olderRoot, newerRoot tlog.Hash
		}
		bad := map[string]broken{}
		for why, q := range tamperings(p) {
			bad[why] = broken{q, older.Root, newer.Root}
		}
		or, nr := older.Root, newer.Root
		or[31] ^= 1
		nr[31] ^= 1
		bad["older root changed"] = broken{p, or, newer.Root}
		bad["newer root changed"] = broken{p, older.Root, nr}
		for why, b := range bad {
			o := &catalog.Checkpoint{Origin: older.Origin, Size: older.Size, Root: b.olderRoot, Time: cpTime}
			n := &catalog.Checkpoint{Origin: newer.Origin, Size: newer.Size, Root: b.newerRoot, Time: cpTime}
			ours := catalog.CheckConsistency(o, n, b.p)
			theirs := proof.VerifyConsistency(h, uint64(o.Size), uint64(n.Size), merkleProof(b.p), o.Root[:], n.Root[:])
			if ours == nil || theirs == nil {
				t.Errorf("%d to %d, %s: ours %v, merkle %v", pr.older, pr.newer, why, ours, theirs)
				continue
			}
			refused++
		}
	}
	t.Logf("consistency: %d proofs accepted by both ours and merkle, %d tampered proofs refused by both", accepted, refused)
}
