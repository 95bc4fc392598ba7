// Package static writes what a store holds as a static mirror: the files
// a reader fetches (key statements, checkpoints, mirror lists, C2SP
// tlog-tiles, bundles) under the paths a dynamic mirror serves them at,
// the pages people read as HTML files with relative links, and the
// browser verifier page (VerifierName), so that any file server, CDN or
// bucket can serve the export under any path prefix. See PROTOCOL.md,
// "Static mirrors".
//
// An export is incremental: a file that never changes (a tile, a bundle,
// an image) is written once; pages are written when what they show
// changed. Each publisher's checkpoint is written last, after everything
// it points at, so no reader sees a checkpoint naming a missing file.
package static

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/render"
)

// Cache-Control of each kind of object (a bucket sends them; a plain file
// server sends its own).
const (
	// CacheImmutable is for content-addressed objects: tiles (full and
	// partial), bundles and images.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheCheckpoint is for checkpoints, which change with every
	// publication.
	CacheCheckpoint = "public, max-age=10"
	// CacheLog is for key statements and mirror lists.
	CacheLog = "public, max-age=60"
	// CachePage is for pages, feeds and the style sheet.
	CachePage = "public, max-age=60"
)

// PageCSP is the Content-Security-Policy every exported page carries in
// a <meta http-equiv> element, since static hosts send no header: no
// script, no frames, no forms; images and the style sheet from the
// export's own origin only. (frame-ancestors cannot be set from a meta
// element.)
const PageCSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'"

// VerifierName is where an export writes the verifier page
// (verifier.Page, the bytes mirrors serve at /verify.html): at its root,
// so that the page's default mirror, its own directory, is the export.
// It carries its own Content-Security-Policy (verifier.CSP) in a meta
// element, not PageCSP, and refuses to run framed, since a static host
// sends no frame-ancestors header.
const VerifierName = "verify.html"

// Limits and sizes of an export.
const (
	// PageSize is the number of articles on one page of a publisher's
	// list, as on a dynamic mirror.
	PageSize = 200
	// RecentArticles is the number of articles on the index page.
	RecentArticles = 30
	// FeedEntries bounds a publisher's Atom feed.
	FeedEntries = 50
	// MaxStateSize bounds the export's state file (StateName) read back.
	MaxStateSize = 256 << 20
)

// imageExts gives, for each image type an export writes, the file
// extensions that make a static host send that type. SVG is left out: an
// SVG opened on its own runs its scripts, on the export's origin.
var imageExts = map[string][]string{
	"image/png":  {".png"},
	"image/jpeg": {".jpg", ".jpeg"},
	"image/gif":  {".gif"},
	"image/webp": {".webp"},
	"image/avif": {".avif"},
}

// EntryFile returns the name under which an export writes a bundle's
// image entry (inside "e/DIGEST/"), and false for an entry it leaves out.
// The name keeps the entry's if its extension already gives its type; a
// name whose extension gives another type (evil.html typed image/png)
// gets the type's extension added (evil.html.png). SVG and other types
// are left out: a static host chooses a file's type by its extension, and
// sends no Content-Security-Policy.
func EntryFile(e *bundle.EntryInfo) (string, bool) {
	exts, ok := imageExts[e.Type]
	if !ok || bundle.CheckName(e.Name) != nil {
		return "", false
	}
	if slices.Contains(exts, strings.ToLower(path.Ext(e.Name))) {
		return e.Name, true
	}
	return e.Name + exts[0], true
}

// riskyExts are extensions a static host may serve with a type a browser
// renders or runs (HTML, XML, SVG, script). An index proof of an article
// whose ID ends in one is not written: its file could not be named
// otherwise, and a light reader falls back to a full sync for it.
var riskyExts = map[string]bool{
	".html": true, ".htm": true, ".xhtml": true, ".xht": true, ".shtml": true, ".svg": true, ".svgz": true,
	".xml": true, ".xsl": true, ".xslt": true, ".js": true, ".mjs": true, ".css": true, ".json": true,
	".pdf": true, ".swf": true, ".mht": true, ".mhtml": true, ".rdf": true, ".atom": true, ".rss": true,
	// Python's http.server (Debian's mime.types) serves these as XHTML,
	// JavaScript, XML or a +xml type, which a browser parses as XML, with
	// script in the XHTML namespace (red team, fourth session).
	".xhtm": true, ".es": true, ".xpdl": true, ".mml": true, ".smi": true, ".smil": true, ".sml": true,
	".xul": true, ".xsd": true, ".wml": true, ".wmls": true, ".kml": true, ".gml": true, ".xlf": true,
	".xspf": true, ".ttml": true, ".dae": true, ".x3d": true, ".x3dz": true, ".mpd": true, ".opf": true,
	".tei": true, ".wsdl": true, ".ink": true, ".inkml": true,
}

