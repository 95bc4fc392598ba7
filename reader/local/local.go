// Package local shows what a reader.Client verified: as saved pages (for
// samizdat fetch) and as a small web server on the reader's own machine
// (for samizdat read). Every page says who signed the article and as of
// which checkpoint; stale data and failures are explained in plain words.
// Article bodies are sanitised as the mirrors' pages are, and pages carry
// a Content-Security-Policy that forbids script.
package local

import (
	"bytes"
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

var funcs = template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"ago":  ago,
	"dir":  render.Direction,
	"lang": render.LangAttr,
}

var pages = template.Must(template.New("").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="{{if .Saved}}no-referrer{{else}}same-origin{{end}}">
{{if .Saved}}<meta http-equiv="Content-Security-Policy" content="{{.CSP}}"><style>{{.Style}}</style>{{else}}<link rel="stylesheet" href="/style.css">{{end}}
<title>{{.Title}}</title></head><body>
<header class="site">{{if .Saved}}<span>samizdat: saved copy</span>{{else}}<a href="/">samizdat reader</a><form method="post" action="/refresh"><button>check mirrors now</button></form>{{end}}</header>
{{end}}

{{define "provenance"}}
<p class="{{if .Stale}}stale{{else}}fresh{{end}}">{{if .Stale}}Out of date: the newest list of articles any mirror could prove is from {{time .Checkpoint.Time}}, {{ago .Age}} ago. Newer articles or corrections may exist that no mirror you can reach has; it is shown because it is the newest that could be verified.{{else}}Current: verified against the publisher's log as of {{time .Checkpoint.Time}} ({{ago .Age}} ago).{{end}}</p>
{{end}}

{{define "article"}}{{template "head" .}}
<main>{{with .Alarm}}<p class="alarm">{{.}}</p>{{end}}<article lang="{{lang .Manifest.Language}}" dir="{{dir .Manifest.Language}}">
<h1>{{.Manifest.Title}}</h1>
<p class="byline">{{with .Manifest.Authors}}By {{range $i, $a := .}}{{if $i}}, {{end}}{{$a}}{{end}}. {{end}}Published {{time .Manifest.Created}}{{if ne .Manifest.Created .Manifest.Updated}}, updated {{time .Manifest.Updated}}{{end}}.</p>
{{.Body}}
</article>
<aside class="provenance">
{{template "provenance" .}}
{{with .Problem}}<p class="stale">{{.}}</p>{{end}}
<dl>
<dt>Verified</dt><dd>Signed by {{.Signer}}, a key the publisher {{.Publisher}} delegated; every byte checked.</dd>
<dt>Article</dt><dd><code>{{.Manifest.ID}}</code>, revision {{.Manifest.Revision}}, entry {{.Article.Leaf}} of the publisher's log</dd>
<dt>Checkpoint</dt><dd>{{.Checkpoint.Size}} entries, {{time .Checkpoint.Time}}</dd>
<dt>Bundle</dt><dd><code>{{.Digest}}</code></dd>
{{with .Mirror}}<dt>From mirror</dt><dd>{{.}}</dd>{{end}}
{{with .Manifest.CanonicalURL}}<dt>Original</dt><dd>{{.}} (the publisher's own site; it may be blocked)</dd>{{end}}
</dl></aside></main></body></html>
{{end}}

{{define "index"}}{{template "head" .}}
<main>{{with .Alarm}}<p class="alarm">{{.}}</p>{{end}}<h1>{{.Publisher}}</h1>
{{with .Checkpoint}}{{template "provenance" $}}{{end}}
{{with .Problem}}<p class="stale">{{.}}</p>{{end}}
{{if .Articles}}<ul class="articles">{{range .Articles}}<li>{{if .Retracted}}<span class="withdrawn">{{.Title}}</span> (withdrawn by the publisher){{else}}<a href="/a/{{.ID}}/">{{.Title}}</a>{{if not .Cached}} <span class="meta">(not yet downloaded)</span>{{end}}{{end}}</li>{{end}}</ul>{{else}}<p>No articles yet.</p>{{end}}
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
	Manifest  *bundle.Manifest
	Body      template.HTML
	Signer    string
	Publisher string
	Digest    string
	Problem   string
	Alarm     string
}

func newArticlePage(r *reader.Result, base string, saved bool) (*articlePage, error) {
	body, err := render.Article(r.Bundle, base)
	if err != nil {
		return nil, err
	}
	m := r.Bundle.Manifest
	p := &articlePage{
		head:      head{Title: m.Title, Saved: saved},
		Result:    r,
		Manifest:  m,
		Body:      template.HTML(body), // sanitised by RenderArticle
		Signer:    r.Bundle.Signer.Name() + " (" + r.Bundle.Signer.ID()[:16] + "…)",
		Publisher: r.Trust.Root().Name() + " (" + r.Publisher + ")",
		Digest:    r.Bundle.Digest.String(),
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
