package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// immutable is the caching of content-addressed responses.
const immutable = "public, max-age=31536000, immutable"

// acceptsZstd reports whether the request's Accept-Encoding lists zstd
// with a non-zero quality.
func acceptsZstd(r *http.Request) bool { return accepts(r, "zstd") }

// accepts reports whether the request's Accept-Encoding lists coding
// with a non-zero quality. Wildcards are not honoured: an encoding is
// sent only to clients that name it.
func accepts(r *http.Request, coding string) bool {
	for _, v := range r.Header["Accept-Encoding"] {
		for len(v) > 0 {
			var part string
			part, v, _ = strings.Cut(v, ",")
			c, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(c), coding) {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}

// serveEntry serves one entry of an article's current bundle: an image
// with its media type, or the raw body as text/plain. Entries are served
// with EntryCSP, so nothing in them runs on the mirror's origin.
func (h *Handler) serveEntry(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, textKind)
	if s == nil {
		return
	}
	id, ok := articleID(r)
	name := r.PathValue("name")
	_, isBody := bodyNames[name]
	if !ok || (bundle.CheckName(name) != nil && !isBody) {
		h.notFound(w, r, textKind, "no such entry")
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "entries take no query")
		return
	}
	a, err := s.article(h.st, id)
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	if a.Retracted {
		h.fail(w, r, textKind, http.StatusGone, "withdrawn by the publisher")
		return
	}
	b, err := h.bundle(s, a.Digest)
	if errors.Is(err, store.ErrNotFound) {
		// Superseded since the state read it: the current revision.
		if a, err = s.reread(h.st, id); err == nil {
			if a.Retracted {
				h.fail(w, r, textKind, http.StatusGone, "withdrawn by the publisher")
				return
			}
			b, err = h.bundle(s, a.Digest)
		}
	}
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	i := b.Lookup(name)
	if i < 0 {
		h.notFound(w, r, textKind, "the article has no entry "+strconv.Quote(name))
		return
	}
	e := &b.Manifest.Entries[i]
	hd := w.Header()
	typ := e.Type
	if i == 0 {
		typ = "text/plain; charset=utf-8"
	} else if !bundle.ImageTypes[typ] {
		typ = "application/octet-stream"
	}
	hd.Set("Content-Type", typ)
	hd.Set("Content-Security-Policy", EntryCSP)
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("Vary", "Accept-Encoding")
	if e.Compression == bundle.Zstd && !b.Manifest.HasDictionary() && acceptsZstd(r) {
		hd.Set("Content-Encoding", "zstd")
		hd.Set("ETag", `"`+hexOf(e.StoredSHA256[:])+`.zst"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b.Stored(i)))
		return
	}
	data, err := b.Entry(i)
	if err != nil {
		h.log.Warn("web: entry does not verify", "publisher", s.id, "digest", a.Digest, "entry", name, "err", err)
		h.storeError(w, r, textKind, errUnavailable)
		return
	}
	hd.Set("ETag", `"`+hexOf(e.SHA256[:])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

var bodyNames = map[string]bool{"index.html": true, "index.md": true, "index.txt": true}

func hexOf(b []byte) string { return bundle.Digest(b[:32]).String() }

// serveBundle serves a bundle's bytes by digest, when it belongs to a
// trusted publisher and verifies.
func (h *Handler) serveBundle(w http.ResponseWriter, r *http.Request) {
	d, err := bundle.ParseDigest(r.PathValue("digest"))
	if err != nil {
		h.fail(w, r, textKind, http.StatusBadRequest, "a bundle digest is 64 lowercase hex digits")
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "bundles take no query")
		return
	}
	b, err := h.bundleByDigest(d)
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	setBundleHeaders(w, d)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b.Raw()))
}

func setBundleHeaders(w http.ResponseWriter, d bundle.Digest) {
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", immutable)
}

// bundleByDigest returns a stored bundle of a trusted publisher, verified.
func (h *Handler) bundleByDigest(d bundle.Digest) (*bundle.Bundle, error) {
	if ob, ok := h.bundles.get(d); ok {
		if s := h.state(keys.IDOf(ob.b.Manifest.Publisher[:])); s != nil && s.trust == ob.trust {
			return ob.b, nil
		}
	}
	data, err := h.st.Bundle(d)
	if err != nil {
		return nil, err
	}
	u, err := bundle.ParseUnverified(data, h.cfg.Limits)
	if err != nil {
		return nil, errUnavailable
	}
	s := h.state(keys.IDOf(u.Manifest.Publisher[:]))
	if s == nil || !s.held {
		return nil, store.ErrNotFound
	}
	return h.bundle(s, d)
}