// riskyExt reports whether a file named with extension ext (lowercase,
// with its dot) may be served with a type a browser renders or runs: one
// of riskyExts, or any extension that ends in "xml" (.vxml, .ssml, ...:
// +xml types).
func riskyExt(ext string) bool { return riskyExts[ext] || strings.HasSuffix(ext, "xml") }

// DefaultIndexProofs is the number of each publisher's most recently
// changed articles that get a full index proof when Options.IndexProofs
// is zero: a constant cost per export, whatever the number of articles.
const DefaultIndexProofs = 100

// Options tune an export. A nil *Options, and every zero field, means
// the documented default.
type Options struct {
	// SiteName is shown in page headers and titles. Empty means
	// "samizdat mirror".
	SiteName string
	// Logger receives what is left out (bundles that do not verify,
	// entries not written). Nil means silent.
	Logger *slog.Logger
	// Limits bound bundles read from the store; nil means
	// bundle.DefaultLimits.
	Limits *bundle.Limits
	// IndexProofs is how many of each publisher's most recently changed
	// articles also get a full index proof. Every article has a split
	// proof (FORMAT.md "Split proofs"), whose files a re-export rewrites
	// only where the index changed; a full proof is new at every size, so
	// each costs a file (about 600 bytes, an S3 PUT) per export. A light
	// reader reads a split proof in one round trip more than a full one;
	// the browser verifier reads full proofs only. Zero means
	// DefaultIndexProofs; negative, none.
	IndexProofs int
	// RewritePages writes every page again, whether or not what it shows
	// changed (after an upgrade that changed how pages look).
	RewritePages bool
	// Memo, if set, is what the last export to the same sink left
	// (Stats.Memo): the export then neither lists the sink nor reads its
	// state file, and costs what changed rather than what the export
	// holds. It is valid only while nothing else writes to the sink, and
	// only for one export.
	Memo *Memo
}

// Memo is what an export knows when it completes: the objects the sink
// holds and the export's state. A process that exports the same store to
// the same sink again (samizdat mirror --export-static) hands it to the
// next export (Options.Memo).
type Memo struct {
	have  map[string]bool
	state *state
}

// Stats says what an export did.
type Stats struct {
	Publishers int
	Written    int   // objects written
	Bytes      int64 // bytes written
	Skipped    int   // objects already in place
	Deleted    int   // objects removed (index proofs of older sizes)
	Left       []string
	// Memo is what the next export to the same sink may start from
	// (Options.Memo); nil when the export failed.
	Memo *Memo
}

// exporter is one export's state.
type exporter struct {
	st    *store.Store
	sink  Sink
	opts  Options
	log   *slog.Logger
	have  map[string]bool // what the sink held when the export began
	state *state          // pages written by earlier exports
	next  *state          // pages as this export leaves them
	stats Stats
}

