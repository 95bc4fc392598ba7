package static

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/render"
	"github.com/samizdat-news/samizdat/verifier"
)

// links makes the links of one page, relative to it.
type links struct {
	root string // the path from the page's directory to the export's root: "", "../", ...
}

// linksFrom returns the links of the page at name.
func linksFrom(name string) links {
	return links{root: strings.Repeat("../", strings.Count(name, "/"))}
}

func (l links) home() string                { return l.root + "index.html" }
func (l links) publisher(pub string) string { return l.root + "p/" + pub + "/index.html" }
func (l links) article(pub, id string) string {
	return l.root + articleDir(pub, id) + "index.html"
}

// olderPage is the file name of chunk c of a publisher's list (see
// publisherPages).
func olderPage(c int) string { return "older-" + strconv.Itoa(c) + ".html" }

// langPage is the name of the index in one language.
func langPage(tag string) string { return "lang-" + tag + ".html" }

func (e *exporter) common(l links, title, feed string) render.Common {
	return render.Common{Site: e.opts.SiteName, PageTitle: title, Feed: feed,
		Home: l.home(), Style: l.root + "static/style.css", MetaCSP: PageCSP}
}

var htmlType = "text/html; charset=utf-8"

func pageObject(name string) Object { return Object{Name: name, Type: htmlType, Cache: CachePage} }

// item returns an article as lists show it, linked from a page with l.
func (p *pubExport) item(l links, a *catalog.Article) render.Item {
	it := render.Item{ID: a.ID, URL: l.article(p.id, a.ID), Publisher: p.pub.Root.Name(), Revision: a.Revision, Retracted: a.Retracted, Time: a.Time}
	if sm := p.sums[a.Digest]; sm != nil && !a.Retracted {
		it.Title, it.Lang, it.Created, it.Updated, it.Authors = sm.Title, sm.Language, sm.Created, sm.Updated, sm.Authors
		if it.Title == "" {
			it.Title = a.ID
		}
	}
	return it
}

// freshness is how fresh the publisher's log is, as a static page shows
// it: the checkpoint's time, not its age, which changes after the export.
func (p *pubExport) freshness() render.Freshness {
	return render.Freshness{Size: p.cp.Size, Time: p.cp.Time}
}

// live counts the articles not withdrawn.
func (p *pubExport) live() int {
	n := 0
	for i := range p.arts {
		if !p.arts[i].Retracted {
			n++
		}
	}
	return n
}

// publisherPages writes a publisher's list pages and Atom feed.
//
// The list is cut so that its pages stay the same as the log grows:
// counting from the oldest article (in the order of the articles' last
// change), chunk c holds PageSize articles from the (c·PageSize)th, and
// is the page older-c.html. index.html holds the rest, the newest
// (PageSize to 2·PageSize-1 of them, or all when there are fewer), and
// the checkpoint's freshness, which the older pages leave out. A new
// article changes index.html, and a new older page once every PageSize
// articles; a changed or withdrawn article changes the chunk it leaves
// and every newer one.
func (e *exporter) publisherPages(ctx context.Context, p *pubExport) error {
	name := p.pub.Root.Name()
	n := len(p.arts)
	chunks := max(0, n/PageSize-1) // older pages
	for c := chunks; c >= 0; c-- {
		// arts is newest first: chunk c is arts[n-(c+1)·PageSize : n-c·PageSize].
		first, last, file := n-(c+1)*PageSize, n-c*PageSize, olderPage(c)
		if c == chunks {
			first, last, file = 0, n-c*PageSize, "index.html"
		}
		o := pageObject("p/" + p.id + "/" + file)
		// The page's key is what it shows (an article's list entry is
		// its bundle's), so an unchanged page is not even rendered.
		inputs := []string{"list", e.opts.SiteName, name, p.pub.Root.String(), strconv.FormatUint(p.trust.Statement().Version, 10), strconv.Itoa(c)}
		if c == chunks {
			inputs = append(inputs, strconv.FormatInt(p.cp.Size, 10), p.cp.Time.String())
		}
		for i := first; i < last; i++ {
			a := &p.arts[i]
			inputs = append(inputs, a.ID, a.Digest.String(), strconv.FormatUint(a.Revision, 10), strconv.FormatBool(a.Retracted), a.Time.String(), strconv.FormatBool(p.sums[a.Digest] != nil))
		}
		err := e.putPage(ctx, o, pageKey(inputs...), func() ([]byte, error) {
			l := linksFrom(o.Name)
			pp := &render.PublisherPage{Common: e.common(l, name, "feed.atom"),
				ID: p.id, Name: name, Root: p.pub.Root.String(), StatementVersion: p.trust.Statement().Version,
				StatementURL: "key-statement", Fresh: p.freshness(), NoFreshness: c != chunks}
			for i := first; i < last; i++ {
				pp.List = append(pp.List, p.item(l, &p.arts[i]))
			}
			if c > 0 {
				pp.Next = olderPage(c - 1)
			}
			var buf bytes.Buffer
			err := render.WritePublisher(&buf, pp)
			return buf.Bytes(), err
		})
		if err != nil {
			return err
		}
	}
	return e.feed(ctx, p)
}

