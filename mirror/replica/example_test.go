package replica_test

import (
	"context"
	"crypto/ed25519"
	"log"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// A mirror that carries one publisher, answers peers on a QUIC port, and
// keeps a session to one pinned peer, until ctx is cancelled.
func ExampleNode() {
	ctx := context.Background()
	st, err := store.Open("/var/lib/samizdat", &store.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	root, err := keys.ParsePublicKey("newsroom+3b2b1d37+ATH1B2Zo4hrmRcdSJSu/g6h/Fb3Bv4p/K2XqfPtPb5Mb")
	if err != nil {
		log.Fatal(err)
	}
	_, nodeKey, _ := ed25519.GenerateKey(nil)
	var peerKey ed25519.PublicKey // the peer's node key, from its operator

	n, err := replica.New(st, []*keys.PublicKey{root}, &replica.Config{
		Key:   nodeKey,
		Peers: []replica.Peer{{Addr: "quic://mirror.example:4433", Key: peerKey}},
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := session.ListenQUIC(":4433", n.Key())
	if err != nil {
		log.Fatal(err)
	}
	go n.Run(ctx)
	if err := n.Serve(ctx, l); err != nil {
		log.Fatal(err)
	}
}
