package replica

import (
	"context"
	"errors"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// model is the Node as the session layer sees it: the answers to peers'
// requests, from the store, and the node's side of each session.
type model struct{ n *Node }

var _ session.Model = (*model)(nil)

// answerErr marks err with the code the peer is answered with: not found
// for what the store lacks, refused for what the node refuses.
func answerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return session.NotFound(err)
	case errors.Is(err, errRefused):
		return session.Refused(err)
	}
	return err
}

func (m *model) List() ([]session.Entry, error) {
	es, err := m.n.entries()
	return es, answerErr(err)
}

func (m *model) Statement(pub string) ([]byte, error) {
	p, err := m.n.st.Publisher(pub)
	if err != nil {
		return nil, answerErr(err)
	}
	return p.Statement, nil
}

func (m *model) Leaves(pub string, from, to int64) ([][]byte, error) {
	p, err := m.n.st.Publisher(pub)
	if err != nil {
		return nil, answerErr(err)
	}
	to = min(to, p.Size)
	if from >= to {
		return nil, nil
	}
	ls, err := m.n.st.Leaves(pub, from, to)
	return ls, answerErr(err)
}

func (m *model) BundleSize(d bundle.Digest) (int64, bool) { return m.n.st.BundleSize(d) }

func (m *model) Bundle(d bundle.Digest) ([]byte, error) {
	b, err := m.n.st.Bundle(d)
	return b, answerErr(err)
}

func (m *model) MirrorList(pub string) ([]byte, error) {
	ml, err := m.n.st.MirrorList(pub)
	return ml, answerErr(err)
}

func (m *model) Hello(c session.Conn, url string) string {
	m.n.notePeerURL(c, url)
	return m.n.cfg.PublicURL
}

func (m *model) Announce(ctx context.Context, c session.Conn, x *session.Entry) error {
	return answerErr(m.n.announced(ctx, c, x))
}

func (m *model) Connected(ctx context.Context, c session.Conn) { m.n.connected(ctx, c) }

func (m *model) Closed(c session.Conn) { m.n.forgetPeer(c) }

// entries lists the publishers the store holds.
func (n *Node) entries() ([]session.Entry, error) {
	pubs, err := n.st.Publishers()
	if err != nil {
		return nil, err
	}
	if len(pubs) > session.MaxPublishers {
		pubs = pubs[:session.MaxPublishers]
	}
	es := make([]session.Entry, 0, len(pubs))
	for _, pub := range pubs {
		x, err := n.entry(pub)
		if err != nil {
			n.log.Warn("replica: cannot list publisher", "publisher", pub, "err", err)
			continue
		}
		es = append(es, *x)
	}
	return es, nil
}

// entry returns what the store holds of a publisher: its checkpoint and
// key statement version, and the last leaves for an announce.
func (n *Node) entry(pub string) (*session.Entry, error) {
	p, err := n.st.Publisher(pub)
	if err != nil {
		return nil, err
	}
	tr, err := n.st.Trust(p.Root)
	if err != nil {
		return nil, err
	}
	return &session.Entry{Pub: pub, Version: tr.Statement().Version, Checkpoint: p.Checkpoint, First: p.Size}, nil
}
