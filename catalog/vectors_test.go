package catalog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/golden"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

const vectorsFile = "testdata/vectors.json"

// vectors is the layout of testdata/vectors.json: a small log of every
// leaf kind, signed by a fixed key, with the proofs a reader checks.
type vectors struct {
	Comment    string          `json:"comment"`
	RootKey    string          `json:"root_key"`    // the publisher's pinned key, text form
	Statement  string          `json:"statement"`   // signed key statement
	Leaves     []vectorLeaf    `json:"leaves"`      // the log, in order
	Checkpoint string          `json:"checkpoint"`  // signed checkpoint of the whole log
	Size       int64           `json:"size"`        // its size
	RootHash   string          `json:"root_hash"`   // its root hash, base64
	Inclusion  [][]string      `json:"inclusion"`   // per leaf, its proof in the whole log
	Consistent []vectorTree    `json:"consistency"` // proofs from smaller sizes
	Invalid    []vectorInvalid `json:"invalid_leaves"`
	MirrorList vectorMirrors   `json:"mirror_list"` // the list the log's mirror-list leaf records
}

// vectorMirrors is a signed mirror list and what it says.
type vectorMirrors struct {
	Signed  string   `json:"signed"`
	Digest  string   `json:"digest"` // hex SHA-256 of signed
	Version uint64   `json:"version"`
	Time    int64    `json:"time"`
	URLs    []string `json:"urls"`
	// Verifiers are the hex SHA-256 of the verifier pages it vouches for.
	Verifiers []string `json:"verifiers"`
}

