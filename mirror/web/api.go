package web

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/net/html"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/render"
)

// writeJSON writes v as indented JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error": "internal error encoding JSON", "status": 500}`)
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
	Size  int64     `json:"size"`
	Root  string    `json:"root"`
	Time  time.Time `json:"time"`
	Index string    `json:"index"` // "" when the checkpoint carries none
}

// jsonPublisher is one publisher in /api/publishers. Every field is
// always present (PROTOCOL.md): statement_version 0 and checkpoint null
// when the mirror holds none, alarms [] when there are none.
type jsonPublisher struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	RootKey          string          `json:"root_key"`
	Held             bool            `json:"held"`
	StatementVersion uint64          `json:"statement_version"`
	Checkpoint       *jsonCheckpoint `json:"checkpoint"`
	Articles         int             `json:"articles"`
	Alarms           []string        `json:"alarms"`
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
				if s.cp.Index != (tlog.Hash{}) {
					jp.Checkpoint.Index = s.cp.Index.String()
				}
			}
			if l, err := h.listIndex(s); err == nil {
				jp.Articles = l.live
			}
		}
		if h.cfg.Alarms != nil {
			jp.Alarms = h.cfg.Alarms(id)
		}
		if jp.Alarms == nil {
			jp.Alarms = []string{}
		}
		out = append(out, jp)
	}
	w.Header().Set("Cache-Control", "public, max-age=5")
	writeJSON(w, http.StatusOK, out)
}

