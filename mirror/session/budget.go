package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/samizdat-news/samizdat/bundle"
)

// Limits of the node-wide budgets, see Config.
const (
	// DefaultMaxRequestBytes is the default of Config.MaxRequestBytes:
	// about a thousand announces of the largest size at once, and any
	// number of the small requests an honest sync makes.
	DefaultMaxRequestBytes = 8 << 20
	// DefaultMaxReceiveBytes is the default of Config.MaxReceiveBytes.
	DefaultMaxReceiveBytes = 64 << 20
	// budgetWait is the longest a frame waits for room in a full budget
	// before it is refused (a request) or given up (an answer).
	budgetWait = time.Second
	// firstChunk is the most of an answer received before it grows into
	// the large part of the receive budget: small answers (most bundles,
	// every answer but a bundle or a list) take room only in the small
	// part, which large ones cannot fill.
	firstChunk = 64 << 10
	// maxChunk is the most a large answer's buffer grows by at once.
	maxChunk = 1 << 20
	// smallShare is the share of Config.MaxReceiveBytes kept for the
	// first chunks of answers: one part in smallShare.
	smallShare = 4
	// proofShare: once an answer has received one part in proofShare of
	// what it claims beyond its first chunk, it takes room for all of the
	// rest at once; before, it takes room chunk by chunk as it arrives.
	// A peer must thus send an eighth of what it makes the node hold
	// (12 MiB to hold a 96 MiB claim's room), while large answers from
	// honest peers, once under way, do not each hold part of the room
	// and wait for the rest.
	proofShare = 8
)

// ErrBusy is wrapped by the error of a request this node gave up because
// one of its budgets was full: it may be asked again later.
var ErrBusy = errors.New("session: busy")

// ErrDigestMismatch is wrapped by the error of Bundle when the peer's
// answer does not hash to the digest asked for: the peer lies or is broken.
var ErrDigestMismatch = errors.New("session: bundle does not match its digest")

// budget bounds the bytes a node holds at once for one purpose, across
// all its sessions. It is safe for concurrent use.
type budget struct {
	sem *semaphore.Weighted
	max int64
}

func newBudget(max int64) *budget {
	return &budget{sem: semaphore.NewWeighted(max), max: max}
}

// take takes n bytes of room, waiting up to budgetWait while the budget
// is full, and returns whether it did. It takes nothing and fails at once
// when n exceeds the whole budget.
func (b *budget) take(ctx context.Context, n int64) bool {
	if n <= 0 {
		return true
	}
	if n > b.max {
		return false
	}
	if b.sem.TryAcquire(n) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, budgetWait)
	defer cancel()
	return b.sem.Acquire(ctx, n) == nil
}

func (b *budget) give(n int64) {
	if n > 0 {
		b.sem.Release(n)
	}
}

// recvBudget bounds the bytes of answers being received: the first chunk
// of each in a small part, the rest in a large part.
type recvBudget struct {
	small, large *budget
}

func newRecvBudget(max int64) *recvBudget {
	small := max / smallShare
	return &recvBudget{small: newBudget(small), large: newBudget(max - small)}
}

// chunks is an answer being received: its bytes in chunks charged to a
// recvBudget, grown as they arrive, never allocated by the length the
// peer claims.
type chunks struct {
	b            *recvBudget
	bufs         [][]byte
	small, large int64 // bytes of room taken in each part
}