// logState is publisher for the log routes (key statement, checkpoint):
// clients that sync or verify need the newest checkpoint, so these read
// the publisher's state from the store on every request, and refresh the
// handler's cached state when it changed. (Tiles are read from the store
// on every request too, within the log's size there and then.)
func (h *Handler) logState(w http.ResponseWriter, r *http.Request) *pubState {
	s := h.publisher(w, r, textKind)
	if s == nil {
		return nil
	}
	p, err := h.st.Publisher(s.id)
	if err != nil {
		h.storeError(w, r, textKind, err)
		return nil
	}
	if !bytes.Equal(p.Checkpoint, s.pub.Checkpoint) || !bytes.Equal(p.Statement, s.pub.Statement) {
		h.Invalidate(s.id)
	}
	fresh := &pubState{id: s.id, root: s.root, held: true, pub: p, derived: &derived{}}
	return fresh
}

func (h *Handler) serveStatement(w http.ResponseWriter, r *http.Request) {
	s := h.logState(w, r)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "the key statement takes no query")
		return
	}
	serveText(w, r, s.pub.Statement, "public, max-age=60")
}

func (h *Handler) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	s := h.logState(w, r)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "the checkpoint takes no query")
		return
	}
	if s.pub.Checkpoint == nil {
		h.notFound(w, r, textKind, "no checkpoint from this publisher yet")
		return
	}
	serveText(w, r, s.pub.Checkpoint, "public, max-age=5")
}

func serveText(w http.ResponseWriter, r *http.Request, b []byte, cache string) {
	serveBytes(w, r, b, "text/plain; charset=utf-8", cache)
}

// serveBytes serves b whole, with its type, caching and a strong ETag of
// its content (so conditional and range requests work).
func serveBytes(w http.ResponseWriter, r *http.Request, b []byte, typ, cache string) {
	serveTagged(w, r, b, etagOf(b), typ, cache)
}

// serveTagged is serveBytes with b's entity tag given.
func serveTagged(w http.ResponseWriter, r *http.Request, b []byte, etag, typ, cache string) {
	hd := w.Header()
	hd.Set("Content-Type", typ)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// serveTile serves a tile of the log as C2SP tlog-tiles: a hash tile
// (tile/L/N[.p/W]) or an entry bundle (tile/entries/N[.p/W]). A tile's
// bytes never change, a partial one's neither (it is the first W of the
// full tile's), so both are cached for good; a tile the log does not
// hold yet is 404.
func (h *Handler) serveTile(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, textKind)
	if s == nil {
		return
	}
	t, err := catalog.ParseTilePath("tile/" + r.PathValue("path"))
	if err != nil {
		h.notFound(w, r, textKind, "no such tile: want tile/L/N[.p/W] or tile/entries/N[.p/W] (C2SP tlog-tiles)")
		return
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		h.fail(w, r, textKind, http.StatusBadRequest, "tiles take no query")
		return
	}
	data, err := h.st.Tile(s.id, t)
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	serveBytes(w, r, data, "application/octet-stream", immutable)
}

// serveIndexProof serves /p/{pub}/index/{size}/{id}: the proof, in the
// article index that the mirror's checkpoint of that size carries, of the
// article's newest leaf, which it carries, or of its absence (FORMAT.md
// "Article index"). A
// proof for a size never changes, so it is cached for good. The mirror
// can prove against its current checkpoint and those it held in the last
// store.IndexHistoryAge (a cache in front of it may still serve them);
// any other size is 404, and the reader fetches the checkpoint again.
func (h *Handler) serveIndexProof(w http.ResponseWriter, r *http.Request) {
	s := h.logState(w, r)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		h.fail(w, r, textKind, http.StatusBadRequest, "index proofs take no query")
		return
	}
	size, err := strconv.ParseInt(r.PathValue("size"), 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != r.PathValue("size") {
		h.notFound(w, r, textKind, "no such index proof: want index/SIZE/ID, SIZE the checkpoint's size in decimal")
		return
	}
	id := r.PathValue("id")
	if bundle.CheckID(id) != nil {
		h.notFound(w, r, textKind, "no such index proof: not a valid article id")
		return
	}
	proof, err := h.st.IndexProofAt(s.id, id, size)
	switch {
	case errors.Is(err, store.ErrNoIndex):
		h.notFound(w, r, textKind, "this mirror's checkpoint carries no article index: read the whole log (tile/...)")
		return
	case errors.Is(err, store.ErrNotFound):
		h.notFound(w, r, textKind, fmt.Sprintf("this mirror has no article index of size %d (it keeps its checkpoint's and those of the last %v): fetch the checkpoint again", size, store.IndexHistoryAge))
		return
	case err != nil:
		h.storeError(w, r, textKind, err)
		return
	}
	serveBytes(w, r, proof, "application/octet-stream", immutable)
}
