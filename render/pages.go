package render

import (
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
)

// The pages a mirror shows (index, publisher, article, withdrawn article,
// status, error) and that a static export writes as files. The callers
// fill the data below, every link in it included: a mirror gives its
// absolute routes, a static export paths relative to the page, so one
// set of templates serves both.
var pages = template.Must(template.New("pages").Funcs(Funcs()).Parse(pagesText))

const pagesText = `
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">{{if .MetaCSP}}
<meta http-equiv="Content-Security-Policy" content="{{.MetaCSP}}">{{end}}
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.PageTitle}} · {{.Site}}</title>
<link rel="stylesheet" href="{{.Style}}">
{{- if .Feed}}
<link rel="alternate" type="application/atom+xml" href="{{.Feed}}">{{end}}
</head>
<body>
<header class="site"><a href="{{.Home}}">{{.Site}}</a>{{if .Status}} <nav><a href="{{.Status}}">status</a></nav>{{end}}</header>
<main>
{{end}}

{{define "foot"}}</main>
<footer>Served by a samizdat mirror. Articles are signed by their publishers; this mirror only copies them.</footer>
</body>
</html>
{{end}}

{{define "alarms"}}{{range .}}<p class="alarm" role="alert">⚠ {{.}}</p>
{{end}}{{end}}

{{define "fresh"}}<p class="fresh{{if .Stale}} stale{{end}}">{{if .Size}}Publisher's log: {{.Size}} entries, checkpoint signed <time datetime="{{iso .Time}}">{{time .Time}}</time>{{if .Age}} ({{.Age}}){{end}}.{{else}}No checkpoint from this publisher yet.{{end}}</p>
{{template "alarms" .Alarms}}{{end}}

{{define "pubref"}}<a href="{{.URL}}"><bdi>{{.Name}}</bdi></a>{{end}}

{{define "item"}}<a href="{{.URL}}" lang="{{lang .Lang}}" dir="{{dir .Lang}}">{{.Title}}</a>{{end}}

{{define "itemlang"}}{{with langname .Lang}} · <span lang="{{lang $.Lang}}" dir="{{dir $.Lang}}">{{.}}</span>{{end}}{{end}}

{{define "index"}}{{template "head" .}}
<h1>{{.Site}}</h1>
<section>
<h2>Publishers</h2>
{{if not .Publishers}}<p>This mirror carries no publishers yet.</p>{{end}}
<ul class="publishers">
{{range .Publishers}}<li>{{if .Held}}{{template "pubref" .}}{{else}}<bdi>{{.Name}}</bdi>{{end}} <code class="id">{{.ID}}</code> · {{if .Held}}{{.Articles}} articles{{template "fresh" .Fresh}}{{else}}not yet copied to this mirror{{end}}</li>
{{end}}</ul>
</section>
<section>
<h2>Recent articles</h2>
{{if .Languages}}<nav class="langs" aria-label="Languages"><a href="{{.AllURL}}"{{if not .Lang}} aria-current="page"{{end}}>All languages</a>
{{range .Languages}}<a href="{{.URL}}" lang="{{.Tag}}" dir="{{dir .Tag}}"{{if .Current}} aria-current="page"{{end}}>{{.Name}}</a>
{{end}}</nav>{{end}}
{{if not .Recent}}<p>{{if .Lang}}No recent articles in this language.{{else}}No articles yet.{{end}}</p>{{end}}
<ul class="articles">
{{range .Recent}}<li>{{template "item" .}} <span class="meta"><time datetime="{{iso .Created}}">{{date .Created}}</time>{{if ne (date .Created) (date .Updated)}} (updated <time datetime="{{iso .Updated}}">{{date .Updated}}</time>){{end}}{{template "itemlang" .}} · <bdi>{{.Publisher}}</bdi></span></li>
{{end}}</ul>
</section>
{{template "foot" .}}{{end}}

{{define "publisher"}}{{template "head" .}}
<h1 dir="auto">{{.Name}}</h1>
<dl class="provenance">
<dt>Publisher key ID</dt><dd><code>{{.ID}}</code></dd>
<dt>Root key</dt><dd><code>{{.Root}}</code></dd>
<dt>Key statement</dt><dd>version {{.StatementVersion}} (<a href="{{.StatementURL}}">signed statement</a>)</dd>
<dt>Feed</dt><dd><a href="{{.Feed}}">Atom</a></dd>
</dl>
{{if not .NoFreshness}}{{template "fresh" .Fresh}}{{end}}
<ul class="articles">
{{range .List}}<li>{{if .Retracted}}<span class="withdrawn">{{.ID}} — withdrawn by the publisher on <time datetime="{{iso .Time}}">{{time .Time}}</time></span>{{else if .Title}}{{template "item" .}} <span class="meta"><time datetime="{{iso .Created}}">{{date .Created}}</time>{{if ne (date .Created) (date .Updated)}} (updated <time datetime="{{iso .Updated}}">{{date .Updated}}</time>){{end}}{{template "itemlang" .}} · revision {{.Revision}}</span>{{else}}<a href="{{.URL}}">{{.ID}}</a> <span class="meta">(cannot be verified on this mirror)</span>{{end}}</li>
{{end}}</ul>
{{if .Next}}<p><a href="{{.Next}}" rel="next">Older articles</a></p>{{end}}
{{template "foot" .}}{{end}}

{{define "article"}}{{template "head" .}}
<article lang="{{lang .Lang}}" dir="{{dir .Lang}}">
<h1>{{.Title}}</h1>
<p class="byline">{{range $i, $a := .Authors}}{{if $i}}{{comma $.Lang}}{{end}}<bdi>{{$a}}</bdi>{{end}}{{if .Authors}} · {{end}}<time datetime="{{iso .Created}}">{{date .Created}}</time></p>
<div class="body">
{{.Body}}
</div>
</article>
<aside class="provenance" lang="en" dir="ltr">
<h2>Provenance</h2>
<p class="check">This mirror checked the publisher's signature on this article before showing it. Your browser checked nothing: a dishonest mirror could show something else here. To check it yourself, read it with <code>samizdat read</code>, which verifies every article on your own computer.</p>
<dl>
<dt>Signed by</dt><dd><a href="{{.PubURL}}"><bdi>{{.PubName}}</bdi></a>, publisher key ID <code>{{.PubID}}</code></dd>
<dt>Signing key</dt><dd><bdi><code>{{.Signer}}</code></bdi></dd>
<dt>Revision</dt><dd>{{.Revision}}</dd>
<dt>Published</dt><dd><time datetime="{{iso .Created}}">{{time .Created}}</time></dd>
<dt>Updated</dt><dd><time datetime="{{iso .Updated}}">{{time .Updated}}</time></dd>
<dt>Bundle</dt><dd><a href="{{.BundleURL}}"><code>{{.Digest}}</code></a> (log entry {{.Leaf}})</dd>
{{if .Canonical}}<dt>Original</dt><dd><a href="{{.Canonical}}" rel="noreferrer nofollow">{{.Canonical}}</a></dd>{{end}}
</dl>
{{.Fresh}}
</aside>
{{template "foot" .}}{{end}}

{{define "gone"}}{{template "head" .}}
<h1>Withdrawn</h1>
<p>The article <code>{{.ID}}</code> was withdrawn by its publisher, <a href="{{.PubURL}}"><bdi>{{.PubName}}</bdi></a> (publisher key ID <code>{{.PubID}}</code>), on <time datetime="{{iso .Time}}">{{time .Time}}</time>. Its revision {{.Revision}} is no longer served.</p>
{{template "foot" .}}{{end}}

{{define "status"}}{{template "head" .}}
<h1>Status</h1>
<table>
<thead><tr><th>Publisher</th><th>Key ID</th><th>Log size</th><th>Checkpoint time</th><th>Age</th><th>Alarms</th></tr></thead>
<tbody>
{{range .Publishers}}<tr{{if .Fresh.Alarms}} class="alarm"{{end}}><td>{{if .Held}}{{template "pubref" .}}{{else}}<bdi>{{.Name}}</bdi>{{end}}</td><td><code>{{.ID}}</code></td><td>{{if .Held}}{{.Fresh.Size}}{{else}}not held{{end}}</td><td>{{if .Fresh.Size}}<time datetime="{{iso .Fresh.Time}}">{{time .Fresh.Time}}</time>{{end}}</td><td>{{if .Fresh.Size}}{{.Fresh.Age}}{{end}}</td><td>{{range .Fresh.Alarms}}<p class="alarm">{{.}}</p>{{else}}none{{end}}</td></tr>
{{end}}</tbody>
</table>
{{template "foot" .}}{{end}}

{{define "errorPage"}}{{template "head" .}}
<h1>{{.Code}} {{.Status}}</h1>
<p>{{.Message}}</p>
{{template "foot" .}}{{end}}
`

