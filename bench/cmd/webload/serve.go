package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/coalesce"
	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// runServe makes a store of 30 articles in a temporary directory and
// serves it on 127.0.0.1 until stdin closes, printing its address first.
func runServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	mode := fs.String("mode", "new", "new, new1024 or old")
	fs.Parse(args)
	dir, err := os.MkdirTemp("", "webload-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	st, root := makeStore(filepath.Join(dir, "store"), 30)
	defer st.Close()
	h, err := web.New(st, []*keys.PublicKey{root}, nil)
	if err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	var srv *http.Server
	serve := func() error { return nil }
	switch *mode {
	case "new", "new1024":
		cfg := &netlimit.Config{LimitLoopback: true}
		if *mode == "new1024" {
			cfg.MaxConns = 1024
		}
		s := web.NewServer(ln, h, &web.ServerConfig{Limiter: netlimit.New(cfg)})
		h.Registerer().MustRegister(web.ConnMetrics(s.Limiter))
		srv, serve = s.HTTP, s.Serve
	case "old":
		// cmd/samizdat/mirror.go before issue 8.
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
		l := netutil.LimitListener(coalesce.NewListener(ln, nil), 1024)
		serve = func() error { return srv.Serve(l) }
	default:
		fatal(fmt.Errorf("unknown mode %q", *mode))
	}
	fmt.Println(ln.Addr())
	go serve()
	waitSignal()
	srv.Close()
}

// makeStore publishes n articles of 5 to 12 KB of HTML into a new store.
func makeStore(dir string, n int) (*store.Store, *keys.PublicKey) {
	key := func(name string, role keys.Role) *keys.PrivateKey {
		seed := sha256.Sum256([]byte("samizdat webload key " + string(role) + " " + name))
		k, err := keys.NewPrivateKey(name, role, seed[:])
		if err != nil {
			fatal(err)
		}
		return k
	}
	root, signer := key("webload-news", keys.RoleRoot), key("webload-news/signing", keys.RoleSigning)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stmt := &keys.Statement{Publisher: root.Public(), Version: 1, Issued: t0,
		Keys: []keys.Delegation{{Key: signer.Public(), NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.AddDate(50, 0, 0)}}}
	signed, err := stmt.Sign(root)
	if err != nil {
		fatal(err)
	}
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		fatal(err)
	}
	p, err := publish.New(st, root.Public(), signed, signer, &publish.Options{Now: func() time.Time { return t0.AddDate(0, 1, 0) }})
	if err != nil {
		fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the mirror keeps every article the publisher signed and serves it to readers who cannot reach the site itself while the censor watches the network")
	var items []publish.Item
	for i := range n {
		var b strings.Builder
		for size := 5000 + r.IntN(7000); b.Len() < size; {
			b.WriteString("<p>")
			for range 40 + r.IntN(40) {
				b.WriteString(words[r.IntN(len(words))] + " ")
			}
			b.WriteString("</p>\n")
		}
		items = append(items, publish.Item{
			Meta:  bundle.Metadata{ID: fmt.Sprintf("article-%03d", i), Title: fmt.Sprintf("Article %d", i), Language: "en", Authors: []string{"A. Writer"}},
			Files: []bundle.File{{Type: "text/html", Data: []byte(b.String())}},
		})
	}
	if _, err := p.Publish(items); err != nil {
		fatal(err)
	}
	return st, root.Public()
}