type vectorLeaf struct {
	Hex      string `json:"hex"`
	LeafHash string `json:"leaf_hash"` // base64
	Kind     string `json:"kind"`
	ID       string `json:"id,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
	Digest   string `json:"digest,omitempty"` // hex
	Time     int64  `json:"time,omitempty"`   // unix seconds
	Version  uint64 `json:"version,omitempty"`
}

type vectorTree struct {
	Older    int64    `json:"older"`
	RootHash string   `json:"older_root_hash"`
	Proof    []string `json:"proof"`
}

type vectorInvalid struct {
	Hex string `json:"hex"`
	Why string `json:"why"`
}

func hashStrings(hs []tlog.Hash) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.String())
	}
	return out
}

// makeVectors builds the vectors from fixed keys. Signing is
// deterministic, so the result never changes unless the format does.
func makeVectors(t *testing.T) *vectors {
	p := testkeys.New(t, "vectors")
	stmtDigest := sha256.Sum256(p.Statement)
	ml := &catalog.MirrorList{Version: 1, Time: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC),
		URLs:      []string{"https://mirror.example.org/", "h3://203.0.113.7:4433", "http://[2001:db8::1]:8080/news"},
		Verifiers: [][sha256.Size]byte{sha256.Sum256([]byte("verifier page 2")), sha256.Sum256([]byte("verifier page 1"))}}
	var verifiers []string
	for _, h := range ml.Verifiers {
		verifiers = append(verifiers, hex.EncodeToString(h[:]))
	}
	mlSigned, err := ml.Sign(p.Signer, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	mlDigest := sha256.Sum256(mlSigned)
	leaves := []*catalog.Leaf{
		{Kind: catalog.KindKeyStatement, Version: 1, Digest: stmtDigest},
		{Kind: catalog.KindBundle, ID: "first-article", Revision: 1, Digest: sha256.Sum256([]byte("bundle 1"))},
		{Kind: catalog.KindBundle, ID: "second", Revision: 1, Digest: sha256.Sum256([]byte("bundle 2"))},
		{Kind: catalog.KindBundle, ID: "first-article", Revision: 2, Digest: sha256.Sum256([]byte("bundle 3"))},
		{Kind: catalog.KindRetraction, ID: "second", Revision: 1, Time: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)},
		{Kind: catalog.KindMirrorList, Version: 1, Digest: mlDigest},
		{Kind: catalog.KindBundle, ID: "x.y_z-0", Revision: 1 << 40, Digest: sha256.Sum256([]byte("bundle 4"))},
	}
	v := &vectors{
		Comment:   "samizdat catalog test vectors; regenerate with: go test ./catalog -run TestVectors -update",
		RootKey:   p.Root.Public().String(),
		Statement: string(p.Statement),
		MirrorList: vectorMirrors{Signed: string(mlSigned), Digest: hex.EncodeToString(mlDigest[:]),
			Version: ml.Version, Time: ml.Time.Unix(), URLs: ml.URLs, Verifiers: verifiers},
	}
	m := &memLog{}
	for _, l := range leaves {
		enc := l.Encode()
		m.append(t, enc)
		vl := vectorLeaf{Hex: hex.EncodeToString(enc), LeafHash: catalog.LeafHash(enc).String(), Kind: l.Kind.String(),
			ID: l.ID, Revision: l.Revision, Version: l.Version}
		if l.Kind != catalog.KindRetraction {
			vl.Digest = hex.EncodeToString(l.Digest[:])
		} else {
			vl.Time = l.Time.Unix()
		}
		v.Leaves = append(v.Leaves, vl)
	}
	size := int64(len(leaves))
	c := m.checkpoint(t, size)
	c.Origin = catalog.Origin(p.ID())
	c.Time = time.Date(2025, 2, 3, 4, 5, 7, 0, time.UTC)
	v.Checkpoint = string(mustSign(t, c, p.Signer))
	v.Size, v.RootHash = size, c.Root.String()
	for n := range size {
		proof, err := tlog.ProveRecord(size, n, m)
		if err != nil {
			t.Fatal(err)
		}
		v.Inclusion = append(v.Inclusion, hashStrings(proof))
	}
	for older := int64(1); older < size; older++ {
		proof, err := tlog.ProveTree(size, older, m)
		if err != nil {
			t.Fatal(err)
		}
		v.Consistent = append(v.Consistent, vectorTree{Older: older, RootHash: m.checkpoint(t, older).Root.String(), Proof: hashStrings(proof)})
	}
	v.Invalid = []vectorInvalid{
		{"", "empty"},
		{"00" + hex.EncodeToString(make([]byte, 40)), "kind 0"},
		{"05" + hex.EncodeToString(make([]byte, 40)), "kind 5"},
		{v.Leaves[1].Hex + "00", "trailing byte"},
		{v.Leaves[1].Hex[:len(v.Leaves[1].Hex)-2], "one byte short"},
		{"0101" + hex.EncodeToString([]byte("A")) + "0000000000000001" + hex.EncodeToString(make([]byte, 32)), "upper-case id"},
		{"0101" + hex.EncodeToString([]byte("a")) + "0000000000000000" + hex.EncodeToString(make([]byte, 32)), "revision 0"},
		{"0201" + hex.EncodeToString([]byte("a")) + "0000000000000001" + "ffffffffffffffff", "retraction time before 1970"},
		{"03" + hex.EncodeToString(make([]byte, 40)), "key statement version 0"},
	}
	return v
}

func TestVectors(t *testing.T) {
	want := makeVectors(t)
	if *update {
		golden.Write(t, vectorsFile, want)
	}
	v := loadVectors(t, vectorsFile)
	if !reflect.DeepEqual(v, want) {
		t.Errorf("%s differs from what the code makes now; if the format changed on purpose, run with -update", vectorsFile)
	}
	checkVectors(t, v)
}

func loadVectors(t testing.TB, file string) *vectors {
	f, err := os.Open(filepath.FromSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	v := &vectors{}
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the vectors", file)
	}
	return v
}

// checkVectors verifies the vectors from the file alone, as another
// implementation would.
func checkVectors(t *testing.T, v *vectors) {
	root, err := keys.ParsePublicKey(v.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.NewTrust(root, []byte(v.Statement))
	if err != nil {
		t.Fatal(err)
	}
	m := &memLog{}
	for i, vl := range v.Leaves {
		raw, err := hex.DecodeString(vl.Hex)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		l, err := catalog.ParseLeaf(raw)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if !bytes.Equal(l.Encode(), raw) {
			t.Errorf("leaf %d does not re-encode to its bytes", i)
		}
		if got := catalog.LeafHash(raw).String(); got != vl.LeafHash {
			t.Errorf("leaf %d: hash %s, vector says %s", i, got, vl.LeafHash)
		}
		var d string
		var tm int64
		if l.Kind != catalog.KindRetraction {
			d = hex.EncodeToString(l.Digest[:])
		} else {
			tm = l.Time.Unix()
		}
		got := vectorLeaf{Hex: vl.Hex, LeafHash: vl.LeafHash, Kind: l.Kind.String(), ID: l.ID, Revision: l.Revision, Digest: d, Time: tm, Version: l.Version}
		if got != vl {
			t.Errorf("leaf %d parses to\n%+v\nvector says\n%+v", i, got, vl)
		}
		m.append(t, raw)
	}
	c, err := catalog.OpenCheckpoint([]byte(v.Checkpoint), trust)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != v.Size || c.Root.String() != v.RootHash || c.Size != int64(len(v.Leaves)) {
		t.Errorf("checkpoint is size %d root %s; vector says size %d root %s over %d leaves", c.Size, c.Root, v.Size, v.RootHash, len(v.Leaves))
	}
	if th, err := tlog.TreeHash(c.Size, m); err != nil || th != c.Root {
		t.Errorf("tree hash of the leaves %s, checkpoint root %s (%v)", th, c.Root, err)
	}
	parseHashes := func(ss []string) []tlog.Hash {
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
	if len(v.Inclusion) != len(v.Leaves) {
		t.Fatalf("%d inclusion proofs for %d leaves", len(v.Inclusion), len(v.Leaves))
	}
	for n, p := range v.Inclusion {
		raw, _ := hex.DecodeString(v.Leaves[n].Hex)
		if err := catalog.CheckInclusion(c, int64(n), raw, parseHashes(p)); err != nil {
			t.Errorf("inclusion of leaf %d: %v", n, err)
		}
	}
	for _, tp := range v.Consistent {
		h, err := tlog.ParseHash(tp.RootHash)
		if err != nil {
			t.Fatal(err)
		}
		older := &catalog.Checkpoint{Origin: c.Origin, Size: tp.Older, Root: h, Time: c.Time}
		if err := catalog.CheckConsistency(older, c, parseHashes(tp.Proof)); err != nil {
			t.Errorf("consistency from size %d: %v", tp.Older, err)
		}
	}
	if len(v.Consistent) != len(v.Leaves)-1 {
		t.Errorf("%d consistency proofs, want %d", len(v.Consistent), len(v.Leaves)-1)
	}
	checkMirrorVector(t, v, trust)
	for _, iv := range v.Invalid {
		raw, err := hex.DecodeString(iv.Hex)
		if err != nil {
			t.Fatalf("invalid leaf %q: %v", iv.Why, err)
		}
		if _, err := catalog.ParseLeaf(raw); err == nil {
			t.Errorf("invalid leaf (%s) accepted", iv.Why)
		}
	}
}

// checkMirrorVector opens the vector's mirror list and checks that the
// log's last mirror-list leaf records it.
func checkMirrorVector(t *testing.T, v *vectors, trust *keys.Trust) {
	vm := v.MirrorList
	m, err := catalog.OpenMirrorList([]byte(vm.Signed), trust)
	if err != nil {
		t.Fatal(err)
	}
	var verifiers []string
	for _, h := range m.Verifiers {
		verifiers = append(verifiers, hex.EncodeToString(h[:]))
	}
	if m.Version != vm.Version || m.Time.Unix() != vm.Time || !reflect.DeepEqual(m.URLs, vm.URLs) || !reflect.DeepEqual(verifiers, vm.Verifiers) || len(verifiers) == 0 {
		t.Errorf("mirror list opens to %+v, vector says %+v", m, vm)
	}
	d := sha256.Sum256([]byte(vm.Signed))
	if hex.EncodeToString(d[:]) != vm.Digest {
		t.Errorf("mirror list digest %x, vector says %s", d, vm.Digest)
	}
	var last *catalog.Leaf
	for _, vl := range v.Leaves {
		raw, _ := hex.DecodeString(vl.Hex)
		if l, err := catalog.ParseLeaf(raw); err == nil && l.Kind == catalog.KindMirrorList {
			last = l
		}
	}
	if last == nil || last.Version != m.Version || last.Digest != d {
		t.Errorf("the log's last mirror-list leaf %+v does not record the mirror list", last)
	}
}

// TestVectorsRefuseUnknownFields checks that the loader would notice a
// field the test does not know.
func TestVectorsRefuseUnknownFields(t *testing.T) {
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"comment":`), []byte(`"surprise": 1, "comment":`), 1)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vectors{}); err == nil {
		t.Error("a vectors file with an unknown field decoded")
	}
}
