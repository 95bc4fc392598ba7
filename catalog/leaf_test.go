package catalog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

func digest(b byte) bundle.Digest {
	var d bundle.Digest
	for i := range d {
		d[i] = b + byte(i)
	}
	return d
}

// validLeaves has one leaf or more of each kind, including the extremes of
// every field.
func validLeaves() []*catalog.Leaf {
	return []*catalog.Leaf{
		{Kind: catalog.KindBundle, ID: "a", Revision: 1, Digest: digest(1)},
		{Kind: catalog.KindBundle, ID: "war-in-ukraine_2022.day-1", Revision: 1<<64 - 1, Digest: digest(2)},
		{Kind: catalog.KindBundle, ID: strings.Repeat("x", bundle.MaxIDLen), Revision: 7, Digest: digest(3)},
		{Kind: catalog.KindRetraction, ID: "a", Revision: 1, Time: time.Unix(0, 0).UTC()},
		{Kind: catalog.KindRetraction, ID: "0", Revision: 3, Time: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Kind: catalog.KindKeyStatement, Version: 1, Digest: digest(4)},
		{Kind: catalog.KindKeyStatement, Version: 1<<64 - 1, Digest: digest(5)},
		{Kind: catalog.KindMirrorList, Version: 2, Digest: digest(6)},
	}
}

func TestLeafRoundTrip(t *testing.T) {
	for _, l := range validLeaves() {
		t.Run(l.Kind.String(), func(t *testing.T) {
			enc := l.Encode()
			if len(enc) > catalog.MaxLeafSize {
				t.Fatalf("encoded leaf is %d bytes, more than MaxLeafSize %d", len(enc), catalog.MaxLeafSize)
			}
			got, err := catalog.ParseLeaf(enc)
			if err != nil {
				t.Fatalf("ParseLeaf(Encode(%+v)): %v", l, err)
			}
			if !reflect.DeepEqual(got, l) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, l)
			}
			if !bytes.Equal(got.Encode(), enc) {
				t.Errorf("re-encoding differs")
			}
		})
	}
}

func TestLeafEncodingIsFixed(t *testing.T) {
	// The bytes the log hashes, spelled out (FORMAT.md).
	l := &catalog.Leaf{Kind: catalog.KindBundle, ID: "ab", Revision: 258, Digest: digest(0)}
	want := append([]byte{1, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 1, 2}, l.Digest[:]...)
	if got := l.Encode(); !bytes.Equal(got, want) {
		t.Errorf("bundle leaf:\n got %x\nwant %x", got, want)
	}
	r := &catalog.Leaf{Kind: catalog.KindRetraction, ID: "ab", Revision: 1, Time: time.Unix(0x0102, 0)}
	want = []byte{2, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2}
	if got := r.Encode(); !bytes.Equal(got, want) {
		t.Errorf("retraction leaf:\n got %x\nwant %x", got, want)
	}
	k := &catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 3, Digest: digest(0)}
	want = append([]byte{3, 0, 0, 0, 0, 0, 0, 0, 3}, k.Digest[:]...)
	if got := k.Encode(); !bytes.Equal(got, want) {
		t.Errorf("key statement leaf:\n got %x\nwant %x", got, want)
	}
}