// readChunks reads n bytes from r into chunks charged to b, and writes
// every byte read to h. The first chunk (firstChunk bytes at most) takes
// room in the small part; later chunks take room in the large part before
// they are read, chunk by chunk until the answer has received one part in
// proofShare of the rest, then all of the rest at once. An answer thus
// never holds room for much more than it has sent: a peer that claims a
// large answer, sends its first chunk and stalls holds a chunk's room,
// not the whole large part, and other peers' answers still pass; and
// large answers under way together do not each hold part of the room and
// wait for the rest. An answer larger than the large part takes all of it
// and is then received alone, beyond it. The memory itself is allocated
// as bytes arrive, in chunks that double up to maxChunk. On error the room
// is given back.
func (b *recvBudget) readChunks(ctx context.Context, r io.Reader, n int64, h io.Writer) (*chunks, error) {
	c := &chunks{b: b}
	var got int64
	size := min(n, firstChunk)
	for got < n {
		size = min(size, n-got)
		if err := c.charge(ctx, n, got, size); err != nil {
			c.release()
			return nil, err
		}
		buf := make([]byte, size)
		m, err := io.ReadFull(r, buf)
		h.Write(buf[:m])
		c.bufs = append(c.bufs, buf[:m])
		got += int64(m)
		if err != nil {
			c.release()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: answer truncated at %d of %d bytes", ErrFrame, got, n)
			}
			return nil, fmt.Errorf("session: reading frame: %w", err)
		}
		size = min(2*size, maxChunk)
	}
	return c, nil
}

// charge takes the room an answer of n bytes needs before the chunk of
// size bytes that starts at got is read: the first chunk's in the small
// part, each later one's in the large part, or all of the rest's once the
// answer has received one part in proofShare of it; never more than all
// of the large part.
func (c *chunks) charge(ctx context.Context, n, got, size int64) error {
	if got == 0 {
		want := min(n, firstChunk)
		if !c.b.small.take(ctx, want) {
			return fmt.Errorf("%w: too many answers being received", ErrBusy)
		}
		c.small = want
		return nil
	}
	end := got + size // the room the answer needs so far
	if rest := n - firstChunk; got-firstChunk >= rest/proofShare {
		end = n // it has proven itself: all of the rest at once
	}
	want := min(end-firstChunk, c.b.large.max) - c.large
	if want <= 0 {
		return nil
	}
	if !c.b.large.take(ctx, want) {
		return fmt.Errorf("%w: too many answer bytes being received", ErrBusy)
	}
	c.large += want
	return nil
}

// bytes returns the answer in one slice.
func (c *chunks) bytes() []byte {
	if len(c.bufs) == 1 {
		return c.bufs[0]
	}
	var n int
	for _, b := range c.bufs {
		n += len(b)
	}
	out := make([]byte, 0, n)
	for i, b := range c.bufs {
		out = append(out, b...)
		c.bufs[i] = nil
	}
	return out
}

// release gives the chunks' room back; the chunks may not be used after.
func (c *chunks) release() {
	c.b.small.give(c.small)
	c.b.large.give(c.large)
	c.small, c.large, c.bufs = 0, 0, nil
}

// readBundle reads a bundle answer of n bytes from r, hashing it as it
// streams, and returns it if it hashes to d.
func (b *recvBudget) readBundle(ctx context.Context, r io.Reader, n int64, d bundle.Digest) ([]byte, error) {
	if n == 0 {
		return nil, fmt.Errorf("%w: empty bundle", ErrFrame)
	}
	h := sha256.New()
	c, err := b.readChunks(ctx, r, n, h)
	if err != nil {
		return nil, err
	}
	defer c.release()
	if err := expectEnd(r); err != nil {
		return nil, err
	}
	if got := bundle.Digest(h.Sum(nil)); got != d {
		return nil, fmt.Errorf("%w: asked for %s, the peer's %d bytes hash to %s", ErrDigestMismatch, d, n, got)
	}
	return c.bytes(), nil
}

// readSmall reads an answer of n bytes, at most the first chunk or a list
// (MaxFrameSize), charged to b while it is read, and checks that nothing
// follows it.
func (b *recvBudget) readSmall(ctx context.Context, r io.Reader, n int64) ([]byte, error) {
	c, err := b.readChunks(ctx, r, n, io.Discard)
	if err != nil {
		return nil, err
	}
	defer c.release()
	if err := expectEnd(r); err != nil {
		return nil, err
	}
	return c.bytes(), nil
}
