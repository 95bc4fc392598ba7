// Package local shows what a reader.Client verified: as saved pages (for
// samizdat fetch) and as a small web server on the reader's own machine
// (for samizdat read). Every page says who signed the article and as of
// which checkpoint; stale data and failures are explained in plain words.
// Article bodies are sanitised as the mirrors' pages are, and pages carry
// a Content-Security-Policy that forbids script.
package local

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/render"
)

// styleCSS is the mirror's style sheet, so that the reader's pages look
// alike, and a rule for the reader's one button.
var styleCSS = append(slices.Clip(render.StyleSheet()), `
header.site form { margin: 0; }
header.site button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
`...)

// pageCSP forbids script, plugins, frames, loads from elsewhere and forms
// that post elsewhere (the one form asks the mirrors now).
const pageCSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// savedCSP is the policy of saved pages, which carry their style inline.
const savedCSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

var funcs = func() template.FuncMap {
	f := render.Funcs()
	f["ago"] = ago
	return f
}()

var pages = template.Must(template.New("").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="{{if .Saved}}no-referrer{{else}}same-origin{{end}}">
{{if .Saved}}<meta http-equiv="Content-Security-Policy" content="{{.CSP}}"><style>{{.Style}}</style>{{else}}<link rel="stylesheet" href="/style.css">{{end}}
<title>{{.Title}}</title></head><body>
<header class="site">{{if .Saved}}<span>samizdat: saved copy</span>{{else}}<a href="/">samizdat reader</a><form method="post" action="/refresh"><button>check mirrors now</button></form>{{end}}</header>
{{end}}

{{define "status"}}<p class="{{if .Old}}stale{{else}}fresh{{end}}" role="status">{{.Text}}</p>
{{end}}

{{define "article"}}{{template "head" .}}
<main>{{with .Alarm}}<p class="alarm">{{.}}</p>{{end}}{{if .Status.Old}}{{template "status" .Status}}{{end}}<article lang="{{lang .Manifest.Language}}" dir="{{dir .Manifest.Language}}">
<h1>{{.Manifest.Title}}</h1>
<p class="byline">{{range $i, $a := .Manifest.Authors}}{{if $i}}{{comma $.Manifest.Language}}{{end}}<bdi>{{$a}}</bdi>{{end}}{{if .Manifest.Authors}} · {{end}}<time datetime="{{iso .Manifest.Created}}">{{date .Manifest.Created}}</time></p>
{{.Body}}
</article>
<aside class="provenance" lang="en" dir="ltr">
<h2>Provenance</h2>
{{if not .Status.Old}}{{template "status" .Status}}{{end}}
<dl>
<dt>Signed by</dt><dd><bdi>{{.SignerName}}</bdi> (key <code>{{.SignerID}}</code>), a key the publisher <bdi>{{.PubName}}</bdi> (<code>{{.Publisher}}</code>) delegated; every byte checked.</dd>
<dt>Published</dt><dd><time datetime="{{iso .Manifest.Created}}">{{time .Manifest.Created}}</time>{{if ne .Manifest.Created .Manifest.Updated}}, updated <time datetime="{{iso .Manifest.Updated}}">{{time .Manifest.Updated}}</time>{{end}}</dd>
<dt>Article</dt><dd><code>{{.Manifest.ID}}</code>, revision {{.Manifest.Revision}}, entry {{.Article.Leaf}} of the publisher's log</dd>
<dt>Checkpoint</dt><dd>{{.Checkpoint.Size}} entries, {{time .Checkpoint.Time}}</dd>
<dt>Bundle</dt><dd><code>{{.Digest}}</code></dd>
{{with .Mirror}}<dt>From mirror</dt><dd>{{.}}</dd>{{end}}
{{with .Manifest.CanonicalURL}}<dt>Original</dt><dd>{{.}} (the publisher's own site; it may be blocked)</dd>{{end}}
</dl></aside></main></body></html>
{{end}}

{{define "index"}}{{template "head" .}}
<main>{{with .Alarm}}<p class="alarm">{{.}}</p>{{end}}<h1 dir="auto">{{.PubName}}</h1>
<p class="meta">Publisher key ID <code>{{.Publisher}}</code></p>
{{template "status" .Status}}
{{if .Articles}}<ul class="articles">{{range .Articles}}<li>{{if .Retracted}}<span class="withdrawn" lang="{{lang .Lang}}" dir="{{dir .Lang}}">{{.Title}}</span> <span class="meta">withdrawn by the publisher</span>{{else}}<a href="/a/{{.ID}}/" lang="{{lang .Lang}}" dir="{{dir .Lang}}">{{.Title}}</a> <span class="meta">{{if .Cached}}{{$l := .Lang}}<time datetime="{{iso .Created}}">{{date .Created}}</time>{{with langname $l}} · <span lang="{{lang $l}}" dir="{{dir $l}}">{{.}}</span>{{end}}{{else}}not yet downloaded{{end}}</span>{{end}}</li>{{end}}</ul>{{else}}<p>No articles yet.</p>{{end}}
</main></body></html>
{{end}}

{{define "problem"}}{{template "head" .}}
<main><h1>{{.Title}}</h1><p class="stale">{{.Problem}}</p>
{{with .Details}}<p>What each mirror did:</p><ul>{{range .}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<p><a href="/">Back to the list</a></p></main></body></html>
{{end}}
`))

// head is what every page's head needs.
type head struct {
	Title string
	Saved bool
	CSP   string
	Style template.CSS
}

// articlePage is an article as shown.
type articlePage struct {
	head
	*reader.Result
	Manifest   *bundle.Manifest
	Body       template.HTML
	SignerName string
	SignerID   string // the signing key's ID, cut short
	PubName    string
	Digest     string
	Status     status
	Alarm      string
}

// status is the one line that says how far what a page shows can be
// trusted, in plain words.
type status struct {
	Text string
	Old  bool // it may be out of date
}

// statusOf says what a verified result shows: current, possibly out of
// date (a stale checkpoint), or the copy saved earlier because the last
// attempt to reach the mirrors failed with failed. what names what is
// shown ("This article", "This list"); saved marks a page saved to disk,
// which is read later, when "ago" no longer holds.
func statusOf(r *reader.Result, failed error, what string, saved bool) status {
	when := time.Time{}
	if r.Checkpoint != nil {
		when = r.Checkpoint.Time
	}
	switch {
	case failed != nil:
		return status{Old: true, Text: what + " is the copy saved earlier: " + plainReason(failed) + ", so a newer version may exist. It was verified against the publisher's log as of " + when.UTC().Format("2006-01-02 15:04 UTC") + "."}
	case r.Stale:
		return status{Old: true, Text: "Out of date: " + strings.ToLower(what[:1]) + what[1:] + " was verified, but the newest publisher's log any mirror could prove is from " + when.UTC().Format("2006-01-02 15:04 UTC") + ", " + ago(r.Age) + " ago. Newer articles or corrections may exist that no mirror you can reach has."}
	case saved:
		return status{Text: what + " was verified when it was saved: signed by the publisher, and current in the publisher's log as of " + when.UTC().Format("2006-01-02 15:04 UTC") + "."}
	}
	return status{Text: what + " is verified on this computer: signed by the publisher, and current in the publisher's log as of " + when.UTC().Format("2006-01-02 15:04 UTC") + " (" + ago(r.Age) + " ago)."}
}

// plainReason says in plain words why the mirrors gave nothing verified.
func plainReason(err error) string {
	var re *reader.Error
	switch {
	case !errors.As(err, &re):
		return "the mirrors could not be reached just now"
	case len(re.Failures) == 0:
		return "no mirror answered in time"
	case len(re.Failures) == 1 && len(re.Untried) == 0:
		return "the one mirror tried gave nothing that could be verified"
	}
	return fmt.Sprintf("none of the %d mirrors tried gave anything that could be verified", len(re.Failures)+len(re.Untried))
}

func newArticlePage(r *reader.Result, base string, saved bool) (*articlePage, error) {
	body, err := render.Article(r.Bundle, base)
	if err != nil {
		return nil, err
	}
	m := r.Bundle.Manifest
	p := &articlePage{
		head:       head{Title: m.Title, Saved: saved},
		Result:     r,
		Manifest:   m,
		Body:       template.HTML(body), // sanitised by render.Article
		SignerName: r.Bundle.Signer.Name(),
		SignerID:   r.Bundle.Signer.ID()[:16] + "…",
		PubName:    r.Trust.Root().Name(),
		Digest:     r.Bundle.Digest.String(),
		Status:     statusOf(r, nil, "This article", saved),
	}
	if saved {
		p.CSP, p.Style = savedCSP, template.CSS(styleCSS)
	}
	return p, nil
}

// SavedImages are the only entries WriteArticle writes besides the page,
// by the extension their name must end in (in any case) and the type they
// must have. A file opened from the disk is typed by its extension alone,
// with no policy to stop what it runs, so a name and a type must agree: an
// entry "evil.html" typed image/png would open as a page and run its
// script. SVG, which runs script when opened on its own, is left out.
var SavedImages = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".avif": "image/avif",
}

// savedPage is the name of the page WriteArticle writes.
const savedPage = "index.html"

// Skipped is an entry of a bundle that WriteArticle did not write.
type Skipped struct {
	Name, Type string // as the manifest gives them
	Reason     string
}

func (s Skipped) String() string { return fmt.Sprintf("%q (%s): %s", s.Name, s.Type, s.Reason) }

// savable says why the entry named name of type typ is not written in a
// saved copy, or "" if it is. names are every entry's name.
func savable(name, typ string, names map[string]bool) string {
	want, ok := SavedImages[strings.ToLower(path.Ext(name))]
	switch {
	case typ == "image/svg+xml":
		return "SVG images are not saved: opened on their own they run script"
	case !ok:
		return "not named as an image (.png, .jpg, .jpeg, .gif, .webp or .avif): opened from the disk it would be taken for what its name says"
	case typ != want:
		return fmt.Sprintf("named %s but typed %s: opened from the disk it would be taken for a %s", path.Ext(name), typ, want)
	}
	// A folder named like the page or like another entry would stop one
	// of them from being written.
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if strings.EqualFold(d, savedPage) || names[d] {
			return "its folder " + d + " has the name of another file"
		}
	}
	return ""
}

// WriteArticle saves a verified article in dir: index.html, a sanitised
// page that says who signed it and as of when, and the bundle's images
// under their entry names, only those SavedImages allows (the rest are
// returned as skipped). Nothing is written outside dir, even through a
// symbolic link already there. It returns the files written.
func WriteArticle(dir string, r *reader.Result) (wrote []string, skipped []Skipped, err error) {
	if r.Bundle == nil {
		return nil, nil, fmt.Errorf("local: no article to write")
	}
	p, err := newArticlePage(r, "", true)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "article", p); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	write := func(name string, data []byte) error {
		// bundle.CheckName keeps names relative, without "..", and the
		// root keeps every path, links included, inside dir.
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("local: %w", err)
			}
		}
		tmp := name + ".tmp"
		if err := root.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("local: %w", err)
		}
		if err := root.Rename(tmp, name); err != nil {
			root.Remove(tmp)
			return fmt.Errorf("local: %w", err)
		}
		wrote = append(wrote, filepath.Join(dir, filepath.FromSlash(name)))
		return nil
	}
	entries := r.Bundle.Manifest.Entries
	names := make(map[string]bool, len(entries))
	for _, e := range entries[1:] {
		names[e.Name] = true
	}
	for i, e := range entries {
		if i == 0 {
			continue // the body: index.html shows it
		}
		if why := savable(e.Name, e.Type, names); why != "" {
			skipped = append(skipped, Skipped{Name: e.Name, Type: e.Type, Reason: why})
			continue
		}
		data, err := r.Bundle.Entry(i)
		if err != nil {
			return wrote, skipped, err
		}
		if err := write(e.Name, data); err != nil {
			return wrote, skipped, err
		}
	}
	if err := write(savedPage, buf.Bytes()); err != nil {
		return wrote, skipped, err
	}
	return wrote, skipped, nil
}

// ago says how long d is in words.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future by " + ago(-d)
	case d < 2*time.Minute:
		return plural(int(d/time.Second), "second")
	case d < 2*time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
