package catalog_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
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
	"github.com/samizdat-news/samizdat/internal/golden"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

const proofVectorsFile = "testdata/proofs.json"

// proofVectorLeaves is the number of leaves in the proof vectors' log.
const proofVectorLeaves = 11

// proofVectors is the layout of testdata/proofs.json: a signed checkpoint
// of every size of a small log, every inclusion and consistency proof in
// it, and inputs that every verifier must refuse, so that another
// implementation can check itself against ours.
type proofVectors struct {
	Comment     string          `json:"comment"`
	RootKey     string          `json:"root_key"`    // the publisher's pinned key
	Statement   string          `json:"statement"`   // its signed key statement
	SigningKey  string          `json:"signing_key"` // C2SP vkey of the key that signs the checkpoints
	Origin      string          `json:"origin"`
	Leaves      []string        `json:"leaves"`      // hex, in log order
	Checkpoints []string        `json:"checkpoints"` // signed; checkpoints[i] is of size i+1
	Inclusion   []inclVector    `json:"inclusion"`   // every (index, size)
	Consistency []consVector    `json:"consistency"` // every (older, newer), 1 ≤ older < newer
	MustRefuse  []refuseVector  `json:"must_refuse"`
	Extension   extensionVector `json:"extension"`
}

type inclVector struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"` // base64 hashes
}

type consVector struct {
	Older int64    `json:"older"`
	Newer int64    `json:"newer"`
	Proof []string `json:"proof"`
}

// refuseVector is an input to refuse: a checkpoint (Checkpoint set), an
// inclusion proof (Index, Size, Proof: of leaf Index against
// checkpoints[Size-1]) or a consistency proof (Older, Newer, Proof).
// SamizdatOnly marks a checkpoint that generic C2SP parsers may accept
// but that samizdat refuses (its form is fixed: see FORMAT.md);
// C2SPInvalid one whose text breaks C2SP tlog-checkpoint itself, which a
// strict C2SP parser (torchwood's) refuses.
type refuseVector struct {
	Why          string   `json:"why"`
	Checkpoint   string   `json:"checkpoint,omitempty"`
	SamizdatOnly bool     `json:"samizdat_only,omitempty"`
	C2SPInvalid  bool     `json:"c2sp_invalid,omitempty"`
	Index        int64    `json:"index,omitempty"`
	Size         int64    `json:"size,omitempty"`
	Older        int64    `json:"older,omitempty"`
	Newer        int64    `json:"newer,omitempty"`
	Proof        []string `json:"proof,omitempty"`
}

// extensionVector records how the checkpoints' one extension line reads:
// the note text of the last checkpoint, and its lines.
type extensionVector struct {
	Text      string `json:"text"`
	Extension string `json:"extension"` // the text after the three C2SP lines
	Time      int64  `json:"time"`
}

func makeProofVectors(t *testing.T) *proofVectors {
	p := testkeys.New(t, "proof-vectors")
	origin := catalog.Origin(p.ID())
	m := &memLog{}
	v := &proofVectors{
		Comment:    "samizdat checkpoint and proof vectors (RFC 6962, C2SP tlog-checkpoint); regenerate with: go test ./catalog -run TestVectors -update",
		RootKey:    p.Root.Public().String(),
		Statement:  string(p.Statement),
		SigningKey: p.Signer.Public().String(),
		Origin:     origin,
	}
	start := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range proofVectorLeaves {
		l := &catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("article-%d", i), Revision: 1, Digest: digest(byte(i))}
		m.append(t, l.Encode())
		v.Leaves = append(v.Leaves, hex.EncodeToString(l.Encode()))
		c := m.checkpoint(t, int64(i+1))
		c.Origin, c.Time = origin, start.Add(time.Duration(i)*time.Hour)
		v.Checkpoints = append(v.Checkpoints, string(mustSign(t, c, p.Signer)))
	}
	last := m.checkpoint(t, proofVectorLeaves)
	last.Origin, last.Time = origin, start.Add((proofVectorLeaves-1)*time.Hour)
	v.Extension = extensionVector{Text: last.Text(), Extension: fmt.Sprintf("time %d\n", last.Time.Unix()), Time: last.Time.Unix()}
	for size := int64(1); size <= proofVectorLeaves; size++ {
		for n := range size {
			pr, err := tlog.ProveRecord(size, n, m)
			if err != nil {
				t.Fatal(err)
			}
			v.Inclusion = append(v.Inclusion, inclVector{n, size, hashStrings(pr)})
		}
		for older := int64(1); older < size; older++ {
			pr, err := tlog.ProveTree(size, older, m)
			if err != nil {
				t.Fatal(err)
			}
			v.Consistency = append(v.Consistency, consVector{older, size, hashStrings(pr)})
		}
	}
	v.MustRefuse = refuseVectors(t, p, m, last)
	return v
}

