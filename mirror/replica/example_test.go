package replica_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// A mirror that carries one publisher answers peers on a QUIC port; the
// publisher pushes its store to it, as `samizdat push` does, and the
// mirror takes what it lacks, verified. A mirror that also keeps sessions
// to other mirrors lists them in Config.Peers and calls Run.
func ExampleNode() {
	dir, err := os.MkdirTemp("", "samizdat-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The publisher: a root key, a signing key it delegates, and one
	// article in its store.
	root, err := keys.Generate(rand.Reader, "newsroom", keys.RoleRoot)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := keys.Generate(rand.Reader, "newsroom-signing", keys.RoleSigning)
	if err != nil {
		log.Fatal(err)
	}
	statement, err := (&keys.Statement{Publisher: root.Public(), Version: 1, Issued: time.Now(),
		Keys: []keys.Delegation{{Key: signer.Public(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}}}).Sign(root)
	if err != nil {
		log.Fatal(err)
	}
	pubStore, err := store.Open(filepath.Join(dir, "publisher"), &store.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer pubStore.Close()
	p, err := publish.New(pubStore, root.Public(), statement, signer, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := p.Publish([]publish.Item{{
		Meta:  bundle.Metadata{ID: "first-report", Title: "First report", Language: "en"},
		Files: []bundle.File{{Type: "text/markdown", Data: []byte("# First report\n\nSigned once, copied everywhere.\n")}},
	}}); err != nil {
		log.Fatal(err)
	}

	// The mirror: a node over its own store that trusts the publisher's
	// root key, serving sessions until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mirrorStore, err := store.Open(filepath.Join(dir, "mirror"), &store.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer mirrorStore.Close()
	mirror, err := replica.New(mirrorStore, []*keys.PublicKey{root.Public()}, nil)
	if err != nil {
		log.Fatal(err)
	}
	l, err := session.ListenQUIC("127.0.0.1:0", mirror.Key())
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- mirror.Serve(ctx, l) }()

	// The publisher's node dials the mirror, pinning its key, and pushes.
	pubNode, err := replica.New(pubStore, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := session.DialQUIC(ctx, l.Addr().String(), pubNode.Key(), mirror.PublicKey())
	if err != nil {
		log.Fatal(err)
	}
	if err := pubNode.Push(ctx, c); err != nil {
		log.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-served; err != nil {
		log.Fatal(err)
	}

	articles, err := mirrorStore.Articles(root.Public().ID())
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range articles {
		fmt.Printf("%s revision %d, bundle held: %v\n", a.ID, a.Revision, mirrorStore.HasBundle(a.Digest))
	}
	fmt.Println("bundles added:", mirror.Stats().BundlesAdded)
	// Output:
	// first-report revision 1, bundle held: true
	// bundles added: 1
}
