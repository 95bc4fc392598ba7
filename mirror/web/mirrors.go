package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// MaxPeerURLs bounds the URLs /api/peers lists.
const MaxPeerURLs = 64

// serveMirrors serves a publisher's latest signed mirror list as the
// store holds it. Clients verify it themselves (catalog.OpenMirrorList)
// and check it against the log's newest mirror-list leaf.
func (h *Handler) serveMirrors(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, textKind)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "the mirror list takes no query")
		return
	}
	signed, err := h.st.MirrorList(s.id)
	if errors.Is(err, store.ErrNotFound) {
		h.notFound(w, r, textKind, "this mirror holds no mirror list from this publisher")
		return
	}
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	serveText(w, r, signed, "public, max-age=60")
}

// jsonPeers is the body of /api/peers.
type jsonPeers struct {
	Peers []string `json:"peers"`
}

// apiPeers serves unsigned hints of where else to look: this mirror's own
// public URL and those of the peers it syncs with. Each URL is checked
// like a mirror list URL; at most MaxPeerURLs are listed, without repeats.
func (h *Handler) apiPeers(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		h.fail(w, r, jsonKind, http.StatusBadRequest, "peers takes no query")
		return
	}
	b, err := json.MarshalIndent(&jsonPeers{Peers: h.peerURLs()}, "", "  ")
	if err != nil {
		h.fail(w, r, jsonKind, http.StatusInternalServerError, "internal error encoding JSON")
		return
	}
	serveBytes(w, r, append(b, '\n'), "application/json", "public, max-age=60")
}

// peerURLs returns Config.PublicURL and then Config.Peers(), valid and
// unrepeated, at most MaxPeerURLs of them.
func (h *Handler) peerURLs() []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(u string) {
		if len(out) < MaxPeerURLs && !seen[u] && catalog.CheckMirrorURL(u) == nil {
			seen[u] = true
			out = append(out, u)
		}
	}
	if h.cfg.PublicURL != "" {
		add(h.cfg.PublicURL)
	}
	if h.cfg.Peers != nil {
		for _, u := range h.cfg.Peers() {
			add(u)
		}
	}
	return out
}
