package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/publish/feed"
	"github.com/samizdat-news/samizdat/publish/source"
)

// Bounds on what publishing a feed fetches from the network.
const (
	// fetchTimeout bounds one fetch of a feed or of an item's page,
	// headers and body.
	fetchTimeout = 30 * time.Second
	// maxRedirects bounds the redirects one fetch follows.
	maxRedirects = 5
	// maxPageSize bounds an item's page fetched by --follow-links.
	maxPageSize = 8 << 20
	// maxFollowedPages bounds the pages --follow-links fetches for one
	// feed; later items are published from the feed's own content.
	maxFollowedPages = 100
	// maxHeldBytes bounds the bytes of articles (bodies and fetched
	// images) made from one feed's items and held in memory before they
	// are published: past it, those made so far are published and let
	// go. A hostile feed of MaxItems items, each with
	// source.MaxFetchTotal of images, would otherwise hold tens of GiB.
	maxHeldBytes = 128 << 20
	// maxFeedFetchTime bounds the time --follow-links and --fetch-images
	// spend on one feed's items, all pages and images together; items
	// after it are published from the feed's own content, their images
	// not fetched. Without it a feed of MaxItems items whose pages and
	// images trickle in would hold publish (or one round of follow) for
	// days: fetchTimeout per page, source.MaxFetchTime per item's images.
	maxFeedFetchTime = 10 * time.Minute
	// maxValidatorLen bounds an ETag or Last-Modified kept for the next
	// conditional GET; a longer one is not kept. follow writes them to
	// its state file, which it reads back within maxStateSize: one feed
	// answering with a megabyte of ETag would make the whole file be
	// ignored at the next start.
	maxValidatorLen = 1024
	// userAgent names samizdat to the newsroom's servers.
	userAgent = "samizdat-feed/1 (+https://github.com/samizdat-news/samizdat)"
)

// feedClient is the HTTP client for feeds and their pages: bounded in
// time and redirects, http and https only.
func feedClient() *http.Client {
	return &http.Client{
		Timeout: fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s: URL", req.URL.Scheme)
			}
			return nil
		},
	}
}

// pageClient is the HTTP client for the pages --follow-links fetches:
// feedClient's bounds, and it dials only public addresses
// (source.CheckPublic) or feedAddr, the address the feed itself was read
// from ("" for a file). A feed, or a page it links to, names any URL it
// likes: it must not make the publisher fetch, and sign into a public
// bundle, a page from the publisher's own network (an intranet, a cloud's
// metadata service, a local admin page). The newsroom's own feed server
// chose by the operator stays reachable for its own pages.
func pageClient(feedAddr string) *http.Client {
	c := feedClient()
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{
		Timeout: fetchTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			if feedAddr != "" && address == feedAddr {
				return nil
			}
			return source.CheckPublic(address)
		},
	}).DialContext
	c.Transport = t
	return c
}

// isURL reports whether a --feed value is an http or https URL rather
// than a file.
func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// validator is what a conditional GET of a feed sends back: the ETag and
// Last-Modified of the copy already read.
type validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// errNotModified is a conditional GET's 304.
var errNotModified = errors.New("not modified")

// httpStatusError is a response other than 200 and 304.
type httpStatusError struct{ status string }

func (e *httpStatusError) Error() string { return "server answered " + e.status }

// get fetches u, at most max bytes, with the validators of an earlier copy
// if v is not nil. It returns the body, its Content-Type, the final URL
// after redirects and the new validators; errNotModified for a 304.
func get(ctx context.Context, client *http.Client, u string, max int64, v *validator) (body []byte, contentType, final string, next validator, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", "", validator{}, err
	}
	req.Header.Set("User-Agent", userAgent)
	if v != nil {
		if v.ETag != "" {
			req.Header.Set("If-None-Match", v.ETag)
		}
		if v.LastModified != "" {
			req.Header.Set("If-Modified-Since", v.LastModified)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", "", validator{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if v != nil {
			return nil, "", "", *v, errNotModified
		}
		fallthrough
	default:
		return nil, "", "", validator{}, &httpStatusError{resp.Status}
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", "", validator{}, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, "", "", validator{}, fmt.Errorf("body is larger than %d bytes", max)
	}
	next = validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if len(next.ETag) > maxValidatorLen || len(next.LastModified) > maxValidatorLen {
		next = validator{}
	}
	return body, resp.Header.Get("Content-Type"), resp.Request.URL.String(), next, nil
}

// readFeed reads a feed from a file or an http(s) URL and parses it. For a
// URL, v holds the validators of the copy read before (nil: none); a feed
// unchanged since returns errNotModified. addr is the address (IP and
// port) the feed was read from, "" for a file.
func readFeed(ctx context.Context, client *http.Client, src string, v *validator) (f *feed.Feed, next validator, addr string, err error) {
	var data []byte
	if isURL(src) {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			addr = ci.Conn.RemoteAddr().String()
		}})
		data, _, _, next, err = get(ctx, client, src, feed.MaxFeedSize, v)
	} else {
		data, err = files.ReadAtMost(src, feed.MaxFeedSize)
	}
	if err != nil {
		return nil, next, addr, err
	}
	f, err = feed.Parse(data)
	return f, next, addr, err
}