// Common is what every page's head and foot need. Every URL is as the
// page links it: absolute on a mirror, relative to the page in a static
// export.
type Common struct {
	Site      string
	PageTitle string
	// Feed is the URL of the Atom feed the page offers, or "".
	Feed string
	// Home and Style are the URLs of the index page and the style sheet.
	Home, Style string
	// Status is the URL of the status page, or "" for none (a static
	// export has none).
	Status string
	// MetaCSP, if set, is put in a <meta http-equiv> element: for pages
	// served by hosts that send no Content-Security-Policy header.
	MetaCSP string
}

// Freshness says how old a publisher's checkpoint is.
type Freshness struct {
	Size int64
	Time time.Time
	// Age is how long ago Time was, for people; "" shows none (a static
	// page is read long after it was made).
	Age    string
	Stale  bool
	Alarms []string
}

// PublisherInfo is one publisher as the index and status pages list it.
type PublisherInfo struct {
	ID, Name, URL string
	Held          bool
	Articles      int
	Fresh         Freshness
}

// Item is one article in a list.
type Item struct {
	ID, Title, Lang, URL, Publisher string
	Revision                        uint64
	Updated, Created, Time          time.Time
	Authors                         []string
	Retracted                       bool
}

// LanguageLink is one language the index offers to filter by.
type LanguageLink struct {
	Tag, Name string // the primary language subtag, and its name
	URL       string
	Current   bool
}

