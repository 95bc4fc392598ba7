package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// runAdd publishes n more of the benchmark's articles into a store that
// gen made (or a mirror's copy of one, while no mirror has it open): the
// articles after those it holds, dated after them, in one publish call.
// It is how bench/slowlink gives a returning reader its new article.
func runAdd(args []string) {
	fs := flag.NewFlagSet("add", flag.ExitOnError)
	dir := fs.String("store", "", "store directory that gen made")
	n := fs.Int("n", 1, "articles to add")
	fs.Parse(args)
	if *dir == "" || *n < 1 {
		fatal(fmt.Errorf("add: want -store DIR and -n >= 1"))
	}
	p := newBenchPublisher()
	st, err := store.Open(*dir, nil)
	if err != nil {
		fatal(err)
	}
	defer st.Close()
	have, err := st.Articles(p.root.Public().ID())
	if err != nil {
		fatal(err)
	}
	next := len(have)
	items := make([]publish.Item, 0, *n)
	for i := next; i < next+*n; i++ {
		items = append(items, item(i))
	}
	if _, err := p.publisher(st, benchEpoch.Add(time.Duration(next+*n)*time.Second)).Publish(items); err != nil {
		fatal(err)
	}
	fmt.Printf("add: article-%06d to article-%06d\n", next, next+*n-1)
}
