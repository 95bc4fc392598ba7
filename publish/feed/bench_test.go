package feed

import (
	"os"
	"testing"

	"github.com/samizdat-news/samizdat/internal/corpus"
)

// BenchmarkParse parses corpus feeds: a large RSS 2.0 podcast feed (730
// items), a windows-1251 feed and an Atom feed with xhtml content.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"rss-parser/giantbomb-podcast.rss", "node-feedparser/iconv.xml", "node-feedparser/intertwingly.atom"} {
		data, err := os.ReadFile(corpus.Path(b, "feeds", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
