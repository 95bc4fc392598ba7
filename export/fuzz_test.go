package export_test

import (
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/export"
)

// FuzzVerify feeds Verify arbitrary files against a fixed publisher key.
// The seed is a valid file of one article; whatever Verify accepts must
// hold only that article.
func FuzzVerify(f *testing.F) {
	pub, data := smallFile(f)
	root := pub.Root.Public()
	good, err := export.Verify(data, root, nil)
	if err != nil {
		f.Fatal(err)
	}
	want := good.Articles[0].Bundle.Digest
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte(export.Magic))
	f.Add(append([]byte(export.Magic), 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0))
	// Small limits keep a hostile file from costing much.
	lim := &bundle.Limits{BundleSize: 1 << 20, EntrySize: 1 << 16, TotalSize: 1 << 18, DecoderMemory: 1 << 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := export.Verify(b, root, &bundle.OpenOptions{Limits: lim})
		if err != nil {
			return
		}
		if len(file.Articles) == 0 {
			t.Fatal("a file without articles verified")
		}
		for _, a := range file.Articles {
			if a.Bundle.Digest != want {
				t.Fatalf("verified a bundle %s that the publisher never signed", a.Bundle.Digest)
			}
		}
	})
}
