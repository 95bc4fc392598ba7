package static

import (
	"context"
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/samizdat-news/samizdat/mirror/store"
)

// proofDir is the directory of a publisher's index proofs at one size.
func proofDir(pub string, size int64) string {
	return "p/" + pub + "/index/" + strconv.FormatInt(size, 10) + "/"
}

// proofs writes the full index proof (store.IndexProof) of the
// publisher's Options.IndexProofs (DefaultIndexProofs) most recently
// changed articles at
// the checkpoint's size, as p/ID/index/SIZE/ARTICLE, the
// path a dynamic mirror serves it at. A proof never changes for a size,
// so one already written is not written again. A checkpoint without an
// article index has none. The proofs of articles whose ID ends in an
// extension a static host may serve as HTML, XML or script (riskyExt)
// are left out (and get no split proof either); a light reader falls
// back to reading the log for them.
// (A static export holds no proofs of absence: it cannot know which IDs
// will be asked for.)
func (e *exporter) proofs(ctx context.Context, p *pubExport) error {
	dir := proofDir(p.id, p.cp.Size)
	n := e.opts.IndexProofs
	if n == 0 {
		n = DefaultIndexProofs
	}
	n = max(0, min(len(p.arts), n))
	for i := range n { // p.arts is most recently changed first
		id := p.arts[i].ID
		if riskyExt(strings.ToLower(path.Ext(id))) {
			continue // said by splitProofs
		}
		err := e.putOnce(ctx, Object{Name: dir + id, Type: "application/octet-stream", Cache: CacheImmutable}, func() ([]byte, error) {
			size, proof, err := e.st.IndexProof(p.id, id)
			if err != nil {
				return nil, err
			}
			if size != p.cp.Size {
				return nil, errMoved
			}
			return proof, nil
		})
		switch {
		case errors.Is(err, store.ErrNoIndex):
			return nil
		case errors.Is(err, errMoved):
			e.leave("publisher %s: the store's checkpoint changed during the export; its index proofs are left for the next one", p.id)
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

var errMoved = errors.New("static: the store's checkpoint changed")

// pruneProofs removes the publisher's index proofs of every size but the
// checkpoint's and the one before it (the largest smaller size the sink
// holds proofs of: the previous export's). It runs once the checkpoint
// is in place. The previous size's stay for the export after, so that a
// reader holding the previous checkpoint, from a cache in front of the
// export (whose checkpoint may be 10 seconds old) or read a moment before,
// still finds its proofs; one of an older one gets 404 and fetches the
// checkpoint again, as from a dynamic mirror.
func (e *exporter) pruneProofs(ctx context.Context, p *pubExport) error {
	prefix := "p/" + p.id + "/index/"
	sizeOf := func(name string) int64 {
		s, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "/")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	prev := int64(-1)
	for name := range e.have {
		if n := sizeOf(name); strings.HasPrefix(name, prefix) && n < p.cp.Size && n > prev {
			prev = n
		}
	}
	var old []string
	for name := range e.have {
		if n := sizeOf(name); strings.HasPrefix(name, prefix) && n >= 0 && n != p.cp.Size && n != prev {
			old = append(old, name)
		}
	}
	return e.remove(ctx, old)
}

// remove deletes names from the sink, in order, and from what the export
// knows it holds.
func (e *exporter) remove(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	if err := e.sink.Delete(ctx, names); err != nil {
		return err
	}
	for _, name := range names {
		delete(e.have, name)
	}
	e.stats.Deleted += len(names)
	return nil
}
