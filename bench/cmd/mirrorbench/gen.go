package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// The benchmark publisher's keys come from fixed seeds, so that a cached
// store and a later run agree on them.
func benchKey(name string, role keys.Role) *keys.PrivateKey {
	seed := sha256.Sum256([]byte("samizdat bench key " + string(role) + " " + name))
	k, err := keys.NewPrivateKey(name, role, seed[:])
	if err != nil {
		fatal(err)
	}
	return k
}

var (
	benchIssued    = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	benchNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	benchNotAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	// benchEpoch is the first article's date; article i is dated i
	// seconds later, and so is the checkpoint after it: a store of a
	// million articles stays in the past (a reader refuses a checkpoint
	// dated in the future).
	benchEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type benchPublisher struct {
	root, signer *keys.PrivateKey
	statement    []byte
}

func newBenchPublisher() *benchPublisher {
	p := &benchPublisher{root: benchKey("bench-news", keys.RoleRoot), signer: benchKey("bench-news/signing-1", keys.RoleSigning)}
	st := &keys.Statement{Publisher: p.root.Public(), Version: 1, Issued: benchIssued,
		Keys: []keys.Delegation{{Key: p.signer.Public(), NotBefore: benchNotBefore, NotAfter: benchNotAfter}}}
	var err error
	if p.statement, err = st.Sign(p.root); err != nil {
		fatal(err)
	}
	return p
}

// publisher returns a publisher into st whose clock is fixed at now.
func (p *benchPublisher) publisher(st *store.Store, now time.Time) *publish.Publisher {
	pp, err := publish.New(st, p.root.Public(), p.statement, p.signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		fatal(err)
	}
	return pp
}

// vocabulary is 4,000 made-up words of one to four syllables; prose draws
// them with a Zipf distribution, which compresses about as real English
// does (zstd level 3: roughly 2.5 to 3 times).
var vocabulary = func() []string {
	r := rand.New(rand.NewPCG(1, 2))
	on := []string{"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "st", "str", "th", "tr", ""}
	nu := []string{"a", "e", "i", "o", "u", "ai", "ea", "ee", "ie", "oo", "ou", "y"}
	co := []string{"", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ck", "ng", "rd", "x"}
	seen := map[string]bool{}
	var out []string
	for len(out) < 4000 {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(on[r.IntN(len(on))] + nu[r.IntN(len(nu))] + co[r.IntN(len(co))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}()

// article returns the deterministic HTML body of article i: 4 to 10 KB
// of paragraphs and a few subheadings and links.
func article(i int) (title string, body []byte) {
	r := rand.New(rand.NewPCG(uint64(i), 0x5a11))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(vocabulary)-1))
	word := func() string { return vocabulary[z.Uint64()] }
	sentence := func(b *strings.Builder) {
		n := 6 + r.IntN(18)
		for j := range n {
			w := word()
			if j == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			if r.IntN(40) == 0 {
				fmt.Fprintf(b, "<a href=\"https://news.example/%s/%d\">%s</a>", w, r.IntN(100000), w)
			} else {
				b.WriteString(w)
			}
			if j < n-1 && r.IntN(12) == 0 {
				b.WriteByte(',')
			}
		}
		b.WriteString(". ")
	}
	var t strings.Builder
	for j := range 3 + r.IntN(6) {
		if j > 0 {
			t.WriteByte(' ')
		}
		t.WriteString(word())
	}
	title = strings.ToUpper(t.String()[:1]) + t.String()[1:]
	size := 4000 + r.IntN(6000)
	var b strings.Builder
	for b.Len() < size {
		if r.IntN(6) == 0 {
			b.WriteString("<h2>")
			for j := range 2 + r.IntN(4) {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(word())
			}
			b.WriteString("</h2>\n")
		}
		b.WriteString("<p>")
		for range 2 + r.IntN(6) {
			sentence(&b)
		}
		b.WriteString("</p>\n")
	}
	return title, []byte(b.String())
}

func item(i int) publish.Item {
	title, body := article(i)
	return publish.Item{
		Meta: bundle.Metadata{
			ID: fmt.Sprintf("article-%06d", i), Title: title, Language: "en",
			CanonicalURL: fmt.Sprintf("https://news.example/%06d", i),
			Authors:      []string{vocabulary[i%len(vocabulary)] + " " + vocabulary[(i*7)%len(vocabulary)]},
			Created:      benchEpoch.Add(time.Duration(i) * time.Second),
			Updated:      benchEpoch.Add(time.Duration(i) * time.Second),
		},
		Files: []bundle.File{{Type: "text/html", Data: body}},
	}
}

// runGen makes a publisher's store of n articles, published in calls of
// batch articles (one call when batch >= n), and writes the publisher's
// public key file.
func runGen(args []string) {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("store", "", "store directory to create")
	pubFile := fs.String("pub", "", "publisher.pub file to write")
	n := fs.Int("n", 10000, "articles")
	batch := fs.Int("batch", 10000, "articles per publish call")
	fs.Parse(args)
	if *dir == "" {
		fatal(fmt.Errorf("gen: -store is required"))
	}
	p := newBenchPublisher()
	if *pubFile != "" {
		if err := os.WriteFile(*pubFile, []byte(p.root.Public().String()+"\n"), 0o644); err != nil {
			fatal(err)
		}
	}
	st, err := store.Open(*dir, &store.Options{Create: true})
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	start := time.Now()
	var raw int64
	for from := 0; from < *n; from += *batch {
		to := min(from+*batch, *n)
		items := make([]publish.Item, 0, to-from)
		for i := from; i < to; i++ {
			it := item(i)
			raw += int64(len(it.Files[0].Data))
			items = append(items, it)
		}
		pp := p.publisher(st, benchEpoch.Add(time.Duration(to)*time.Second))
		if _, err := pp.Publish(items); err != nil {
			fatal(err)
		}
	}
	fmt.Printf("gen: %d articles (%.1f MB of HTML, %.1f KB average) in %.1f s\n", *n, float64(raw)/1e6, float64(raw)/float64(*n)/1e3, time.Since(start).Seconds())
}