// recent returns up to n of the publisher's live articles that have a
// summary and that keep accepts, most recently updated first.
func (p *pubExport) recent(l links, n int, keep func(*render.Item) bool) []render.Item {
	if p.byUpdated == nil {
		p.byUpdated = []int{}
		for i := range p.arts {
			if a := &p.arts[i]; !a.Retracted && p.sums[a.Digest] != nil {
				p.byUpdated = append(p.byUpdated, i)
			}
		}
		sort.SliceStable(p.byUpdated, func(i, j int) bool {
			return p.sums[p.arts[p.byUpdated[i]].Digest].Updated.After(p.sums[p.arts[p.byUpdated[j]].Digest].Updated)
		})
	}
	var out []render.Item
	for _, i := range p.byUpdated {
		if len(out) == n {
			break
		}
		if it := p.item(l, &p.arts[i]); keep(&it) {
			out = append(out, it)
		}
	}
	return out
}

// feed writes the publisher's Atom feed: its FeedEntries most recently
// updated articles, with their sanitised bodies.
func (e *exporter) feed(ctx context.Context, p *pubExport) error {
	o := Object{Name: "p/" + p.id + "/feed.atom", Type: "application/atom+xml; charset=utf-8", Cache: CachePage}
	l := linksFrom(o.Name)
	items := p.recent(l, FeedEntries, func(*render.Item) bool { return true })
	inputs := []string{"feed", p.pub.Root.Name(), p.cp.Time.String()}
	byID := map[string]*catalog.Article{}
	for i := range p.arts {
		byID[p.arts[i].ID] = &p.arts[i]
	}
	for _, it := range items {
		inputs = append(inputs, byID[it.ID].Digest.String())
	}
	return e.putPage(ctx, o, pageKey(inputs...), func() ([]byte, error) {
		f := render.Feed{ID: "urn:samizdat:" + p.id, Title: p.pub.Root.Name(),
			Links:  []render.AtomLink{{Rel: "self", Type: "application/atom+xml", Href: "feed.atom"}, {Rel: "alternate", Type: "text/html", Href: "index.html"}},
			Author: render.AtomPerson{Name: p.pub.Root.Name()}}
		latest := p.cp.Time
		for _, it := range items {
			a := byID[it.ID]
			en := render.AtomEntry{Lang: render.LangAttr(it.Lang), ID: "urn:samizdat:" + p.id + ":" + it.ID, Title: it.Title,
				Updated: it.Updated.UTC().Format(time.RFC3339), Published: it.Created.UTC().Format(time.RFC3339),
				Link: render.AtomLink{Rel: "alternate", Type: "text/html", Href: it.URL}}
			for _, au := range it.Authors {
				en.Authors = append(en.Authors, render.AtomPerson{Name: au})
			}
			en.Content, en.Summary = e.feedText(p, a, l)
			f.Entries = append(f.Entries, en)
			if it.Updated.After(latest) {
				latest = it.Updated
			}
		}
		f.Updated = latest.UTC().Format(time.RFC3339)
		return f.Encode()
	})
}

