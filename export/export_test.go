package export_test

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/export"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newStore returns a store holding pub's articles, published in one
// update each.
func newStore(t testing.TB, pub *testkeys.Publisher, items ...publish.Item) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	publishInto(t, st, pub, items...)
	return st
}

func publishInto(t testing.TB, st *store.Store, pub *testkeys.Publisher, items ...publish.Item) {
	t.Helper()
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := p.Publish([]publish.Item{it}); err != nil {
			t.Fatal(err)
		}
	}
}

func item(id, body string, images ...bundle.File) publish.Item {
	return publish.Item{
		Meta:  bundle.Metadata{ID: id, Title: "On " + id},
		Files: append([]bundle.File{{Type: "text/html", Data: []byte(body)}}, images...),
	}
}

func write(t testing.TB, st *store.Store, root *keys.PublicKey, ids ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := export.Write(&buf, st, root, ids); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	pub := testkeys.New(t, "pub")
	png := bundle.File{Name: "img/photo.png", Type: "image/png", Data: []byte("\x89PNG\r\n\x1a\n not really")}
	svg := bundle.File{Name: "chart.svg", Type: "image/svg+xml", Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")}
	items := []publish.Item{
		item("a", "<h1>A</h1>", png, svg),
		item("b", "<h1>B</h1>"),
		item("c", "<h1>C</h1>"),
	}
	st := newStore(t, pub, items...)
	// b gets a second revision: the export carries the current one.
	publishInto(t, st, pub, item("b", "<h1>B, revised</h1>"))
	root := pub.Root.Public()
	data := write(t, st, root, "b", "a")
	f, err := export.Verify(data, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := st.Publisher(pub.ID())
	if f.Checkpoint.Size != p.Size || f.Trust.Statement().Version != 1 || len(f.Articles) != 2 {
		t.Fatalf("File: checkpoint size %d, %d articles", f.Checkpoint.Size, len(f.Articles))
	}
	want := map[string][]bundle.File{"b": {{Data: []byte("<h1>B, revised</h1>")}}, "a": {{Data: []byte("<h1>A</h1>")}, svg, png}}
	for i, id := range []string{"b", "a"} {
		a := f.Articles[i]
		art, _ := st.Article(pub.ID(), id)
		if a.Bundle.Manifest.ID != id || a.Leaf != art.Leaf || a.Bundle.Digest != art.Digest {
			t.Errorf("article %d: %s leaf %d, want %s leaf %d", i, a.Bundle.Manifest.ID, a.Leaf, id, art.Leaf)
		}
		if len(a.Bundle.Manifest.Entries) != len(want[id]) {
			t.Fatalf("%s: %d entries, want %d", id, len(a.Bundle.Manifest.Entries), len(want[id]))
		}
		for j, wf := range want[id] {
			got, err := a.Bundle.Entry(j)
			if err != nil || !bytes.Equal(got, wf.Data) {
				t.Errorf("%s entry %d = %q, %v; want %q", id, j, got, err, wf.Data)
			}
			if j > 0 && a.Bundle.Manifest.Entries[j].Name != wf.Name {
				t.Errorf("%s entry %d is %q, want %q", id, j, a.Bundle.Manifest.Entries[j].Name, wf.Name)
			}
		}
	}
	// Write is deterministic.
	if again := write(t, st, root, "b", "a"); !bytes.Equal(again, data) {
		t.Error("a second Write gave other bytes")
	}
}

func TestWriteRefuses(t *testing.T) {
	pub := testkeys.New(t, "pub")
	st := newStore(t, pub, item("a", "a"), item("b", "b"))
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract("b"); err != nil {
		t.Fatal(err)
	}
	root := pub.Root.Public()
	for name, ids := range map[string][]string{
		"no articles": nil,
		"unknown":     {"a", "zz"},
		"retracted":   {"b"},
	} {
		var buf bytes.Buffer
		if err := export.Write(&buf, st, root, ids); err == nil {
			t.Errorf("%s: written", name)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", name, buf.Len())
		}
	}
	if err := export.Write(&bytes.Buffer{}, st, testkeys.New(t, "other").Root.Public(), []string{"a"}); err == nil {
		t.Error("written for an unknown publisher")
	}
}

// smallFile is an export of one short article, for mutation tests.
func smallFile(t testing.TB) (*testkeys.Publisher, []byte) {
	pub := testkeys.New(t, "pub")
	st := newStore(t, pub, item("a", "<p>Hi</p>", bundle.File{Name: "x.png", Type: "image/png", Data: []byte("png")}))
	return pub, write(t, st, pub.Root.Public(), "a")
}

func TestVerifyRefusesEveryByteChange(t *testing.T) {
	pub, data := smallFile(t)
	root := pub.Root.Public()
	if _, err := export.Verify(data, root, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("file of %d bytes", len(data))
	m := bytes.Clone(data)
	for i := range data {
		for _, x := range []byte{0x01, 0x02, 0x04, 0x10, 0x80, 0xff} {
			m[i] = data[i] ^ x
			if _, err := export.Verify(m, root, nil); err == nil {
				t.Errorf("byte %d changed from %#x to %#x: accepted", i, data[i], m[i])
			}
		}
		m[i] = data[i]
	}
}

func TestVerifyRefusesTruncation(t *testing.T) {
	pub, data := smallFile(t)
	root := pub.Root.Public()
	for n := range len(data) {
		if _, err := export.Verify(data[:n], root, nil); err == nil {
			t.Errorf("file cut to %d of %d bytes: accepted", n, len(data))
		}
	}
	if _, err := export.Verify(append(bytes.Clone(data), 0), root, nil); err == nil {
		t.Error("a trailing byte was accepted")
	}
	if _, err := export.Verify(append(bytes.Clone(data), data[len(export.Magic):]...), root, nil); err == nil {
		t.Error("a file with its sections twice was accepted")
	}
}

// sections splits a file into its sections, with their headers.
func sections(t *testing.T, data []byte) [][]byte {
	var out [][]byte
	rest := data[len(export.Magic):]
	for len(rest) > 0 {
		n := 5 + int(binary.BigEndian.Uint32(rest[1:5]))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}

func join(parts ...[]byte) []byte {
	return append([]byte(export.Magic), bytes.Join(parts, nil)...)
}

func TestVerifyRefusesOtherPublisher(t *testing.T) {
	pub, data := smallFile(t)
	other, otherData := func() (*testkeys.Publisher, []byte) {
		o := testkeys.New(t, "other")
		st := newStore(t, o, item("a", "<p>Hi</p>"))
		return o, write(t, st, o.Root.Public(), "a")
	}()
	root := pub.Root.Public()
	ours, theirs := sections(t, data), sections(t, otherData)
	if len(ours) != 3 || len(theirs) != 3 {
		t.Fatalf("%d and %d sections, want 3", len(ours), len(theirs))
	}
	// The other publisher's own file verifies against its own key only.
	if _, err := export.Verify(otherData, other.Root.Public(), nil); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string][]byte{
		"another publisher's file":                   otherData,
		"another publisher's checkpoint":             join(ours[0], theirs[1], ours[2]),
		"another publisher's statement":              join(theirs[0], ours[1], ours[2]),
		"another publisher's article":                join(ours[0], ours[1], theirs[2]),
		"another publisher's checkpoint and article": join(ours[0], theirs[1], theirs[2]),
		"no articles":                                join(ours[0], ours[1]),
		"checkpoint first":                           join(ours[1], ours[0], ours[2]),
		"article twice":                              join(ours[0], ours[1], ours[2], ours[2][:len(ours[2])-1]),
	} {
		if _, err := export.Verify(file, root, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An article section twice is two copies of one verified article.
	if f, err := export.Verify(join(ours[0], ours[1], ours[2], ours[2]), root, nil); err != nil || len(f.Articles) != 2 {
		t.Errorf("article twice: %v", err)
	}
}

// TestVerifyRefusesWrongLeaf gives an article with the inclusion proof of
// another leaf: a key statement leaf, not a bundle.
func TestVerifyRefusesWrongLeaf(t *testing.T) {
	pub := testkeys.New(t, "pub")
	st := newStore(t, pub, item("a", "<p>a</p>"))
	data := write(t, st, pub.Root.Public(), "a")
	secs := sections(t, data)
	art := secs[2][5:]
	p, _ := st.Publisher(pub.ID())
	leaves, _ := st.Leaves(pub.ID(), 0, 1) // the key statement leaf
	proof, err := st.InclusionProof(pub.ID(), 0, p.Size)
	if err != nil {
		t.Fatal(err)
	}
	var sec []byte
	sec = binary.BigEndian.AppendUint64(sec, 0)
	sec = append(sec, byte(len(proof)))
	for _, h := range proof {
		sec = append(sec, h[:]...)
	}
	sec = append(sec, byte(len(leaves[0])))
	sec = append(sec, leaves[0]...)
	np := int(art[8])
	ll := int(art[9+32*np])
	sec = append(sec, art[9+32*np+1+ll:]...) // the bundle
	hdr := append([]byte{3}, binary.BigEndian.AppendUint32(nil, uint32(len(sec)))...)
	if _, err := export.Verify(join(secs[0], secs[1], append(hdr, sec...)), pub.Root.Public(), nil); err == nil {
		t.Error("an article proven by a key statement leaf was accepted")
	}
	if l, _ := catalog.ParseLeaf(leaves[0]); l.Kind != catalog.KindKeyStatement {
		t.Fatalf("leaf 0 is %s", l.Kind)
	}
}

// TestVerifyRefusesOtherSignatureEncodings changes the last base64 digit
// of the key statement's and the checkpoint's signatures (and of the root
// hash) to every digit that decodes to the same bytes: the file's bytes
// change, so Verify must refuse it.
func TestVerifyRefusesOtherSignatureEncodings(t *testing.T) {
	pub, data := smallFile(t)
	root := pub.Root.Public()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	tried := 0
	for i := 0; i < len(data); i++ {
		if data[i] != '=' || data[i+1] != '\n' {
			continue
		}
		// data[i-1] is the last digit of a signature line.
		for _, c := range []byte(alphabet) {
			if c == data[i-1] || bytes.IndexByte([]byte(alphabet), c)>>2 != bytes.IndexByte([]byte(alphabet), data[i-1])>>2 {
				continue // decodes to other bytes
			}
			m := bytes.Clone(data)
			m[i-1] = c
			tried++
			if _, err := export.Verify(m, root, nil); err == nil {
				t.Errorf("byte %d changed from %q to %q, the same signature: accepted", i-1, data[i-1], c)
			}
		}
	}
	// Four lines end in "=": the checkpoint's root hash, its article
	// index root and the two signatures.
	if tried != 12 {
		t.Errorf("tried %d other encodings, want 3 for each of 4 lines", tried)
	}
}
