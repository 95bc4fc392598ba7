package source

import (
	"bytes"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/samizdat-news/samizdat/bundle"
)

// fromMarkdown takes the first heading as title and returns image links.
func (a *Article) fromMarkdown(body []byte) []string {
	doc := goldmark.New().Parser().Parse(text.NewReader(body))
	var refs []string
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			if a.Meta.Title == "" {
				a.Meta.Title = clean(string(nodeText(n, body)), bundle.MaxTitleLen)
			}
		case *ast.Image:
			refs = append(refs, string(n.Destination))
		}
		return ast.WalkContinue, nil
	})
	if a.Meta.Title == "" {
		a.Meta.Title = firstLine(body)
	}
	return refs
}

func nodeText(n ast.Node, src []byte) []byte {
	var b bytes.Buffer
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		return ast.WalkContinue, nil
	})
	return b.Bytes()
}
