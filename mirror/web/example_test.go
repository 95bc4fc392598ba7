package web_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// ExampleNew serves a store read-only over plain HTTP, for the publishers
// whose root keys the operator pinned, with web.NewServer's connection
// caps and timeouts.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "mirror")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "store"), &store.Options{Create: true})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	root, err := keys.Generate(rand.Reader, "example-news", keys.RoleRoot) // in practice: keys.ParsePublicKey of the publisher's key
	if err != nil {
		panic(err)
	}
	h, err := web.New(st, []*keys.PublicKey{root.Public()}, &web.Config{
		Logger: slog.New(slog.DiscardHandler),
		Alarms: func(publisherID string) []string { return nil }, // sync reports forks here
	})
	if err != nil {
		panic(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := web.NewServer(ln, h, nil)
	go srv.Serve()
	defer srv.HTTP.Close()

	resp, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s %s", resp.Status, body)
	// Output: 200 OK ok
}
