package source

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/samizdat-news/samizdat/bundle"
)

// fromHTML fills metadata from the document and returns image references.
func (a *Article) fromHTML(body []byte) []string {
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		a.Warnings = append(a.Warnings, "HTML did not parse; no metadata derived")
		return nil
	}
	var refs []string
	var title, ogTitle string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, at := range n.Attr {
					if strings.EqualFold(at.Key, k) {
						return at.Val
					}
				}
				return ""
			}
			switch n.DataAtom {
			case atom.Html:
				if a.Meta.Language == "" {
					a.Meta.Language = attr("lang")
				}
			case atom.Title:
				// The document's title, not an SVG image's.
				if title == "" && n.Namespace == "" && n.FirstChild != nil {
					title = n.FirstChild.Data
				}
			case atom.Meta:
				val := attr("content")
				keys := []string{strings.ToLower(attr("property"))}
				if name := strings.ToLower(attr("name")); name != keys[0] {
					keys = append(keys, name)
				}
				for _, key := range keys {
					switch key {
					case "og:title":
						ogTitle = val
					case "og:url":
						if a.Meta.CanonicalURL == "" {
							a.Meta.CanonicalURL = val
						}
					case "author", "article:author":
						if v := clean(val, bundle.MaxAuthorLen); v != "" && !strings.HasPrefix(v, "http") && len(a.Meta.Authors) < bundle.MaxAuthors {
							a.Meta.Authors = append(a.Meta.Authors, v)
						}
					case "article:published_time", "date", "dc.date", "pubdate":
						if t, err := parseDate(val); err == nil && a.Meta.Created.IsZero() {
							a.Meta.Created = t
						}
					}
				}
			case atom.Link:
				if strings.EqualFold(attr("rel"), "canonical") {
					a.Meta.CanonicalURL = attr("href")
				}
			case atom.Img:
				refs = append(refs, attr("src"))
				refs = append(refs, srcset(attr("srcset"))...)
			case atom.Source:
				refs = append(refs, srcset(attr("srcset"))...)
			case atom.Video:
				refs = append(refs, attr("poster"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	a.Meta.Title = clean(title, bundle.MaxTitleLen)
	if a.Meta.Title == "" {
		a.Meta.Title = clean(ogTitle, bundle.MaxTitleLen)
	}
	a.Meta.Language = clean(a.Meta.Language, bundle.MaxLanguageLen)
	a.Meta.CanonicalURL = clean(a.Meta.CanonicalURL, bundle.MaxURLLen)
	if u, err := url.Parse(a.Meta.CanonicalURL); err != nil || u.Scheme != "http" && u.Scheme != "https" {
		a.Meta.CanonicalURL = ""
	}
	return refs
}

// srcset returns the URLs of a srcset attribute, parsed as the HTML
// standard says: a URL runs to the next white space and may hold commas
// (only trailing ones end it); its descriptors run to the next comma
// outside parentheses.
func srcset(s string) []string {
	const space = " \t\n\r\f"
	var out []string
	for {
		s = strings.TrimLeft(s, space+",")
		if s == "" {
			return out
		}
		end := strings.IndexAny(s, space)
		if end < 0 {
			end = len(s)
		}
		u := s[:end]
		s = s[end:]
		if strings.HasSuffix(u, ",") {
			u = strings.TrimRight(u, ",")
		} else {
			depth, i := 0, 0
			for ; i < len(s) && (s[i] != ',' || depth > 0); i++ {
				switch s[i] {
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			s = s[i:]
		}
		out = append(out, u)
	}
}

// FromHTML reads an HTML page that is not a file in a folder: a feed
// item's content or a page fetched from base. contentType is the
// Content-Type it came with, if any. Relative image references resolve
// against base.
func FromHTML(data []byte, contentType, base string, opts *Options) (*Article, error) {
	a := &Article{Files: []bundle.File{{Type: "text/html", Data: data}}}
	a.fromHTML(data)
	return a, nil
}
