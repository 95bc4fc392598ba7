package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"github.com/samizdat-news/samizdat/mirror/store"
)

// maxStreams bounds the requests of one session answered at once; the
// peer's further streams wait (QUIC's stream limit is the same).
const maxStreams = 64

// serveStreams answers the streams the peer opens until the session ends.
// Requests over the session's rate limit wait in lim, or are refused.
func (n *Node) serveStreams(ctx context.Context, c Conn, lim *limiter) {
	var wg gosync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxStreams)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			n.serveStream(ctx, c, s, lim)
		})
	}
}

// serveStream answers one request.
func (n *Node) serveStream(ctx context.Context, c Conn, s Stream, lim *limiter) {
	s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	t, p, err := readFrame(s, MaxFrameSize)
	var rt byte
	var rp []byte
	if lerr := lim.wait(ctx); errors.Is(lerr, errRateLimit) {
		n.rateLimited.Add(1)
		n.log.Debug("sync: refusing request: rate limit", "peer", c.RemoteAddr())
		rt, rp = respError, encodeError(CodeRefused, "refused: rate limit")
	} else if lerr != nil {
		s.Reset()
		return
	} else if err != nil {
		n.log.Debug("sync: bad request", "peer", c.RemoteAddr(), "err", err)
		rt, rp = respError, encodeError(CodeBadRequest, err.Error())
	} else {
		release, berr := n.sendRoom(ctx, t, p)
		if berr != nil {
			rt, rp = respError, encodeError(CodeRefused, "refused: "+berr.Error())
		} else {
			rt, rp = n.answer(ctx, c, t, p)
		}
		defer release()
	}
	s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	if err := writeFrame(s, rt, rp); err != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
	if rt == respError {
		// What the peer still sends is not read.
		s.CloseRead()
	}
}

// sendRoom waits, up to the request's timeout, until a bundle request's
// bytes fit in Config.MaxSendBytes with those being sent, so that peers
// asking for many large bundles at once and reading them slowly cannot
// make the node hold them all in memory. The release is called once the
// answer is written; other requests need no room.
func (n *Node) sendRoom(ctx context.Context, t byte, p []byte) (release func(), err error) {
	release = func() {}
	if t != typeBundle {
		return release, nil
	}
	d, err := decodeDigest(p)
	if err != nil {
		return release, nil // answer refuses it
	}
	size, ok := n.st.BundleSize(d)
	if !ok {
		return release, nil
	}
	w := min(max(size, 1), n.cfg.MaxSendBytes)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	if err := n.send.Acquire(ctx, w); err != nil {
		n.rateLimited.Add(1)
		return release, errors.New("too many bundle bytes being sent; ask again later")
	}
	return func() { n.send.Release(w) }, nil
}

// answer returns the response frame to request t with payload p.
func (n *Node) answer(ctx context.Context, c Conn, t byte, p []byte) (byte, []byte) {
	fail := func(err error) (byte, []byte) {
		code := CodeInternal
		switch {
		case errors.Is(err, ErrFrame):
			code = CodeBadRequest
		case errors.Is(err, store.ErrNotFound):
			code = CodeNotFound
		case errors.Is(err, errRefused):
			code = CodeRefused
		}
		return respError, encodeError(code, err.Error())
	}
	switch t {
	case typeList:
		if len(p) != 0 {
			return fail(fmt.Errorf("%w: list request with a payload", ErrFrame))
		}
		es, err := n.entries()
		if err != nil {
			return fail(err)
		}
		return respPublishers, encodeEntries(es)
	case typeStatement:
		id, err := decodeID(p)
		if err != nil {
			return fail(err)
		}
		pub, err := n.st.Publisher(id)
		if err != nil {
			return fail(err)
		}
		return respStatement, pub.Statement
	case typeLeaves:
		id, from, to, err := decodeLeavesReq(p)
		if err != nil {
			return fail(err)
		}
		pub, err := n.st.Publisher(id)
		if err != nil {
			return fail(err)
		}
		to = min(to, pub.Size, from+MaxLeavesPerResponse)
		if from >= to {
			return respLeaves, encodeLeaves(nil)
		}
		ls, err := n.st.Leaves(id, from, to)
		if err != nil {
			return fail(err)
		}
		return respLeaves, encodeLeaves(ls)
	case typeBundle:
		d, err := decodeDigest(p)
		if err != nil {
			return fail(err)
		}
		b, err := n.st.Bundle(d)
		if err != nil {
			return fail(err)
		}
		if int64(len(b)) > n.cfg.MaxBundleSize {
			return fail(fmt.Errorf("sync: bundle %s is larger than the frame limit", d))
		}
		return respBundle, b
	case typeMirrorList:
		id, err := decodeID(p)
		if err != nil {
			return fail(err)
		}
		ml, err := n.st.MirrorList(id)
		if err != nil {
			return fail(err)
		}
		return respMirrorList, ml
	case typeHello:
		u, err := decodeHello(p)
		if err != nil {
			return fail(err)
		}
		n.notePeerURL(c, u)
		return respHello, encodeHello(n.cfg.PublicURL)
	case typeAnnounce:
		x, err := decodeAnnounce(p)
		if err != nil {
			return fail(err)
		}
		if err := n.announced(ctx, c, x); err != nil {
			return fail(err)
		}
		return respOK, nil
	}
	return fail(fmt.Errorf("%w: type 0x%02x is not a request", ErrFrame, t))
}

// entries lists the publishers the store holds.
func (n *Node) entries() ([]entry, error) {
	ids, err := n.st.Publishers()
	if err != nil {
		return nil, err
	}
	if len(ids) > MaxPublishers {
		ids = ids[:MaxPublishers]
	}
	es := make([]entry, 0, len(ids))
	for _, id := range ids {
		x, err := n.entry(id)
		if err != nil {
			n.log.Warn("sync: cannot list publisher", "publisher", id, "err", err)
			continue
		}
		es = append(es, *x)
	}
	return es, nil
}

// entry returns what the store holds of a publisher: its checkpoint and
// key statement version, and the last leaves for an announce.
func (n *Node) entry(id string) (*entry, error) {
	pub, err := n.st.Publisher(id)
	if err != nil {
		return nil, err
	}
	tr, err := n.st.Trust(pub.Root)
	if err != nil {
		return nil, err
	}
	return &entry{ID: id, Version: tr.Statement().Version, Checkpoint: pub.Checkpoint, First: pub.Size}, nil
}
