package replica

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// MaxPeerURLs bounds the peers' public URLs PeerURLs reports.
const MaxPeerURLs = 64

// hello tells the peer on c this node's public URL and records the peer's.
// A peer that does not know hello (an older node) is left without a URL.
func (n *Node) hello(ctx context.Context, c session.Conn) {
	u, err := n.host.Hello(ctx, c, n.cfg.PublicURL)
	if err != nil {
		n.log.Debug("replica: no hello from peer", "peer", c.RemoteAddr(), "err", err)
		return
	}
	n.notePeerURL(c, u)
}

// notePeerURL records the public URL the peer on c announced; empty
// forgets it.
func (n *Node) notePeerURL(c session.Conn, u string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if u == "" {
		delete(n.peerURLs, c)
		delete(n.peerSince, c)
		return
	}
	if _, ok := n.peerSince[c]; !ok {
		n.peerSince[c] = time.Now()
	}
	n.peerURLs[c] = u
}

// PeerURLs returns the public HTTP URLs that the peers connected now
// announced: unsigned hints for readers of where else to look. Any node
// may open a session, so that many sessions cannot crowd out the others,
// an address (an IPv6 /64) counts once, the peers longest connected come
// first, and there are at most MaxPeerURLs. It is safe for concurrent use.
func (n *Node) PeerURLs() []string {
	type peer struct {
		url   string
		since time.Time
	}
	n.mu.Lock()
	byIP := map[string]peer{}
	for c, u := range n.peerURLs {
		ip, since := session.RemoteIP(c), n.peerSince[c]
		if p, ok := byIP[ip]; !ok || since.Before(p.since) {
			byIP[ip] = peer{u, since}
		}
	}
	n.mu.Unlock()
	ps := make([]peer, 0, len(byIP))
	for _, p := range byIP {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b peer) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return strings.Compare(a.url, b.url)
	})
	var out []string
	for _, p := range ps {
		if len(out) == MaxPeerURLs {
			break
		}
		if !slices.Contains(out, p.url) {
			out = append(out, p.url)
		}
	}
	return out
}

// mirrorList returns the signed mirror list to store with leaves, the new
// leaves of a pull: the list the newest mirror-list leaf among them
// records, or, when they hold none, the list of the store's newest
// mirror-list leaf if the store lacks it. It asks the peer for it and
// checks its digest; nil means none is needed, or the peer has no such
// list, which is logged and not an error: the next sync asks again.
func (n *Node) mirrorList(ctx context.Context, c session.Conn, pub string, leaves [][]byte) []byte {
	var last *catalog.Leaf
	for _, raw := range leaves {
		if l, err := catalog.ParseLeaf(raw); err == nil && l.Kind == catalog.KindMirrorList {
			last = l
		}
	}
	if last == nil {
		l, err := n.st.MirrorListLeaf(pub)
		if err != nil {
			return nil // none in the log (or no log)
		}
		if _, err := n.st.MirrorList(pub); !errors.Is(err, store.ErrNotFound) {
			return nil // held already
		}
		last = l
	}
	p, err := n.host.MirrorList(ctx, c, pub)
	if err == nil && sha256.Sum256(p) != last.Digest {
		err = fmt.Errorf("its mirror list is not version %d, which the log records", last.Version)
	}
	if err != nil {
		n.log.Debug("replica: no mirror list from peer", "peer", c.RemoteAddr(), "publisher", pub, "err", err)
		return nil
	}
	return p
}
