package catalog_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
)

func FuzzParseLeaf(f *testing.F) {
	for _, l := range validLeaves() {
		f.Add(l.Encode())
	}
	v := loadVectors(f, vectorsFile)
	for _, vl := range v.Leaves {
		b, _ := hex.DecodeString(vl.Hex)
		f.Add(b)
	}
	for _, iv := range v.Invalid {
		b, _ := hex.DecodeString(iv.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := catalog.ParseLeaf(b)
		if err != nil {
			if l != nil {
				t.Fatal("ParseLeaf returned a leaf and an error")
			}
			return
		}
		if enc := l.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("ParseLeaf(%x) re-encodes to %x", b, enc)
		}
		if len(b) > catalog.MaxLeafSize {
			t.Fatalf("accepted a %d-byte leaf", len(b))
		}
		// An accepted leaf is a valid first leaf of its kind.
		switch l.Kind {
		case catalog.KindBundle:
			if _, err := catalog.Next(nil, l, 0); err != nil {
				t.Fatal(err)
			}
		case catalog.KindKeyStatement, catalog.KindMirrorList:
			if err := catalog.NextVersion(0, l); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	p := testkeys.New(f, "fuzz")
	f.Add(testCheckpoint(p).Text())
	f.Add("samizdat/x\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 0\n")
	f.Add("samizdat/x\n05\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 0\n")
	f.Add("samizdat/x\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\ntime 1\n")
	f.Add("samizdat/x\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\ntime 1\nindex +wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := catalog.ParseCheckpoint(text)
		if err != nil {
			return
		}
		if got := c.Text(); got != text {
			t.Fatalf("ParseCheckpoint(%q) re-encodes to %q", text, got)
		}
		if c.Size < 0 || !strings.HasPrefix(c.Origin, "samizdat/") {
			t.Fatalf("accepted %+v", c)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	p := testkeys.New(f, "fuzz")
	c := testCheckpoint(p)
	signed, err := c.Sign(p.Signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	c2 := *c
	c2.Size, c2.Time = 0, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if signed, err = c2.Sign(p.Signer); err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	other := testkeys.New(f, "other")
	if signed, err = testCheckpoint(other).Sign(other.Signer); err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(c.Text() + "\n\u2014 fuzz-signing AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.OpenCheckpoint(data, p.Trust)
		if err != nil {
			return
		}
		n, err := note.Open(data, p.Trust.Verifiers())
		if err != nil {
			t.Fatalf("OpenCheckpoint accepted a note that note.Open refuses: %v", err)
		}
		if n.Text != c.Text() {
			t.Fatalf("accepted note text %q re-encodes to %q", n.Text, c.Text())
		}
		if c.Origin != catalog.Origin(p.ID()) {
			t.Fatalf("accepted origin %q", c.Origin)
		}
		// Signing is deterministic: our key's signature line is the one
		// in the note.
		resigned, err := c.Sign(p.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, resigned[len(c.Text())+1:]) {
			t.Fatalf("accepted note\n%s\ndoes not hold the signature line of\n%s", data, resigned)
		}
	})
}
