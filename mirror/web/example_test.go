package web_test

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// ExampleNew serves a store read-only over plain HTTP, for the publishers
// whose root keys the operator pinned.
func ExampleNew() {
	st, err := store.Open("/var/lib/samizdat", nil)
	if err != nil {
		return
	}
	defer st.Close()
	root, err := keys.ParsePublicKey("paper+b9a7e1c4+AXQ...")
	if err != nil {
		return
	}
	h := web.New(st, []*keys.PublicKey{root}, &web.Config{
		Logger: slog.Default(),
		Alarms: func(publisherID string) []string { return nil }, // sync reports forks here
	})
	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	srv.ListenAndServe()
}
