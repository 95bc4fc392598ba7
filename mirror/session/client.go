package session

import (
	"context"
	"fmt"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// exchange sends one request on a new stream of c and reads the answer
// with read, which gets the stream positioned after the answer's header,
// the answer's type and its length, checked against answerLimit. An
// error frame is returned as a *RemoteError; the peer closing a QUIC
// session with a code as one too.
func (h *Host) exchange(ctx context.Context, c Conn, t byte, payload []byte, want byte, read func(ctx context.Context, s Stream, n int64) ([]byte, error)) ([]byte, error) {
	timeout := h.cfg.RequestTimeout
	if t == typeAnnounce {
		timeout = h.cfg.AnnounceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer h.activity(c)()
	s, err := c.OpenStream(ctx)
	if err != nil {
		return nil, remoteClose(err)
	}
	stop := context.AfterFunc(ctx, s.Reset)
	defer stop()
	s.SetDeadline(time.Now().Add(timeout))
	ok := false
	defer func() {
		if !ok {
			s.Reset()
		}
	}()
	if err := writeFrame(s, t, payload); err != nil {
		return nil, remoteClose(err)
	}
	if err := s.CloseWrite(); err != nil {
		return nil, fmt.Errorf("session: %w", remoteClose(err))
	}
	rt, n, err := readHeader(s)
	if err != nil {
		return nil, remoteClose(err)
	}
	if rt != want && rt != respError {
		return nil, fmt.Errorf("%w: answer of type 0x%02x to request 0x%02x", ErrFrame, rt, t)
	}
	if err := checkLength(rt, n, answerLimit(rt, h.cfg.MaxBundleSize), "an answer"); err != nil {
		return nil, err
	}
	if rt == respError {
		p, err := h.recv.readSmall(ctx, s, n)
		if err != nil {
			return nil, remoteClose(err)
		}
		ok = true
		return nil, decodeError(p)
	}
	p, err := read(ctx, s, n)
	if err != nil {
		return nil, remoteClose(err)
	}
	ok = true
	return p, nil
}

// request sends one request on a new stream of c and reads the answer,
// which must be of type want, within the receive budget.
func (h *Host) request(ctx context.Context, c Conn, t byte, payload []byte, want byte) ([]byte, error) {
	return h.exchange(ctx, c, t, payload, want, func(ctx context.Context, s Stream, n int64) ([]byte, error) {
		return h.recv.readSmall(ctx, s, n)
	})
}

// List asks the peer on c for the publishers it holds.
func (h *Host) List(ctx context.Context, c Conn) ([]Entry, error) {
	p, err := h.request(ctx, c, typeList, nil, respPublishers)
	if err != nil {
		return nil, err
	}
	return decodeEntries(p)
}

// Statement asks the peer on c for a publisher's key statement, which it
// only bounds in size: the caller verifies it.
func (h *Host) Statement(ctx context.Context, c Conn, pub string) ([]byte, error) {
	p, err := h.request(ctx, c, typeStatement, encodeID(pub), respStatement)
	if err != nil {
		return nil, err
	}
	return decodeStatement(p)
}

// Leaves asks the peer on c for a publisher's leaves [from, to), with
// from < to. The peer may answer fewer (at most MaxLeavesPerResponse), but
// not none and not more.
func (h *Host) Leaves(ctx context.Context, c Conn, pub string, from, to int64) ([][]byte, error) {
	p, err := h.request(ctx, c, typeLeaves, encodeLeavesReq(pub, from, to), respLeaves)
	if err != nil {
		return nil, err
	}
	ls, err := decodeLeaves(p)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 || int64(len(ls)) > to-from {
		return nil, fmt.Errorf("%w: publisher %s: %d leaves in answer to [%d, %d)", ErrFrame, pub, len(ls), from, to)
	}
	return ls, nil
}

// Bundle asks the peer on c for the bundle with digest d, and returns it
// once its bytes hash to d. The answer is hashed as it streams, and held
// in chunks that grow as its bytes arrive, within Config.MaxBundleSize and
// the node's receive budget (Config.MaxReceiveBytes); an answer that does
// not hash to d fails with an error wrapping ErrDigestMismatch, one that
// finds the budget full with one wrapping ErrBusy.
func (h *Host) Bundle(ctx context.Context, c Conn, d bundle.Digest) ([]byte, error) {
	return h.exchange(ctx, c, typeBundle, d[:], respBundle, func(ctx context.Context, s Stream, n int64) ([]byte, error) {
		return h.recv.readBundle(ctx, s, n, d)
	})
}

// Announce tells the peer on c of a publisher's checkpoint, with the last
// leaves of its log, and waits up to Config.AnnounceTimeout for the peer
// to act on it.
func (h *Host) Announce(ctx context.Context, c Conn, x *Entry) error {
	_, err := h.request(ctx, c, typeAnnounce, encodeAnnounce(x), respOK)
	return err
}

// MirrorList asks the peer on c for a publisher's signed mirror list,
// which it only bounds in size: the caller verifies it.
func (h *Host) MirrorList(ctx context.Context, c Conn, pub string) ([]byte, error) {
	p, err := h.request(ctx, c, typeMirrorList, encodeID(pub), respMirrorList)
	if err != nil {
		return nil, err
	}
	return decodeMirrorList(p)
}

// Hello tells the peer on c this node's public HTTP URL (empty for none)
// and returns the peer's, checked by catalog.CheckMirrorURL.
func (h *Host) Hello(ctx context.Context, c Conn, url string) (string, error) {
	p, err := h.request(ctx, c, typeHello, encodeHello(url), respHello)
	if err != nil {
		return "", err
	}
	return decodeHello(p)
}