// feedOptions says how feed items become articles.
type feedOptions struct {
	followLinks bool   // fetch each item's page and extract the article
	fetchImages bool   // download the remote images bodies show into the bundle
	lang        string // language of items that give none
}

// sourceOptions are how an item's body is read: its feed content is the
// article already and is signed as it is (raw); a followed page has the
// article extracted from it.
func (o feedOptions) sourceOptions(ctx context.Context, raw bool) *source.Options {
	return &source.Options{Raw: raw, FetchImages: o.fetchImages, Context: ctx}
}

// itemFailure is an item that could not be published, and why.
type itemFailure struct {
	name string // its id, else guid, link or position
	err  error
}

// heldBudget is maxHeldBytes and feedFetchTime maxFeedFetchTime; tests
// lower them.
var (
	heldBudget    int64 = maxHeldBytes
	feedFetchTime       = maxFeedFetchTime
)

// feedItems turns a feed's items into articles to publish. Items that
// cannot be are returned as failures, the rest still made; warnings are
// for the operator (items skipped on purpose, pages not followed).
//
// Ids come from the guid (or Atom id), else the link, through
// source.DeriveID. When two items give the same id, the first (feeds list
// the newest first) is published and the others are skipped with a
// warning: a feed that repeats a guid (corpus node-feedparser/guid-dupes.xml
// repeats one inside an item; aggregators repeat whole items) means one
// article, and publishing the copies would make each a silent revision
// of the other in the same run. seen holds the ids taken already (by
// earlier feeds of the same round of follow) and gets this feed's.
// Pages are followed with client, which pageClient makes. The articles
// made go to flush, in batches of at most about maxHeldBytes (one article
// more), so that a feed's items are never all in memory at once.
func feedItems(ctx context.Context, client *http.Client, f *feed.Feed, o feedOptions, seen map[string]bool, flush func([]publish.Item)) (failed []itemFailure, warnings []string) {
	followed, unfetched := 0, 0
	var items []publish.Item
	var held int64
	fetchCtx, cancel := context.WithTimeout(ctx, feedFetchTime)
	defer cancel()
	for i, it := range f.Items {
		id := source.DeriveID(source.IDSources{GUID: it.GUID, CanonicalURL: it.Link, Title: it.Title})
		name := id
		if name == "" {
			name = fmt.Sprintf("item %d", i+1)
		}
		if id == "" {
			failed = append(failed, itemFailure{name, errors.New("no article id: the item has no guid, link or title")})
			continue
		}
		if seen[id] {
			warnings = append(warnings, fmt.Sprintf("%s: skipped: an earlier item has the same id", id))
			continue
		}
		seen[id] = true
		if it.Err != nil {
			failed = append(failed, itemFailure{name, it.Err})
			continue
		}
		var a *source.Article
		var err error
		so := o
		if fetchCtx.Err() != nil && ctx.Err() == nil && (o.followLinks && it.Link != "" || o.fetchImages) {
			so.followLinks, so.fetchImages = false, false
			unfetched++
		}
		switch {
		case so.followLinks && it.Link != "" && followed < maxFollowedPages:
			followed++
			a, err = followLink(fetchCtx, client, it.Link, so)
		case strings.TrimSpace(it.Content) == "":
			err = errors.New("the feed gives no content for it (--follow-links fetches its page)")
			if so.followLinks != o.followLinks && it.Link != "" {
				err = fmt.Errorf("the feed gives no content for it, and the time limit of %v for fetching a feed's pages is spent", feedFetchTime)
			}
		default:
			if so.followLinks && it.Link != "" {
				warnings = append(warnings, fmt.Sprintf("%s: published from the feed's content: more than %d pages to follow", id, maxFollowedPages))
			}
			a, err = source.FromHTML(it.Document(), "text/html; charset=utf-8", it.Link, so.sourceOptions(fetchCtx, true))
		}
		if err != nil {
			failed = append(failed, itemFailure{name, err})
			continue
		}
		items = append(items, publish.Item{Meta: itemMeta(a.Meta, id, it, o), Files: a.Files})
		for _, fl := range a.Files {
			held += int64(len(fl.Data))
		}
		if held > heldBudget {
			flush(items)
			items, held = nil, 0
		}
	}
	if len(items) > 0 {
		flush(items)
	}
	if unfetched > 0 {
		warnings = append(warnings, fmt.Sprintf("%d items not followed to their pages, their images not fetched: the time limit of %v for one feed is spent", unfetched, feedFetchTime))
	}
	return failed, warnings
}

