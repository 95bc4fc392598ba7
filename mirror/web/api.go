package web

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// writeJSON writes v as indented JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error": "internal error encoding JSON"}`)
	}
	b = append(b, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

// jsonCheckpoint is a checkpoint in the JSON API.
type jsonCheckpoint struct {
	Size int64     `json:"size"`
	Root string    `json:"root"`
	Time time.Time `json:"time"`
}

// jsonPublisher is one publisher in /api/publishers.
type jsonPublisher struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	RootKey          string          `json:"root_key"`
	Held             bool            `json:"held"`
	StatementVersion uint64          `json:"statement_version,omitempty"`
	Checkpoint       *jsonCheckpoint `json:"checkpoint,omitempty"`
	Articles         int             `json:"articles"`
	Alarms           []string        `json:"alarms,omitempty"`
}

func (h *Handler) apiPublishers(w http.ResponseWriter, r *http.Request) {
	if !queryKnown(r) {
		h.fail(w, r, jsonKind, http.StatusBadRequest, "this route takes no query")
		return
	}
	out := []jsonPublisher{}
	for _, id := range h.order {
		s := h.state(id)
		jp := jsonPublisher{ID: id, Name: s.root.Name(), RootKey: s.root.String(), Held: s.held && s.err == nil}
		if jp.Held {
			if s.trust != nil {
				jp.StatementVersion = s.trust.Statement().Version
			}
			if s.cp != nil {
				jp.Checkpoint = &jsonCheckpoint{Size: s.cp.Size, Root: s.cp.Root.String(), Time: s.cp.Time}
			}
			arts, _ := s.articles(h.st)
			for _, a := range arts {
				if !a.Retracted {
					jp.Articles++
				}
			}
		}
		if h.cfg.Alarms != nil {
			jp.Alarms = h.cfg.Alarms(id)
		}
		out = append(out, jp)
	}
	w.Header().Set("Cache-Control", "public, max-age=5")
	writeJSON(w, http.StatusOK, out)
}

// jsonArticle is one article in /api/p/{pub}/articles.
type jsonArticle struct {
	ID          string     `json:"id"`
	Revision    uint64     `json:"revision"`
	Title       string     `json:"title,omitempty"`
	Language    string     `json:"language,omitempty"`
	Digest      string     `json:"digest"`
	Leaf        int64      `json:"leaf"`
	Created     *time.Time `json:"created,omitempty"`
	Updated     *time.Time `json:"updated,omitempty"`
	Retracted   bool       `json:"retracted,omitempty"`
	RetractedAt *time.Time `json:"retracted_at,omitempty"`
	URL         string     `json:"url"`
}

func (h *Handler) apiArticles(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, jsonKind)
	if s == nil {
		return
	}
	page, ok := queryPage(r)
	if !ok {
		h.fail(w, r, jsonKind, http.StatusBadRequest, "page must be a number from 1")
		return
	}
	arts, err := s.articles(h.st)
	if err != nil {
		h.storeError(w, r, jsonKind, err)
		return
	}
	from := min((page-1)*PageSize, len(arts))
	to := min(from+PageSize, len(arts))
	list := []jsonArticle{}
	for _, a := range arts[from:to] {
		ja := jsonArticle{ID: a.ID, Revision: a.Revision, Digest: a.Digest.String(), Leaf: a.Leaf, URL: articleURL(s.id, a.ID)}
		if a.Retracted {
			t := a.Time
			ja.Retracted, ja.RetractedAt = true, &t
		} else if sm, err := h.summary(s, a.Digest); err == nil {
			c, u := sm.Created, sm.Updated
			ja.Title, ja.Language, ja.Created, ja.Updated = sm.Title, sm.Language, &c, &u
		}
		list = append(list, ja)
	}
	out := struct {
		Publisher string        `json:"publisher"`
		Total     int           `json:"total"`
		Page      int           `json:"page"`
		PageSize  int           `json:"page_size"`
		Articles  []jsonArticle `json:"articles"`
	}{s.id, len(arts), page, PageSize, list}
	w.Header().Set("Cache-Control", "public, max-age=5")
	writeJSON(w, http.StatusOK, out)
}

// jsonEntry is one entry of a manifest in the JSON API.
type jsonEntry struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Compression  string `json:"compression"`
	Size         uint64 `json:"size"`
	StoredSize   uint64 `json:"stored_size"`
	SHA256       string `json:"sha256"`
	StoredSHA256 string `json:"stored_sha256"`
}