// Export writes every publisher the store holds to sink. It reads the
// store without writing it; a store written at the same time (a running
// mirror) is exported as of some moment, and the next export catches
// up. It stops at the first error writing to the sink, before any
// checkpoint that would point at what is missing; the next export
// completes what it left. Two exports to one sink must not run at once.
func Export(ctx context.Context, st *store.Store, sink Sink, opts *Options) (*Stats, error) {
	e := &exporter{st: st, sink: sink}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.SiteName == "" {
		e.opts.SiteName = "samizdat mirror"
	}
	e.log = e.opts.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if m := e.opts.Memo; m != nil {
		e.have, e.state = m.have, m.state
		e.opts.Memo = nil
	} else {
		if e.have, err = sink.List(ctx); err != nil {
			return nil, err
		}
		e.state = e.readState(ctx)
	}
	e.next = newState()
	ids, err := st.Publishers()
	if err != nil {
		return nil, err
	}
	var pubs []*pubExport
	for _, id := range ids {
		p, err := e.publisher(ctx, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			pubs = append(pubs, p)
		}
	}
	if err := e.site(ctx, pubs); err != nil {
		return nil, err
	}
	if err := sink.Sync(ctx); err != nil {
		return nil, err
	}
	for _, p := range pubs {
		if err := e.putRendered(ctx, Object{Name: p.dir + "checkpoint", Type: "text/plain; charset=utf-8", Cache: CacheCheckpoint}, p.pub.Checkpoint); err != nil {
			return nil, err
		}
	}
	if err := sink.Sync(ctx); err != nil {
		return nil, err
	}
	for _, p := range pubs {
		if err := e.pruneProofs(ctx, p); err != nil {
			return nil, err
		}
		if err := e.pruneSplit(ctx, p); err != nil {
			return nil, err
		}
	}
	// The state goes after the checkpoints: a checkpoint it lists as
	// written is in place.
	if err := e.writeState(ctx); err != nil {
		return nil, err
	}
	e.stats.Publishers = len(pubs)
	e.stats.Memo = &Memo{have: e.have, state: e.next}
	return &e.stats, nil
}

// put writes an object and counts it.
func (e *exporter) put(ctx context.Context, o Object, data []byte) error {
	if err := e.sink.Put(ctx, o, data); err != nil {
		return err
	}
	e.have[o.Name] = true
	e.stats.Written++
	e.stats.Bytes += int64(len(data))
	return nil
}

// putOnce writes an immutable object unless the sink holds it; data is
// called only when it is written.
func (e *exporter) putOnce(ctx context.Context, o Object, data func() ([]byte, error)) error {
	if e.have[o.Name] {
		e.stats.Skipped++
		return nil
	}
	b, err := data()
	if err != nil {
		return err
	}
	if err := e.put(ctx, o, b); err != nil {
		return err
	}
	e.have[o.Name] = true
	return nil
}

// putPage writes a page (or another file that changes: a checkpoint, a
// key statement, a mirror list) unless the sink holds it as an earlier
// export wrote it from the same inputs (key). render is called only when
// it is written.
func (e *exporter) putPage(ctx context.Context, o Object, key string, render func() ([]byte, error)) error {
	e.next.Pages[o.Name] = key
	if !e.opts.RewritePages && e.have[o.Name] && e.state.Pages[o.Name] == key {
		e.stats.Skipped++
		return nil
	}
	b, err := render()
	if err != nil {
		return err
	}
	return e.put(ctx, o, b)
}

// putRendered is putPage for a file whose key is its bytes.
func (e *exporter) putRendered(ctx context.Context, o Object, b []byte) error {
	return e.putPage(ctx, o, hashKey(b), func() ([]byte, error) { return b, nil })
}

func (e *exporter) leave(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.stats.Left = append(e.stats.Left, msg)
	e.log.Warn("static: " + msg)
}

// pubExport is one publisher being exported.
type pubExport struct {
	id    string
	dir   string // "p/ID/"
	pub   *store.Publisher
	trust *keys.Trust
	cp    *catalog.Checkpoint
	arts  []catalog.Article // current states set by leaves below cp.Size, newest first
	sums  map[bundle.Digest]*Summary

	byUpdated []int // indexes of live articles in arts, most recently updated first; made on first use

	nodes *nodeSet // the bucket roots of the split proofs written, nil if not all were
}

