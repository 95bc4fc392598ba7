package reader_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/reader"
)

// BenchmarkTimeToArticle measures the time from starting a fetch to a
// verified article among 10 mirrors, with the default stagger and
// timeouts, for a reader that read the publisher before. The bad mirrors
// come first, so each one costs what it can: black holes and slow drips
// hold their slot until the next start, liars are refused at once.
func BenchmarkTimeToArticle(b *testing.B) {
	w := newWorld(b)
	primed := w.primed()
	good := serve(b, w.honestMirror().h)
	// The bad mirrors, worst first: two kinds of black hole, a drip, then
	// liars.
	var bad []string
	for _, name := range []string{"black hole TCP", "black hole UDP", "slow drip", "altered bytes", "withholding", "rollback", "forked catalog", "endless body", "lying leaves", "another article"} {
		for _, hc := range hostiles() {
			if hc.name == name {
				bad = append(bad, hc.make(w, b))
			}
		}
	}
	for _, nbad := range []int{0, 1, 5, 9} {
		b.Run(fmt.Sprintf("bad=%d", nbad), func(b *testing.B) {
			mirrors := append(append(append([]string{}, bad[:nbad]...), good), bad[nbad:9]...)
			for b.Loop() {
				b.StopTimer()
				state := b.TempDir()
				copyDir(b, primed, state)
				c, err := reader.New(&reader.Config{Root: w.root(), Mirrors: mirrors, StateDir: state, Now: func() time.Time { return now }, NoDiscovery: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				r, err := c.Fetch(ctx, "a")
				b.StopTimer()
				if err != nil || r.Mirror != good {
					b.Fatalf("%v, from %v", err, r)
				}
				c.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCurlBaseline is the peer to compare with: curl fetching the
// same article's page from the honest mirror, unverified, one process a
// fetch (as a reader running a command would).
func BenchmarkCurlBaseline(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("no curl")
	}
	w := newWorld(b)
	good := serve(b, w.honestMirror().h)
	url := good + "/p/" + w.pub.ID() + "/a/a/"
	for b.Loop() {
		out, err := exec.Command(curl, "-sS", "-f", "-o", os.DevNull, url).CombinedOutput()
		if err != nil {
			b.Fatalf("curl: %v %s", err, out)
		}
	}
}

func copyDir(tb testing.TB, from, to string) {
	err := filepath.Walk(from, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
}
