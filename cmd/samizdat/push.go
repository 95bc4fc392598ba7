package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// pushTimeout bounds one push to one mirror.
const pushTimeout = 10 * time.Minute

func runPush(e *env, args []string) error {
	fs := newFlags(e, "push", "-s STORE ADDR...")
	storeDir := fs.String("s", "", "the publisher's store")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	addrs, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *storeDir == "" || len(addrs) == 0 {
		return usagef("want -s STORE and at least one ADDR (quic://HOST:PORT or tcp://HOST:PORT)")
	}
	var peers []replica.Peer
	for _, a := range addrs {
		p, err := mirror.ParsePeer(a)
		if err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "mirror: "))
		}
		peers = append(peers, p)
	}
	st, err := store.Open(*storeDir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	ids, err := st.Publishers()
	if err != nil {
		return err
	}
	var roots []*keys.PublicKey
	for _, id := range ids {
		p, err := st.Publisher(id)
		if err != nil {
			return err
		}
		roots = append(roots, p.Root)
	}
	if len(roots) == 0 {
		return fmt.Errorf("%s holds no publisher: publish first", *storeDir)
	}
	node, err := replica.New(st, roots, &replica.Config{Logger: newLogger(e, *level)})
	if err != nil {
		return err
	}
	failed := false
	for _, p := range peers {
		if err := pushTo(e.ctx, node, p); err != nil {
			fmt.Fprintf(e.stderr, "samizdat push: %s: %s\n", p.Addr, oneLine(err.Error()))
			failed = true
			continue
		}
		fmt.Fprintf(e.stdout, "%s: pushed %d publisher(s)\n", p.Addr, len(roots))
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

func pushTo(ctx context.Context, node *replica.Node, p replica.Peer) error {
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	conn, err := dialPeer(ctx, p, node.Key())
	if err != nil {
		return err
	}
	defer conn.Close()
	return node.Push(ctx, conn)
}

// dialPeer dials a peer by its scheme: tcp:// for TLS on TCP, else QUIC.
func dialPeer(ctx context.Context, p replica.Peer, key ed25519.PrivateKey) (session.Conn, error) {
	if rest, ok := strings.CutPrefix(p.Addr, "tcp://"); ok {
		return session.DialTCP(ctx, rest, key, p.Key)
	}
	return session.DialQUIC(ctx, strings.TrimPrefix(p.Addr, "quic://"), key, p.Key)
}