// refuseVectors builds the must_refuse list from the log m and its last
// checkpoint c.
func refuseVectors(t *testing.T, p *testkeys.Publisher, m *memLog, c *catalog.Checkpoint) []refuseVector {
	signed := string(mustSign(t, c, p.Signer))
	resign := func(text string, k *keys.PrivateKey) string {
		b, err := note.Sign(&note.Note{Text: text}, k)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	flip := func(h string) string {
		b, _ := base64.StdEncoding.DecodeString(h)
		b[0] ^= 0x80
		return base64.StdEncoding.EncodeToString(b)
	}
	// The signature (4 + 64 bytes) is 92 base64 characters ending in one
	// "=": its last character before "=" carries two padding bits.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := len(signed) - 3
	padBits := []byte(signed)
	padBits[last] = b64[strings.IndexByte(b64, signed[last])^1]
	badSig := []byte(signed)
	badSig[last-10] = b64[(strings.IndexByte(b64, signed[last-10])+1)%64]
	other := testkeys.New(t, "proof-vectors-other")
	undelegated := testkeys.Key(t, "proof-vectors-undelegated", keys.RoleSigning)
	rv := []refuseVector{
		{Why: "signature changed", Checkpoint: string(badSig)},
		{Why: "signed by a key the statement does not delegate", Checkpoint: resign(c.Text(), undelegated)},
		{Why: "another publisher's origin", Checkpoint: resign(fmt.Sprintf("%s\n%d\n%s\ntime %d\n", catalog.Origin(other.ID()), c.Size, c.Root, c.Time.Unix()), p.Signer)},
		{Why: "size with a leading zero (C2SP forbids it; formats v0.1.1 accepts it)", Checkpoint: resign(fmt.Sprintf("%s\n0%d\n%s\ntime %d\n", c.Origin, c.Size, c.Root, c.Time.Unix()), p.Signer), SamizdatOnly: true, C2SPInvalid: true},
		{Why: "no time line (valid C2SP, not a samizdat checkpoint)", Checkpoint: resign(fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, c.Root), p.Signer), SamizdatOnly: true},
		{Why: "a second extension line", Checkpoint: resign(c.Text()+"index x\n", p.Signer), SamizdatOnly: true},
		{Why: "signature base64 with non-zero padding bits", Checkpoint: string(padBits), SamizdatOnly: true},
		{Why: "the same signature line twice", Checkpoint: signed + signed[bytes.LastIndex([]byte(signed), []byte("\n\n"))+2:], SamizdatOnly: true},
	}
	size := c.Size
	n := int64(5)
	ip, err := tlog.ProveRecord(size, n, m)
	if err != nil {
		t.Fatal(err)
	}
	is := hashStrings(ip)
	rv = append(rv,
		refuseVector{Why: "inclusion: a proof hash changed", Index: n, Size: size, Proof: append([]string{flip(is[0])}, is[1:]...)},
		refuseVector{Why: "inclusion: one hash short", Index: n, Size: size, Proof: is[:len(is)-1]},
		refuseVector{Why: "inclusion: one hash too many", Index: n, Size: size, Proof: append(append([]string{}, is...), is[0])},
		refuseVector{Why: "inclusion: the proof of leaf 5 for leaf 6", Index: n + 1, Size: size, Proof: is},
		refuseVector{Why: "inclusion: the proof in size 11 against size 10", Index: n, Size: size - 1, Proof: is},
	)
	older := int64(5)
	cp, err := tlog.ProveTree(size, older, m)
	if err != nil {
		t.Fatal(err)
	}
	cs := hashStrings(cp)
	rv = append(rv,
		refuseVector{Why: "consistency: a proof hash changed", Older: older, Newer: size, Proof: append([]string{flip(cs[0])}, cs[1:]...)},
		refuseVector{Why: "consistency: one hash short", Older: older, Newer: size, Proof: cs[:len(cs)-1]},
		refuseVector{Why: "consistency: one hash too many", Older: older, Newer: size, Proof: append(append([]string{}, cs...), cs[0])},
		refuseVector{Why: "consistency: the proof from 5 given from 6", Older: older + 1, Newer: size, Proof: cs},
	)
	return rv
}

func TestVectorsProofs(t *testing.T) {
	want := makeProofVectors(t)
	if *update {
		golden.Write(t, proofVectorsFile, want)
	}
	f, err := os.Open(proofVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	v := &proofVectors{}
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", proofVectorsFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the vectors", proofVectorsFile)
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("%s differs from what the code makes now; if the format changed on purpose, run with -update", proofVectorsFile)
	}
	checkProofVectors(t, v)
}

