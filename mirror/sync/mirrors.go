package sync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// Frame types of the mirror list and hello exchanges, see PROTOCOL.md.
const (
	typeMirrorList byte = 0x06
	typeHello      byte = 0x07

	respMirrorList byte = 0x86
	respHello      byte = 0x87
)

// MaxPeerURLs bounds the peers' public URLs PeerURLs reports.
const MaxPeerURLs = 64

// decodeMirrorList only bounds the list; the store verifies it.
func decodeMirrorList(p []byte) ([]byte, error) {
	if len(p) == 0 || len(p) > catalog.MaxMirrorListSize {
		return nil, fmt.Errorf("%w: mirror list of %d bytes", ErrFrame, len(p))
	}
	return p, nil
}

// encodeHello and decodeHello carry a node's public HTTP URL: a bytes16,
// empty for none, else a URL that catalog.CheckMirrorURL accepts.
func encodeHello(url string) []byte {
	var e enc
	e.bytes16([]byte(url))
	return e.b
}

func decodeHello(p []byte) (string, error) {
	d := &dec{b: p}
	u := d.bytes16()
	if err := d.end(); err != nil {
		return "", err
	}
	if len(u) == 0 {
		return "", nil
	}
	if err := catalog.CheckMirrorURL(string(u)); err != nil {
		return "", fmt.Errorf("%w: hello: %v", ErrFrame, err)
	}
	return string(u), nil
}

// hello tells the peer on c this node's public URL and records the peer's.
// A peer that does not know hello (an older node) is left without a URL.
func (n *Node) hello(ctx context.Context, c Conn) {
	p, err := n.request(ctx, c, typeHello, encodeHello(n.cfg.PublicURL), respHello)
	if err != nil {
		n.log.Debug("sync: no hello from peer", "peer", c.RemoteAddr(), "err", err)
		return
	}
	u, err := decodeHello(p)
	if err != nil {
		n.log.Debug("sync: bad hello from peer", "peer", c.RemoteAddr(), "err", err)
		return
	}
	n.notePeerURL(c, u)
}

// notePeerURL records the public URL the peer on c announced; empty
// forgets it.
func (n *Node) notePeerURL(c Conn, u string) {
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
		ip, since := remoteIP(c), n.peerSince[c]
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
func (n *Node) mirrorList(ctx context.Context, c Conn, id string, leaves [][]byte) []byte {
	var last *catalog.Leaf
	for _, raw := range leaves {
		if l, err := catalog.ParseLeaf(raw); err == nil && l.Kind == catalog.KindMirrorList {
			last = l
		}
	}
	if last == nil {
		l, err := n.st.MirrorListLeaf(id)
		if err != nil {
			return nil // none in the log (or no log)
		}
		if _, err := n.st.MirrorList(id); !errors.Is(err, store.ErrNotFound) {
			return nil // held already
		}
		last = l
	}
	p, err := n.request(ctx, c, typeMirrorList, encodeID(id), respMirrorList)
	if err == nil {
		p, err = decodeMirrorList(p)
	}
	if err == nil && sha256.Sum256(p) != last.Digest {
		err = fmt.Errorf("its mirror list is not version %d, which the log records", last.Version)
	}
	if err != nil {
		n.log.Debug("sync: no mirror list from peer", "peer", c.RemoteAddr(), "publisher", id, "err", err)
		return nil
	}
	return p
}