// publisher writes one publisher's log files, bundles, images, proofs
// and pages: everything but its checkpoint. A publisher without a
// checkpoint, or whose key statement or checkpoint does not verify, is
// left out (nil).
func (e *exporter) publisher(ctx context.Context, id string) (*pubExport, error) {
	sp, err := e.st.Publisher(id)
	if err != nil {
		return nil, err
	}
	p := &pubExport{id: id, dir: "p/" + id + "/", pub: sp, sums: map[bundle.Digest]*Summary{}}
	if sp.Checkpoint == nil {
		e.leave("publisher %s: no checkpoint yet", id)
		return nil, nil
	}
	if p.trust, err = keys.NewTrust(sp.Root, sp.Statement); err != nil {
		e.leave("publisher %s: key statement: %v", id, err)
		return nil, nil
	}
	if p.cp, err = catalog.OpenCheckpoint(sp.Checkpoint, p.trust); err != nil {
		e.leave("publisher %s: checkpoint: %v", id, err)
		return nil, nil
	}
	arts, err := e.st.Articles(id)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		if a.Leaf < p.cp.Size {
			p.arts = append(p.arts, a)
		}
	}
	if err := e.tiles(ctx, p); err != nil {
		return nil, err
	}
	for i := range p.arts {
		if err := ctx.Err(); err != nil {
			return nil, err // most articles' files are in place: nothing is called for them
		}
		if err := e.article(ctx, p, &p.arts[i]); err != nil {
			return nil, err
		}
	}
	text := Object{Type: "text/plain; charset=utf-8", Cache: CacheLog}
	text.Name = p.dir + "key-statement"
	if err := e.putRendered(ctx, text, sp.Statement); err != nil {
		return nil, err
	}
	switch ml, err := e.st.MirrorList(id); {
	case err == nil:
		text.Name = p.dir + "mirrors"
		if err := e.putRendered(ctx, text, ml); err != nil {
			return nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if err := e.proofs(ctx, p); err != nil {
		return nil, err
	}
	if err := e.splitProofs(ctx, p); err != nil {
		return nil, err
	}
	if err := e.publisherPages(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// tiles writes every tile of the log at the checkpoint's size that the
// sink lacks: full tiles once, and the partial ones at the right edge.
func (e *exporter) tiles(ctx context.Context, p *pubExport) error {
	for _, t := range tlog.NewTiles(catalog.TileHeight, 0, p.cp.Size) {
		for _, t := range []tlog.Tile{t, entriesOf(t)} {
			if t.L < 0 && t.H == 0 {
				continue
			}
			o := Object{Name: p.dir + catalog.TilePath(t), Type: "application/octet-stream", Cache: CacheImmutable}
			err := e.putOnce(ctx, o, func() ([]byte, error) { return e.st.Tile(p.id, t) })
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// entriesOf returns the entry bundle beside a level-0 hash tile, or a
// zero tile for a tile of another level.
func entriesOf(t tlog.Tile) tlog.Tile {
	if t.L != 0 {
		return tlog.Tile{L: -1}
	}
	t.L = -1
	return t
}

// pageKey returns the key of a page made from inputs: it changes when any
// of them does, or the pages' templates and style sheet do.
func pageKey(inputs ...string) string {
	h := sha256.New()
	h.Write([]byte(render.Fingerprint()))
	for _, in := range inputs {
		h.Write([]byte(strconv.Itoa(len(in)) + ":" + in))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func hashKey(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// articleDir is an article's directory in the export.
func articleDir(pub, id string) string { return "p/" + pub + "/a/" + id + "/" }

// article writes an article's bundle, images and page (or its withdrawn
// page), unless an earlier export wrote them.
func (e *exporter) article(ctx context.Context, p *pubExport, a *catalog.Article) error {
	page := Object{Name: articleDir(p.id, a.ID) + "index.html", Type: "text/html; charset=utf-8", Cache: CachePage}
	links := linksFrom(page.Name)
	if a.Retracted {
		return e.putPage(ctx, page, pageKey("gone", e.opts.SiteName, p.pub.Root.Name(), a.ID, strconv.FormatUint(a.Revision, 10), a.Time.String()), func() ([]byte, error) {
			var buf bytes.Buffer
			err := render.WriteGone(&buf, &render.GonePage{Common: e.common(links, "Withdrawn", ""),
				ID: a.ID, PubID: p.id, PubName: p.pub.Root.Name(), PubURL: links.publisher(p.id), Revision: a.Revision, Time: a.Time})
			return buf.Bytes(), err
		})
	}
	bundleName := "b/" + a.Digest.String()
	key := pageKey("article", e.opts.SiteName, p.pub.Root.Name(), a.Digest.String(), strconv.FormatInt(a.Leaf, 10))
	if sum := e.state.Summaries[a.Digest.String()]; sum != nil && e.have[bundleName] && e.have[page.Name] && e.state.Pages[page.Name] == key && !e.opts.RewritePages {
		p.sums[a.Digest] = sum
		e.next.Summaries[a.Digest.String()] = sum
		e.next.Pages[page.Name] = key
		e.stats.Skipped++
		return nil
	}
	data, err := e.st.Bundle(a.Digest)
	if errors.Is(err, store.ErrNotFound) {
		e.leave("article %s of publisher %s: the store lacks bundle %s", a.ID, p.id, a.Digest)
		return nil
	}
	if err != nil {
		return err
	}
	b, err := bundle.Open(data, p.trust, &bundle.OpenOptions{Limits: e.opts.Limits})
	if err == nil && b.Digest != a.Digest {
		err = fmt.Errorf("digest %s", b.Digest)
	}
	if err != nil {
		e.leave("article %s of publisher %s: bundle %s does not verify: %v", a.ID, p.id, a.Digest, err)
		return nil
	}
	body, err := b.Body()
	if err != nil {
		e.leave("article %s of publisher %s: bundle %s does not verify: %v", a.ID, p.id, a.Digest, err)
		return nil
	}
	files, err := e.images(ctx, p, b)
	if err != nil {
		return err
	}
	err = e.putOnce(ctx, Object{Name: bundleName, Type: "application/octet-stream", Cache: CacheImmutable}, func() ([]byte, error) { return data, nil })
	if err != nil {
		return err
	}
	m := b.Manifest
	sum := &Summary{Title: m.Title, Language: m.Language, Created: m.Created, Updated: m.Updated, Authors: m.Authors}
	p.sums[a.Digest] = sum
	e.next.Summaries[a.Digest.String()] = sum
	return e.putPage(ctx, page, key, func() ([]byte, error) {
		title := m.Title
		if title == "" {
			title = m.ID
		}
		clean := render.BodyLinked(b, body, func(en *bundle.EntryInfo) string { return files[en.Name] })
		var buf bytes.Buffer
		err := render.WriteArticle(&buf, &render.ArticlePage{Common: e.common(links, title, ""),
			Title: title, Lang: m.Language, Authors: m.Authors, Body: template.HTML(clean),
			PubID: p.id, PubName: p.pub.Root.Name(), PubURL: links.publisher(p.id), Signer: b.Signer.String(),
			Revision: m.Revision, Created: m.Created, Updated: m.Updated, Digest: b.Digest, BundleURL: links.root + bundleName,
			Leaf: a.Leaf, Canonical: m.CanonicalURL})
		return buf.Bytes(), err
	})
}

// images writes a verified bundle's image entries under e/DIGEST/ with
// safe names (EntryFile), and returns the URL of each written entry
// relative to the article's page, by entry name.
func (e *exporter) images(ctx context.Context, p *pubExport, b *bundle.Bundle) (map[string]string, error) {
	dir := "e/" + b.Digest.String() + "/"
	files := map[string]string{}
	taken := map[string]bool{}
	for i := 1; i < len(b.Manifest.Entries); i++ {
		en := &b.Manifest.Entries[i]
		name, ok := EntryFile(en)
		if !ok {
			e.leave("bundle %s: entry %q of type %s is not written (a static host would serve it with a type that can run script)", b.Digest, en.Name, en.Type)
			continue
		}
		if clash(taken, name) {
			e.leave("bundle %s: entry %q is not written: its file %q clashes with another entry's", b.Digest, en.Name, name)
			continue
		}
		taken[name] = true
		err := e.putOnce(ctx, Object{Name: dir + name, Type: en.Type, Cache: CacheImmutable}, func() ([]byte, error) { return b.Entry(i) })
		if err != nil {
			if be := (*bundle.Error)(nil); errors.As(err, &be) {
				e.leave("bundle %s: entry %q does not verify: %v", b.Digest, en.Name, err)
				continue
			}
			return nil, err
		}
		files[en.Name] = "../../../../" + dir + name
	}
	return files, nil
}

// clash reports whether name is taken, or is a directory of a taken name
// or has one as its directory.
func clash(taken map[string]bool, name string) bool {
	if taken[name] {
		return true
	}
	for t := range taken {
		if strings.HasPrefix(t, name+"/") || strings.HasPrefix(name, t+"/") {
			return true
		}
	}
	return false
}