// IndexPage is the site's index: publishers and recent articles.
type IndexPage struct {
	Common
	Publishers []PublisherInfo
	Recent     []Item
	Languages  []LanguageLink
	AllURL     string // the index in all languages
	Lang       string // the language shown, or "" for all
}

// PublisherPage is one page of a publisher's list of articles.
type PublisherPage struct {
	Common
	ID, Name, Root   string
	StatementVersion uint64
	StatementURL     string
	Fresh            Freshness
	NoFreshness      bool // leave Fresh out (a static export's older pages)
	List             []Item
	Next             string // the next page's URL, or ""
}

// ArticlePage is an article, its provenance and, in Fresh, what the
// caller puts after it (a mirror's freshness fragment, or a marker it
// replaces later).
type ArticlePage struct {
	Common
	Title, Lang    string
	Authors        []string
	Body           template.HTML // sanitised by Body or Article
	PubID, PubName string
	PubURL, Signer string
	Revision       uint64
	Created        time.Time
	Updated        time.Time
	Digest         bundle.Digest
	BundleURL      string
	Leaf           int64
	Canonical      string
	Fresh          template.HTML
}

// GonePage says that an article was withdrawn.
type GonePage struct {
	Common
	ID, PubID, PubName, PubURL string
	Revision                   uint64
	Time                       time.Time
}

// StatusPage lists the publishers and how fresh each log is.
type StatusPage struct {
	Common
	Publishers []PublisherInfo
}

// ErrorPage is an HTTP error shown to people.
type ErrorPage struct {
	Common
	Code    int
	Status  string
	Message string
}

// WriteIndex writes the index page.
func WriteIndex(w io.Writer, p *IndexPage) error { return pages.ExecuteTemplate(w, "index", p) }

// WritePublisher writes a publisher's page.
func WritePublisher(w io.Writer, p *PublisherPage) error {
	return pages.ExecuteTemplate(w, "publisher", p)
}

// WriteArticle writes an article page.
func WriteArticle(w io.Writer, p *ArticlePage) error { return pages.ExecuteTemplate(w, "article", p) }

// WriteGone writes the page of a withdrawn article.
func WriteGone(w io.Writer, p *GonePage) error { return pages.ExecuteTemplate(w, "gone", p) }

// WriteStatus writes the status page.
func WriteStatus(w io.Writer, p *StatusPage) error { return pages.ExecuteTemplate(w, "status", p) }

// WriteError writes an error page.
func WriteError(w io.Writer, p *ErrorPage) error { return pages.ExecuteTemplate(w, "errorPage", p) }

// WriteFreshness writes the fragment that says how fresh a publisher's
// log is, as the index and publisher pages show it.
func WriteFreshness(w io.Writer, f *Freshness) error { return pages.ExecuteTemplate(w, "fresh", f) }

// Fingerprint changes when the pages' templates or style sheet do: a
// static export writes its pages again when it changed.
func Fingerprint() string { return fingerprint }

var fingerprint = func() string {
	h := sha256.New()
	h.Write([]byte(pagesText))
	h.Write(styleCSS)
	return hex.EncodeToString(h.Sum(nil)[:16])
}()
