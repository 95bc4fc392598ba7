package web

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/render"
)

// reread reads an article's state from the store again, and remembers it
// for the rest of the state's life: for when the one read before names a
// revision the store has since superseded.
func (s *pubState) reread(st *store.Store, id string) (*catalog.Article, error) {
	a, err := st.Article(s.id, id)
	if err != nil {
		return nil, err
	}
	s.byID.Store(id, a)
	return a, nil
}

// derived is what the handler reads of a publisher's log for lists and
// the feed. It belongs to one log size, checkpoint and trust, and is
// handed on from state to state while they stay the same.
type derived struct {
	listOnce sync.Once
	list     *listIndex
	listErr  error

	feed atomic.Pointer[renderedFeed] // the Atom feed, once rendered

	langs atomic.Pointer[[]string] // the languages of the recent articles, once all are verified
}

// languages returns the primary language subtags of a held publisher's
// languageScan most recent articles (at most maxLanguages of them), for
// the index's language filter. They are kept until the log changes once
// every article looked at verified.
func (h *Handler) languages(s *pubState) []string {
	d := s.derived
	if l := d.langs.Load(); l != nil {
		return *l
	}
	items, complete := h.recent(s, languageScan, func(l *listed) bool { return l.Title != "" })
	var langs []string
	for _, l := range items {
		if p := render.Primary(l.Lang); p != "" && !slices.Contains(langs, p) && len(langs) < maxLanguages {
			langs = append(langs, p)
		}
	}
	if complete {
		d.langs.Store(&langs)
	}
	return langs
}

// renderedFeed is an Atom feed, its entity tag, and its gzip encoding,
// made on first use.
type renderedFeed struct {
	body []byte
	etag string

	gzOnce sync.Once
	gz     []byte
}

// gzipped returns the feed gzip-compressed, or nil if that fails.
func (f *renderedFeed) gzipped() []byte {
	f.gzOnce.Do(func() { f.gz = gzipBytes(f.body) })
	return f.gz
}

// listIndex counts a publisher's articles and says where each page of its
// list starts. The articles themselves are read from the store a page at
// a time (store.RecentArticles), so a list costs the handler 8 bytes a
// page, not a copy of every article.
type listIndex struct {
	total  int     // articles, withdrawn ones included
	live   int     // articles not withdrawn
	starts []int64 // starts[i] is the cursor of page i+1: its first article's leaf, plus one
}

// listIndex returns the list index of a held publisher, read from the
// store on first use.
func (h *Handler) listIndex(s *pubState) (*listIndex, error) {
	d := s.derived
	d.listOnce.Do(func() {
		leaves, retracted, err := h.st.ArticleLeaves(s.id)
		if err != nil {
			d.listErr = err
			return
		}
		l := &listIndex{total: len(leaves), live: len(leaves) - retracted}
		l.starts = make([]int64, 0, (len(leaves)+PageSize-1)/PageSize)
		for i := 0; i < len(leaves); i += PageSize {
			l.starts = append(l.starts, leaves[i]+1)
		}
		d.list = l
	})
	return d.list, d.listErr
}

// listPage returns page p (from 1) of a held publisher's articles, most
// recently changed first, and the list index it was found with. A page
// beyond the last is empty.
func (h *Handler) listPage(s *pubState, p int) ([]catalog.Article, *listIndex, error) {
	l, err := h.listIndex(s)
	if err != nil {
		return nil, nil, err
	}
	if p < 1 || p > len(l.starts) {
		return nil, l, nil
	}
	arts, err := h.st.RecentArticles(s.id, l.starts[p-1], PageSize)
	return arts, l, err
}

// Bounds of recent, for each article it returns: it skips articles it
// cannot verify and withdrawn ones, but not without end.
const (
	recentTries = 4  // articles verified
	recentScan  = 64 // articles read from the store
)

// recent returns up to n of a held publisher's most recently changed
// articles that are not withdrawn and that keep accepts, most recent
// first, and whether keep accepted every one it tried. It reads the store
// a chunk at a time, and stops after trying recentTries*n articles or
// reading recentScan*n.
func (h *Handler) recent(s *pubState, n int, keep func(*listed) bool) (out []listed, all bool) {
	all = true
	before, tried, read, chunk := s.pub.Size, 0, 0, n+n/2
	for len(out) < n && tried < recentTries*n && read < recentScan*n {
		arts, err := h.st.RecentArticles(s.id, before, chunk)
		if err != nil {
			h.log.Error("web: reading recent articles", "publisher", s.id, "err", err)
			return out, false
		}
		for i := range arts {
			if len(out) == n {
				break
			}
			if arts[i].Retracted {
				continue
			}
			tried++
			if l := h.listItem(s, &arts[i]); keep(&l) {
				out = append(out, l)
			} else {
				all = false
			}
		}
		read += len(arts)
		if len(arts) < chunk {
			break
		}
		before = arts[len(arts)-1].Leaf
	}
	return out, all
}
