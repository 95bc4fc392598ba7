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
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/render"
)

// styleCSS is the mirror's style sheet: the reader's pages look alike.
var styleCSS = render.StyleSheet()

// pageCSP forbids script, plugins, frames and loads from elsewhere.
const pageCSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

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
<meta name="referrer" content="no-referrer">
{{if .Saved}}<meta http-equiv="Content-Security-Policy" content="{{.CSP}}"><style>{{.Style}}</style>{{else}}<link rel="stylesheet" href="/style.css">{{end}}
<title>{{.Title}}</title></head><body>
<header class="site">{{if .Saved}}<span>samizdat: saved copy</span>{{else}}<a href="/">samizdat reader</a><a href="/refresh">check mirrors now</a>{{end}}</header>
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

// WriteArticle saves a verified article in dir: index.html, a sanitised
// page that says who signed it and as of when, and the bundle's images
// under their entry names, but SVG images (which could run script when
// opened on their own). It returns the files written.
func WriteArticle(dir string, r *reader.Result) ([]string, error) {
	if r.Bundle == nil {
		return nil, fmt.Errorf("local: no article to write")
	}
	p, err := newArticlePage(r, "", true)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "article", p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var wrote []string
	write := func(name string, data []byte) error {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		wrote = append(wrote, path)
		return nil
	}
	for i, e := range r.Bundle.Manifest.Entries {
		// SVG is left out: opened on its own from the disk (the page's
		// links may lead there) it runs its script, with no policy to
		// stop it.
		if i == 0 || !bundle.ImageTypes[e.Type] || e.Type == "image/svg+xml" || strings.HasPrefix(e.Name, "index.") {
			continue
		}
		// bundle.CheckName keeps names relative, without "..".
		data, err := r.Bundle.Entry(i)
		if err != nil {
			return wrote, err
		}
		if err := write(e.Name, data); err != nil {
			return wrote, err
		}
	}
	if err := write("index.html", buf.Bytes()); err != nil {
		return wrote, err
	}
	return wrote, nil
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