func TestParseLeafRefuses(t *testing.T) {
	bundleLeaf := (&catalog.Leaf{Kind: catalog.KindBundle, ID: "abc", Revision: 1, Digest: digest(1)}).Encode()
	retraction := (&catalog.Leaf{Kind: catalog.KindRetraction, ID: "abc", Revision: 1, Time: time.Unix(5, 0)}).Encode()
	keyLeaf := (&catalog.Leaf{Kind: catalog.KindKeyStatement, Version: 1, Digest: digest(1)}).Encode()
	mirrorLeaf := (&catalog.Leaf{Kind: catalog.KindMirrorList, Version: 1, Digest: digest(1)}).Encode()
	edit := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	withID := func(kind catalog.Kind, id string, tail []byte) []byte {
		b := append([]byte{byte(kind), byte(len(id))}, id...)
		return append(b, tail...)
	}
	rev1 := binary.BigEndian.AppendUint64(nil, 1)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kind only", []byte{1}},
		{"too long", make([]byte, catalog.MaxLeafSize+1)},
		{"kind 0", edit(keyLeaf, func(b []byte) []byte { b[0] = 0; return b })},
		{"kind 5", edit(keyLeaf, func(b []byte) []byte { b[0] = 5; return b })},
		{"kind 255", edit(keyLeaf, func(b []byte) []byte { b[0] = 255; return b })},
		{"bundle: trailing byte", append(bytes.Clone(bundleLeaf), 0)},
		{"bundle: one byte short", bundleLeaf[:len(bundleLeaf)-1]},
		{"bundle: id length too long", edit(bundleLeaf, func(b []byte) []byte { b[1]++; return b })},
		{"bundle: id length too short", edit(bundleLeaf, func(b []byte) []byte { b[1]--; return b })},
		{"bundle: id length 255", edit(bundleLeaf, func(b []byte) []byte { b[1] = 255; return b })},
		{"bundle: empty id", withID(catalog.KindBundle, "", append(rev1, make([]byte, 32)...))},
		{"bundle: id too long", withID(catalog.KindBundle, strings.Repeat("a", bundle.MaxIDLen+1), append(rev1, make([]byte, 32)...))},
		{"bundle: upper case id", withID(catalog.KindBundle, "Abc", append(rev1, make([]byte, 32)...))},
		{"bundle: id starts with a dash", withID(catalog.KindBundle, "-abc", append(rev1, make([]byte, 32)...))},
		{"bundle: id with a slash", withID(catalog.KindBundle, "a/b", append(rev1, make([]byte, 32)...))},
		{"bundle: id with a NUL", withID(catalog.KindBundle, "a\x00b", append(rev1, make([]byte, 32)...))},
		{"bundle: revision 0", withID(catalog.KindBundle, "abc", make([]byte, 8+32))},
		{"bundle with a retraction's length", edit(retraction, func(b []byte) []byte { b[0] = byte(catalog.KindBundle); return b })},
		{"retraction: trailing byte", append(bytes.Clone(retraction), 0)},
		{"retraction: one byte short", retraction[:len(retraction)-1]},
		{"retraction: revision 0", withID(catalog.KindRetraction, "abc", make([]byte, 16))},
		{"retraction: time before 1970", withID(catalog.KindRetraction, "abc", append(bytes.Clone(rev1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))},
		{"retraction: time after 9999", withID(catalog.KindRetraction, "abc", binary.BigEndian.AppendUint64(bytes.Clone(rev1), 253402300800))},
		{"retraction with a bundle's length", edit(bundleLeaf, func(b []byte) []byte { b[0] = byte(catalog.KindRetraction); return b })},
		{"key statement: trailing byte", append(bytes.Clone(keyLeaf), 0)},
		{"key statement: one byte short", keyLeaf[:len(keyLeaf)-1]},
		{"key statement: version 0", append([]byte{3}, make([]byte, 40)...)},
		{"key statement with an id", withID(catalog.KindKeyStatement, "abc", append(rev1, make([]byte, 32)...))},
		{"mirror list: trailing byte", append(bytes.Clone(mirrorLeaf), 0)},
		{"mirror list: version 0", append([]byte{4}, make([]byte, 40)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if l, err := catalog.ParseLeaf(tt.b); err == nil {
				t.Fatalf("ParseLeaf(%x) = %+v, want an error", tt.b, l)
			} else if !strings.HasPrefix(err.Error(), "catalog: leaf: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestNext(t *testing.T) {
	bundleLeaf := func(rev uint64, d byte) *catalog.Leaf {
		return &catalog.Leaf{Kind: catalog.KindBundle, ID: "x", Revision: rev, Digest: digest(d)}
	}
	retract := func(rev uint64) *catalog.Leaf {
		return &catalog.Leaf{Kind: catalog.KindRetraction, ID: "x", Revision: rev, Time: time.Unix(100, 0).UTC()}
	}
	// apply runs leaves from an empty state and returns the final state,
	// or the index of the first leaf refused.
	apply := func(leaves ...*catalog.Leaf) (*catalog.Article, int, error) {
		var a *catalog.Article
		for i, l := range leaves {
			next, err := catalog.Next(a, l, int64(10+i))
			if err != nil {
				return a, i, err
			}
			a = next
		}
		return a, -1, nil
	}
	ok := []struct {
		name   string
		leaves []*catalog.Leaf
		want   catalog.Article
	}{
		{"first revision", []*catalog.Leaf{bundleLeaf(1, 1)},
			catalog.Article{ID: "x", Revision: 1, Digest: digest(1), Leaf: 10}},
		{"first revision need not be 1", []*catalog.Leaf{bundleLeaf(5, 1)},
			catalog.Article{ID: "x", Revision: 5, Digest: digest(1), Leaf: 10}},
		{"revisions grow", []*catalog.Leaf{bundleLeaf(1, 1), bundleLeaf(2, 2), bundleLeaf(9, 3)},
			catalog.Article{ID: "x", Revision: 9, Digest: digest(3), Leaf: 12}},
		{"retraction of the current revision", []*catalog.Leaf{bundleLeaf(1, 1), bundleLeaf(2, 2), retract(2)},
			catalog.Article{ID: "x", Revision: 2, Digest: digest(2), Leaf: 12, Retracted: true, Time: time.Unix(100, 0).UTC()}},
		{"new revision after a retraction", []*catalog.Leaf{bundleLeaf(1, 1), retract(1), bundleLeaf(2, 2)},
			catalog.Article{ID: "x", Revision: 2, Digest: digest(2), Leaf: 12}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			a, i, err := apply(tt.leaves...)
			if err != nil {
				t.Fatalf("leaf %d refused: %v", i, err)
			}
			if *a != tt.want {
				t.Errorf("state\n got %+v\nwant %+v", *a, tt.want)
			}
		})
	}
	bad := []struct {
		name   string
		leaves []*catalog.Leaf
	}{
		{"same revision twice", []*catalog.Leaf{bundleLeaf(1, 1), bundleLeaf(1, 2)}},
		{"same revision, same digest", []*catalog.Leaf{bundleLeaf(1, 1), bundleLeaf(1, 1)}},
		{"revision goes down", []*catalog.Leaf{bundleLeaf(3, 1), bundleLeaf(2, 2)}},
		{"retraction of an unknown article", []*catalog.Leaf{retract(1)}},
		{"retraction of an older revision", []*catalog.Leaf{bundleLeaf(1, 1), bundleLeaf(2, 2), retract(1)}},
		{"retraction of a later revision", []*catalog.Leaf{bundleLeaf(1, 1), retract(2)}},
		{"double retraction", []*catalog.Leaf{bundleLeaf(1, 1), retract(1), retract(1)}},
		{"retracted revision published again", []*catalog.Leaf{bundleLeaf(1, 1), retract(1), bundleLeaf(1, 2)}},
		{"key statement leaf", []*catalog.Leaf{{Kind: catalog.KindKeyStatement, Version: 1}}},
		{"mirror list leaf", []*catalog.Leaf{{Kind: catalog.KindMirrorList, Version: 1}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, i, err := apply(tt.leaves...)
			if err == nil {
				t.Fatal("all leaves accepted")
			}
			if i != len(tt.leaves)-1 {
				t.Errorf("leaf %d refused, want the last one (%d): %v", i, len(tt.leaves)-1, err)
			}
			if !errors.Is(err, catalog.ErrRule) {
				t.Errorf("error %v does not wrap ErrRule", err)
			}
		})
	}
}

func TestNextDoesNotModifyPrev(t *testing.T) {
	prev := &catalog.Article{ID: "x", Revision: 1, Digest: digest(1), Leaf: 0}
	saved := *prev
	if _, err := catalog.Next(prev, &catalog.Leaf{Kind: catalog.KindRetraction, ID: "x", Revision: 1, Time: time.Unix(1, 0)}, 1); err != nil {
		t.Fatal(err)
	}
	if *prev != saved {
		t.Errorf("Next modified its prev argument: %+v", *prev)
	}
}

func TestNextVersion(t *testing.T) {
	for _, tt := range []struct {
		prev, version uint64
		ok            bool
	}{
		{0, 1, true}, {1, 2, true}, {1, 10, true},
		{1, 1, false}, {2, 1, false}, {5, 0, false},
	} {
		for _, kind := range []catalog.Kind{catalog.KindKeyStatement, catalog.KindMirrorList} {
			err := catalog.NextVersion(tt.prev, &catalog.Leaf{Kind: kind, Version: tt.version, Digest: digest(1)})
			if (err == nil) != tt.ok {
				t.Errorf("NextVersion(%d, %s version %d) = %v, want ok=%v", tt.prev, kind, tt.version, err, tt.ok)
			}
			if err != nil && !errors.Is(err, catalog.ErrRule) {
				t.Errorf("error %v does not wrap ErrRule", err)
			}
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[catalog.Kind]string{1: "bundle", 2: "retraction", 3: "key-statement", 4: "mirror-list", 9: "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
