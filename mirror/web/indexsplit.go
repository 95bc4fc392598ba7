package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog/index"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// serveIndexTop serves /p/{pub}/index/t/{size}/{bucket}: the top part of
// the split proofs of a bucket's ids in the index that the checkpoint of
// that size carries (FORMAT.md "Split proofs"), the file a static export
// serves where it has no full proof. Like a full proof it never changes
// for a size and is cached for good; sizes are those of serveIndexProof.
func (h *Handler) serveIndexTop(w http.ResponseWriter, r *http.Request) {
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
		h.notFound(w, r, textKind, "no such top part: want index/t/SIZE/BUCKET, SIZE the checkpoint's size in decimal")
		return
	}
	b, err := index.ParseBucket(size, r.PathValue("bucket"))
	if err != nil {
		h.notFound(w, r, textKind, "no such top part: "+err.Error())
		return
	}
	top, err := h.st.IndexTop(s.id, size, b)
	if h.indexError(w, r, err, size) {
		return
	}
	serveBytes(w, r, top, "application/octet-stream", immutable)
}

// serveIndexBottom serves /p/{pub}/index/n/{node}/{id}: the bottom part of
// an article's split proof below the bucket root of that hash, in the
// index of the mirror's checkpoint or of those it held lately. It is
// named by the bucket root, so its bytes never change.
func (h *Handler) serveIndexBottom(w http.ResponseWriter, r *http.Request) {
	s := h.logState(w, r)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		h.fail(w, r, textKind, http.StatusBadRequest, "index proofs take no query")
		return
	}
	d, err := bundle.ParseDigest(r.PathValue("node"))
	if err != nil {
		h.notFound(w, r, textKind, "no such bottom part: want index/n/NODE/ID, NODE 64 lowercase hex digits")
		return
	}
	id := r.PathValue("id")
	if bundle.CheckID(id) != nil {
		h.notFound(w, r, textKind, "no such bottom part: not a valid article id")
		return
	}
	bottom, err := h.st.IndexBottom(s.id, tlog.Hash(d), id)
	if h.indexError(w, r, err, -1) {
		return
	}
	serveBytes(w, r, bottom, "application/octet-stream", immutable)
}

// indexError answers a store error of an index route, if err is one, and
// reports whether it did.
func (h *Handler) indexError(w http.ResponseWriter, r *http.Request, err error, size int64) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNoIndex):
		h.notFound(w, r, textKind, "this mirror's checkpoint carries no article index: read the whole log (tile/...)")
	case errors.Is(err, store.ErrNotFound) && size >= 0:
		h.notFound(w, r, textKind, fmt.Sprintf("this mirror has no article index of size %d (it keeps its checkpoint's and those of the last %v): fetch the checkpoint again", size, store.IndexHistoryAge))
	case errors.Is(err, store.ErrNotFound):
		h.notFound(w, r, textKind, fmt.Sprintf("this mirror has no such bucket root on the article's path (it keeps its checkpoint's index and those of the last %v): fetch the checkpoint again", store.IndexHistoryAge))
	default:
		h.storeError(w, r, textKind, err)
	}
	return true
}
