package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// article10KB returns about 10 KB of a real article page from the corpus
// (the first 10,000 bytes of the first source.html that has them), or
// generated prose if the corpus is absent.
func article10KB(b *testing.B) []byte {
	const n = 10000
	pages, _ := filepath.Glob(filepath.Join(corpusDir(b), "articles", "*", "source.html"))
	slices.Sort(pages)
	for _, p := range pages {
		if data, err := os.ReadFile(p); err == nil && len(data) >= n {
			return data[:n]
		}
	}
	b.Logf("corpus absent: using generated prose")
	return prose(n)
}

func reportArticles(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "articles/s")
}

// BenchmarkBuild10KB measures publishing: compress, hash and sign a 10 KB
// article at the default level.
func BenchmarkBuild10KB(b *testing.B) {
	k := testKeys(b)
	files := []File{{Type: "text/html", Data: article10KB(b)}}
	meta := testMeta()
	root := k.root.Public()
	b.SetBytes(int64(len(files[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(meta, files, root, k.signer, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportArticles(b)
}

// BenchmarkVerify10KB measures what a reader or mirror does before it
// shows or stores an article: Open (signature, manifest, stored hashes),
// then decompress the body and check its hash.
func BenchmarkVerify10KB(b *testing.B) {
	k := testKeys(b)
	body := article10KB(b)
	data := mustBuild(b, testMeta(), []File{{Type: "text/html", Data: body}}, k.signer, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(data, k.trust, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportArticles(b)
}