// feedText is an entry's text: the article's sanitised body with its
// images linked from the feed, or nil if its bundle cannot be read.
func (e *exporter) feedText(p *pubExport, a *catalog.Article, l links) (content, summary *render.AtomText) {
	data, err := e.st.Bundle(a.Digest)
	if err != nil {
		return nil, nil
	}
	b, err := bundle.Open(data, p.trust, &bundle.OpenOptions{Limits: e.opts.Limits})
	if err != nil {
		return nil, nil
	}
	body, err := b.Body()
	if err != nil {
		return nil, nil
	}
	clean := render.BodyLinked(b, body, func(en *bundle.EntryInfo) string {
		name, ok := EntryFile(en)
		if !ok || !e.have["e/"+b.Digest.String()+"/"+name] {
			return ""
		}
		return l.root + "e/" + b.Digest.String() + "/" + name
	})
	return render.FeedText(clean)
}

// site writes the pages of the whole export: the index (in all languages
// and in each), the style sheet and the verifier page (VerifierName).
func (e *exporter) site(ctx context.Context, pubs []*pubExport) error {
	if err := e.putRendered(ctx, Object{Name: "static/style.css", Type: "text/css; charset=utf-8", Cache: CachePage}, render.StyleSheet()); err != nil {
		return err
	}
	// The verifier page, as mirrors serve it at /verify.html: opened from
	// the export, it reads the export it sits in (its default mirror is
	// its own directory).
	if err := e.putRendered(ctx, Object{Name: VerifierName, Type: "text/html; charset=utf-8", Cache: CachePage}, verifier.Page()); err != nil {
		return err
	}
	l := linksFrom("index.html")
	var infos []render.PublisherInfo
	for _, p := range pubs {
		infos = append(infos, render.PublisherInfo{ID: p.id, Name: p.pub.Root.Name(), URL: l.publisher(p.id), Held: true, Articles: p.live(), Fresh: p.freshness()})
	}
	seen := map[string]bool{}
	for _, p := range pubs {
		for _, it := range p.recent(l, RecentArticles*4, func(*render.Item) bool { return true }) {
			if tag := render.Primary(it.Lang); tag != "" {
				seen[tag] = true
			}
		}
	}
	var tags []string
	for t := range seen {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	if len(tags) > maxLanguages {
		tags = tags[:maxLanguages]
	}
	for _, want := range append([]string{""}, tags...) {
		name, title := "index.html", "Publishers and recent articles"
		if want != "" {
			name, title = langPage(want), "Recent articles in "+render.LanguageName(want)
		}
		var recent []render.Item
		for _, p := range pubs {
			recent = append(recent, p.recent(l, RecentArticles, func(it *render.Item) bool { return want == "" || render.Primary(it.Lang) == want })...)
		}
		sort.SliceStable(recent, func(i, j int) bool { return recent[i].Updated.After(recent[j].Updated) })
		if len(recent) > RecentArticles {
			recent = recent[:RecentArticles]
		}
		var langs []render.LanguageLink
		if len(tags) > 1 {
			for _, t := range tags {
				langs = append(langs, render.LanguageLink{Tag: t, Name: render.LanguageName(t), URL: langPage(t), Current: t == want})
			}
		}
		var buf bytes.Buffer
		err := render.WriteIndex(&buf, &render.IndexPage{Common: e.common(l, title, ""), Publishers: infos, Recent: recent, Languages: langs, AllURL: "index.html", Lang: want})
		if err != nil {
			return err
		}
		if err := e.putRendered(ctx, pageObject(name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// maxLanguages bounds the languages the index offers to filter by.
const maxLanguages = 16