// itemMeta sets over what the body's HTML gave what the feed says of the
// item. The publication date is the item's published date, else its
// updated date; a date in the future (a wrong clock or zone at the
// newsroom) is left out, so the first publication's is kept. The signing
// time (Updated) is left to publish, which signs now: publish compares
// content and metadata without it, so publishing an unchanged feed again
// publishes nothing.
func itemMeta(m bundle.Metadata, id string, it *feed.Item, o feedOptions) bundle.Metadata {
	m.ID = id
	override(&m.Title, it.Title)
	override(&m.CanonicalURL, it.Link)
	override(&m.Language, it.Language)
	if m.Language == "" {
		m.Language = o.lang
	}
	if len(it.Authors) > 0 {
		m.Authors = it.Authors
	}
	m.Created = it.Published
	if m.Created.IsZero() {
		m.Created = it.Updated
	}
	if m.Created.After(time.Now()) {
		m.Created = time.Time{}
	}
	m.Updated = time.Time{}
	return m
}

// followLink fetches an item's page and extracts its article.
func followLink(ctx context.Context, client *http.Client, link string, o feedOptions) (*source.Article, error) {
	body, ctype, final, _, err := get(ctx, client, link, maxPageSize, nil)
	if err != nil {
		return nil, fmt.Errorf("following %s: %w", link, err)
	}
	if mt, _, err := mime.ParseMediaType(ctype); ctype != "" && (err != nil || mt != "text/html" && mt != "application/xhtml+xml") {
		return nil, fmt.Errorf("following %s: %s is not an HTML page", link, ctype)
	}
	if u, err := url.Parse(final); err != nil || u.Scheme != "http" && u.Scheme != "https" {
		final = link
	}
	return source.FromHTML(body, ctype, final, o.sourceOptions(ctx, false))
}

// publishItems publishes items as one update; if that fails, it publishes
// them one by one, so that one bad item does not hold back the others.
// Items whose article the publisher retracted are not published again:
// feeds keep listing an article after the newsroom withdrew it, and
// following the feed must not undo the retraction. Their ids are returned
// in retracted; `samizdat publish FILE --id ID` publishes one anew.
func publishItems(p *publish.Publisher, st *store.Store, pub string, items []publish.Item) (res []publish.Result, failed []itemFailure, retracted []string) {
	kept := items[:0:0]
	for _, it := range items {
		a, err := st.Article(pub, it.Meta.ID)
		if err == nil && a.Retracted {
			retracted = append(retracted, it.Meta.ID)
			continue
		}
		kept = append(kept, it)
	}
	if len(kept) == 0 {
		return nil, nil, retracted
	}
	res, err := p.Publish(kept)
	if err == nil {
		return res, nil, retracted
	}
	res = nil
	for _, it := range kept {
		r, err := p.Publish([]publish.Item{it})
		if err != nil {
			failed = append(failed, itemFailure{it.Meta.ID, err})
			continue
		}
		res = append(res, r...)
	}
	return res, failed, retracted
}

// publishFeed is `samizdat publish --feed`: one article per item. It
// prints "id digest" for each article published, one stderr line for each
// item that failed (the others are still published) and for the number
// left unchanged, and returns errCheckFailed if any item failed.
func publishFeed(e *env, kd *keyDir, storeDir, src string, o feedOptions) error {
	f, _, addr, err := readFeed(e.ctx, feedClient(), src, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	pages := pageClient(addr)
	defer pages.CloseIdleConnections()
	var (
		p         *publish.Publisher
		st        *store.Store
		openErr   error
		res       []publish.Result
		more      []itemFailure
		retracted []string
	)
	failed, warnings := feedItems(e.ctx, pages, f, o, map[string]bool{}, func(items []publish.Item) {
		if p == nil && openErr == nil {
			p, st, openErr = openPublisher(e, kd.dir, storeDir, true)
		}
		if openErr != nil {
			return
		}
		r, m, rt := publishItems(p, st, kd.trust.PublisherID(), items)
		res, more, retracted = append(res, r...), append(more, m...), append(retracted, rt...)
	})
	if st != nil {
		defer st.Close()
	}
	if openErr != nil {
		return openErr
	}
	failed = append(failed, more...)
	for _, id := range retracted {
		fmt.Fprintf(e.stderr, "samizdat publish: %s: skipped: it was retracted\n", id)
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "samizdat publish: %s\n", oneLine(w))
	}
	if f.Dropped > 0 {
		fmt.Fprintf(e.stderr, "samizdat publish: %s: %d items beyond the first %d left out\n", src, f.Dropped, feed.MaxItems)
	}
	if len(f.Items) == 0 {
		fmt.Fprintf(e.stderr, "samizdat publish: %s: the feed has no items\n", src)
	}
	unchanged := 0
	for _, r := range res {
		if r.Unchanged {
			unchanged++
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s\n", r.ID, r.Digest)
		if r.Resigned {
			fmt.Fprintf(e.stderr, "samizdat publish: %s: signed again as revision %d: the key that signed it is no longer trusted\n", r.ID, r.Revision)
		}
	}
	if unchanged > 0 {
		fmt.Fprintf(e.stderr, "samizdat publish: %d unchanged since their last revision; not published again\n", unchanged)
	}
	for _, fl := range failed {
		fmt.Fprintf(e.stderr, "samizdat publish: %s: %s\n", fl.name, oneLine(fl.err.Error()))
	}
	if len(failed) > 0 {
		return errCheckFailed
	}
	return nil
}