// jsonArticle is one article in /api/p/{pub}/articles, and the body of
// /api/p/{pub}/a/{id}'s 410. Every field is always present
// (PROTOCOL.md): title and language "" and created and updated null for
// a withdrawn article or one this mirror cannot verify, retracted_at
// null unless withdrawn.
type jsonArticle struct {
	ID          string     `json:"id"`
	Revision    uint64     `json:"revision"`
	Title       string     `json:"title"`
	Language    string     `json:"language"`
	Digest      string     `json:"digest"`
	Leaf        int64      `json:"leaf"`
	Created     *time.Time `json:"created"`
	Updated     *time.Time `json:"updated"`
	Retracted   bool       `json:"retracted"`
	RetractedAt *time.Time `json:"retracted_at"`
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
	arts, index, err := h.listPage(s, page)
	if err != nil {
		h.storeError(w, r, jsonKind, err)
		return
	}
	list := []jsonArticle{}
	for _, a := range arts {
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
	}{s.id, index.total, page, PageSize, list}
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
		w.Header().Set("Cache-Control", "public, max-age=300") // as the article page's 410
		writeJSON(w, http.StatusGone, jsonArticle{ID: a.ID, Revision: a.Revision, Digest: a.Digest.String(), Leaf: a.Leaf, Retracted: true, RetractedAt: &t, URL: articleURL(s.id, a.ID)})
		return
	}
	b, err := h.bundle(s, a.Digest)
	if err != nil {
		h.storeError(w, r, jsonKind, err)
		return
	}
	m := b.Manifest
	entries := []jsonEntry{}
	for _, e := range m.Entries {
		entries = append(entries, jsonEntry{e.Name, e.Type, e.Compression.String(), e.Size, e.StoredSize, hexOf(e.SHA256[:]), hexOf(e.StoredSHA256[:])})
	}
	// Every field is always present (PROTOCOL.md): canonical_url and
	// dictionary "" when the bundle has none, authors [] when none.
	authors := m.Authors
	if authors == nil {
		authors = []string{}
	}
	out := struct {
		Publisher    string      `json:"publisher"`
		ID           string      `json:"id"`
		Revision     uint64      `json:"revision"`
		Title        string      `json:"title"`
		Language     string      `json:"language"`
		CanonicalURL string      `json:"canonical_url"`
		Authors      []string    `json:"authors"`
		Created      time.Time   `json:"created"`
		Updated      time.Time   `json:"updated"`
		Signer       string      `json:"signer"`
		Digest       string      `json:"digest"`
		Leaf         int64       `json:"leaf"`
		Dictionary   string      `json:"dictionary"`
		Entries      []jsonEntry `json:"entries"`
		URL          string      `json:"url"`
		Bundle       string      `json:"bundle"`
	}{s.id, m.ID, m.Revision, m.Title, m.Language, m.CanonicalURL, authors, m.Created, m.Updated,
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
	// Lang is the article's language, as xml:lang.
	Lang      string       `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
	ID        string       `xml:"id"`
	Title     string       `xml:"title"`
	Updated   string       `xml:"updated"`
	Published string       `xml:"published"`
	Link      atomLink     `xml:"link"`
	Authors   []atomPerson `xml:"author"`
	Summary   *atomText    `xml:"summary"`
	Content   *atomText    `xml:"content"`
}

// atomText is an Atom text construct; the encoder escapes Body.
type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// Bounds of an Atom entry's text.
const (
	// feedContentMax bounds the sanitised HTML body sent as an entry's
	// content.
	feedContentMax = 16 << 10
	// feedSummaryMax is the most characters of text in the summary sent
	// instead when the body is longer.
	feedSummaryMax = 600
)

// feedText returns an entry's text: the article's sanitised body as its
// page shows it (same sanitiser, same image links), or when that is
// longer than feedContentMax, a plain-text summary of the body's start.
// Both are nil when the body cannot be verified.
func (h *Handler) feedText(s *pubState, a *catalog.Article) (content, summary *atomText) {
	rp, err := h.articlePage(s, a, h.freshFragment(s))
	if err != nil {
		return nil, nil
	}
	body := rp.body()
	if len(body) <= feedContentMax {
		return &atomText{Type: "html", Body: string(body)}, nil
	}
	return nil, &atomText{Type: "text", Body: textSummary(body, feedSummaryMax)}
}

// textSummary returns the text of sanitised HTML, with runs of white
// space made one space, cut to at most limit characters at a word boundary
// (ending in an ellipsis when cut).
func textSummary(htm []byte, limit int) string {
	var text []rune
	z := html.NewTokenizer(bytes.NewReader(htm))
	space := false
	for len(text) <= limit {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.TextToken {
			name, _ := z.TagName()
			space = space || blockTags[string(name)] // "<p>a</p><p>b</p>" is two words
			continue
		}
		for _, r := range string(z.Text()) {
			if len(text) > limit {
				break
			}
			if unicode.IsSpace(r) {
				space = true
				continue
			}
			if space && len(text) > 0 {
				text = append(text, ' ')
			}
			space = false
			text = append(text, r)
		}
	}
	if len(text) <= limit {
		return string(text)
	}
	cut := limit - 1 // room for the ellipsis
	for i := cut; i > cut/2; i-- {
		if text[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(text[:cut]), " ") + "…"
}

// blockTags are the elements that separate words in textSummary.
var blockTags = map[string]bool{
	"p": true, "br": true, "div": true, "li": true, "ul": true, "ol": true, "dd": true, "dt": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true,
	"pre": true, "tr": true, "td": true, "th": true, "table": true, "figure": true, "figcaption": true,
	"section": true, "article": true, "header": true, "footer": true, "aside": true, "hr": true, "img": true,
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
	if fb := s.derived.feed.Load(); fb != nil {
		serveFeedBytes(w, r, fb)
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
	// A feed is kept until the log changes only if it lacks nothing this
	// mirror could not verify yet (a bundle still to come in a sync).
	items, complete := h.recent(s, feedEntries, func(l *listed) bool { return !l.Updated.IsZero() })
	sortByUpdated(items)
	for _, l := range items {
		e := atomEntry{Lang: render.LangAttr(l.Lang), ID: "urn:samizdat:" + s.id + ":" + l.ID, Title: l.Title, Updated: l.Updated.UTC().Format(time.RFC3339),
			Published: l.Created.UTC().Format(time.RFC3339), Link: atomLink{Rel: "alternate", Type: "text/html", Href: l.URL}}
		for _, au := range l.Authors {
			e.Authors = append(e.Authors, atomPerson{Name: au})
		}
		e.Content, e.Summary = h.feedText(s, l.art)
		complete = complete && (e.Content != nil || e.Summary != nil)
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
	fb := &renderedFeed{body: buf.Bytes(), etag: etagOf(buf.Bytes())}
	if complete {
		s.derived.feed.Store(fb)
	}
	serveFeedBytes(w, r, fb)
}

// serveFeedBytes serves a rendered feed, gzip-compressed to clients that
// accept it (the feed carries articles' bodies: it compresses well).
func serveFeedBytes(w http.ResponseWriter, r *http.Request, fb *renderedFeed) {
	w.Header()["Vary"] = varyEncoding
	if accepts(r, "gzip") {
		if gz := fb.gzipped(); gz != nil {
			w.Header()["Content-Encoding"] = gzipEncoding
			serveTagged(w, r, gz, fb.etag[:len(fb.etag)-1]+`.gz"`, "application/atom+xml; charset=utf-8", "public, max-age=60")
			return
		}
	}
	serveTagged(w, r, fb.body, fb.etag, "application/atom+xml; charset=utf-8", "public, max-age=60")
}

// sortByUpdated sorts listed articles, most recently updated first.
func sortByUpdated(l []listed) {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Updated.After(l[j].Updated) })
}