func (h *Handler) apiArticle(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, jsonKind)
	if s == nil {
		return
	}
	id, ok := articleID(r)
	if !ok {
		h.notFound(w, r, jsonKind, "not a valid article ID")
		return
	}
	if !queryKnown(r) {
		h.fail(w, r, jsonKind, http.StatusBadRequest, "this route takes no query")
		return
	}
	a, err := s.article(h.st, id)
	if err != nil {
		h.storeError(w, r, jsonKind, err)
		return
	}
	if a.Retracted {
		t := a.Time
		writeJSON(w, http.StatusGone, jsonArticle{ID: a.ID, Revision: a.Revision, Digest: a.Digest.String(), Leaf: a.Leaf, Retracted: true, RetractedAt: &t, URL: articleURL(s.id, a.ID)})
		return
	}
	b, err := h.bundle(s, a.Digest)
	if err != nil {
		h.storeError(w, r, jsonKind, err)
		return
	}
	m := b.Manifest
	var entries []jsonEntry
	for _, e := range m.Entries {
		entries = append(entries, jsonEntry{e.Name, e.Type, e.Compression.String(), e.Size, e.StoredSize, hexOf(e.SHA256[:]), hexOf(e.StoredSHA256[:])})
	}
	out := struct {
		Publisher    string      `json:"publisher"`
		ID           string      `json:"id"`
		Revision     uint64      `json:"revision"`
		Title        string      `json:"title"`
		Language     string      `json:"language"`
		CanonicalURL string      `json:"canonical_url,omitempty"`
		Authors      []string    `json:"authors,omitempty"`
		Created      time.Time   `json:"created"`
		Updated      time.Time   `json:"updated"`
		Signer       string      `json:"signer"`
		Digest       string      `json:"digest"`
		Leaf         int64       `json:"leaf"`
		Dictionary   string      `json:"dictionary,omitempty"`
		Entries      []jsonEntry `json:"entries"`
		URL          string      `json:"url"`
		Bundle       string      `json:"bundle"`
	}{s.id, m.ID, m.Revision, m.Title, m.Language, m.CanonicalURL, m.Authors, m.Created, m.Updated,
		b.Signer.String(), b.Digest.String(), a.Leaf, "", entries, articleURL(s.id, a.ID), "/b/" + b.Digest.String()}
	if m.HasDictionary() {
		out.Dictionary = hexOf(m.Dictionary[:])
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, out)
}

// feedEntries bounds an Atom feed.
const feedEntries = 50

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID        string       `xml:"id"`
	Title     string       `xml:"title"`
	Updated   string       `xml:"updated"`
	Published string       `xml:"published"`
	Link      atomLink     `xml:"link"`
	Authors   []atomPerson `xml:"author"`
}

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

// serveFeed serves an Atom feed of a publisher's most recently changed
// articles. Links are relative to the feed's URL.
func (h *Handler) serveFeed(w http.ResponseWriter, r *http.Request) {
	s := h.publisher(w, r, textKind)
	if s == nil {
		return
	}
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "the feed takes no query")
		return
	}
	arts, err := s.articles(h.st)
	if err != nil {
		h.storeError(w, r, textKind, err)
		return
	}
	f := atomFeed{
		ID:     "urn:samizdat:" + s.id,
		Title:  s.root.Name(),
		Links:  []atomLink{{Rel: "self", Type: "application/atom+xml", Href: "/p/" + s.id + "/feed.atom"}, {Rel: "alternate", Type: "text/html", Href: "/p/" + s.id + "/"}},
		Author: atomPerson{Name: s.root.Name()},
	}
	var latest time.Time
	if s.cp != nil {
		latest = s.cp.Time
	}
	var items []listed
	for i := range arts {
		if len(items) == feedEntries {
			break
		}
		if arts[i].Retracted {
			continue
		}
		if l := h.listItem(s, &arts[i]); !l.Updated.IsZero() {
			items = append(items, l)
		}
	}
	sortByUpdated(items)
	for _, l := range items {
		e := atomEntry{ID: "urn:samizdat:" + s.id + ":" + l.ID, Title: l.Title, Updated: l.Updated.UTC().Format(time.RFC3339),
			Published: l.Created.UTC().Format(time.RFC3339), Link: atomLink{Rel: "alternate", Type: "text/html", Href: l.URL}}
		for _, au := range l.Authors {
			e.Authors = append(e.Authors, atomPerson{Name: au})
		}
		f.Entries = append(f.Entries, e)
		if l.Updated.After(latest) {
			latest = l.Updated
		}
	}
	f.Updated = latest.UTC().Format(time.RFC3339)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		h.fail(w, r, textKind, http.StatusInternalServerError, "internal error encoding the feed")
		return
	}
	buf.WriteByte('\n')
	serveBytes(w, r, buf.Bytes(), "application/atom+xml; charset=utf-8", "public, max-age=60")
}

// sortByUpdated sorts listed articles, most recently updated first.
func sortByUpdated(l []listed) {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Updated.After(l[j].Updated) })
}