// checkProofVectors checks the vectors from the file alone, with our code
// and with the oracles: formats and torchwood for the checkpoints, merkle
// for the proofs.
func checkProofVectors(t *testing.T, v *proofVectors) {
	root, err := keys.ParsePublicKey(v.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.NewTrust(root, []byte(v.Statement))
	if err != nil {
		t.Fatal(err)
	}
	fv, err := fnote.NewVerifier(v.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	h := rfc6962.DefaultHasher
	var leaves [][]byte
	for _, s := range v.Leaves {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, b)
	}
	cps := make([]*catalog.Checkpoint, len(v.Checkpoints))
	for i, s := range v.Checkpoints {
		c, err := catalog.OpenCheckpoint([]byte(s), trust)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		fc, _, _, err := flog.ParseCheckpoint([]byte(s), v.Origin, fv)
		if err != nil || fc.Size != uint64(c.Size) || !bytes.Equal(fc.Hash, c.Root[:]) {
			t.Errorf("checkpoint %d: formats reads %+v, %v", i, fc, err)
		}
		if tc, err := torchwood.ParseCheckpoint(c.Text()); err != nil || tc.String() != c.Text() {
			t.Errorf("checkpoint %d: torchwood: %v", i, err)
		}
		if c.Size != int64(i+1) {
			t.Fatalf("checkpoint %d has size %d", i, c.Size)
		}
		cps[i] = c
	}
	last := cps[len(cps)-1]
	if v.Extension.Text != last.Text() || v.Extension.Time != last.Time.Unix() || v.Extension.Extension != fmt.Sprintf("time %d\n", last.Time.Unix()) {
		t.Errorf("extension vector %+v does not describe the last checkpoint", v.Extension)
	}
	var mlog memLog
	for i, l := range leaves {
		mlog.append(t, l)
		if th, err := tlog.TreeHash(int64(i+1), &mlog); err != nil || th != cps[i].Root {
			t.Errorf("leaves 0..%d hash to %s, checkpoint %d says %s", i, th, i, cps[i].Root)
		}
	}
	if want := proofVectorLeaves * (proofVectorLeaves + 1) / 2; len(v.Inclusion) != want || len(v.Consistency) != want-proofVectorLeaves {
		t.Errorf("%d inclusion and %d consistency proofs, want %d and %d", len(v.Inclusion), len(v.Consistency), want, want-proofVectorLeaves)
	}
	inclusion := func(n, size int64, ps []string) (ours, theirs error) {
		pr := parseHashList(t, ps)
		if size < 1 || size > int64(len(cps)) || n < 0 || n >= int64(len(leaves)) {
			t.Fatalf("vector out of range: leaf %d size %d", n, size)
		}
		c, lh := cps[size-1], catalog.LeafHash(leaves[n])
		return catalog.CheckInclusion(c, n, leaves[n], pr), proof.VerifyInclusion(h, uint64(n), uint64(size), lh[:], merkleProof(pr), c.Root[:])
	}
	consistency := func(older, newer int64, ps []string) (ours, theirs error) {
		pr := parseHashList(t, ps)
		o, n := cps[older-1], cps[newer-1]
		return catalog.CheckConsistency(o, n, pr), proof.VerifyConsistency(h, uint64(older), uint64(newer), merkleProof(pr), o.Root[:], n.Root[:])
	}
	for _, iv := range v.Inclusion {
		if ours, theirs := inclusion(iv.Index, iv.Size, iv.Proof); ours != nil || theirs != nil {
			t.Errorf("inclusion of %d in %d: ours %v, merkle %v", iv.Index, iv.Size, ours, theirs)
		}
	}
	for _, cv := range v.Consistency {
		if ours, theirs := consistency(cv.Older, cv.Newer, cv.Proof); ours != nil || theirs != nil {
			t.Errorf("consistency %d to %d: ours %v, merkle %v", cv.Older, cv.Newer, ours, theirs)
		}
	}
	for _, r := range v.MustRefuse {
		var ours, theirs error
		switch {
		case r.Checkpoint != "":
			_, ours = catalog.OpenCheckpoint([]byte(r.Checkpoint), trust)
			_, _, _, theirs = flog.ParseCheckpoint([]byte(r.Checkpoint), v.Origin, fv)
			if r.SamizdatOnly {
				t.Logf("%s: formats says %v", r.Why, theirs)
				theirs = errSkipped
			}
			if r.C2SPInvalid {
				text := r.Checkpoint[:strings.LastIndex(r.Checkpoint, "\n\n")+1]
				if _, err := torchwood.ParseCheckpoint(text); err == nil {
					t.Errorf("%s: torchwood accepts the text", r.Why)
				}
			}
		case r.Newer != 0:
			ours, theirs = consistency(r.Older, r.Newer, r.Proof)
		default:
			ours, theirs = inclusion(r.Index, r.Size, r.Proof)
		}
		if ours == nil || theirs == nil {
			t.Errorf("%s: accepted (ours %v, oracle %v)", r.Why, ours, theirs)
		} else {
			t.Logf("%s: refused: %v", r.Why, ours)
		}
	}
}

var errSkipped = fmt.Errorf("not asked of C2SP parsers")

func parseHashList(t *testing.T, ss []string) []tlog.Hash {
	var hs []tlog.Hash
	for _, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}
