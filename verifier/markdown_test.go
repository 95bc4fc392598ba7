package verifier_test

import (
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/publish"
)

// TestPageRendersMarkdown: a Markdown article is shown as formatted text
// (headings, emphasis, lists, quotes, code, links, its verified image),
// sanitised like an HTML body; HTML inside the Markdown shows as text,
// and an image it does not carry, or a javascript: link, is dropped;
// links and images nested so that one's markup would end the other's
// attribute early show as text, without the markup.
func TestPageRendersMarkdown(t *testing.T) {
	m := newMirror(t)
	p, err := publish.New(m.st, m.pub.Root.Public(), m.pub.Statement, m.pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := "# Talks *resume*\n\nDelegates met for **eight hours** in `Geneva`, said [the agency](https://news.example/a?b=1&c=2).\n" +
		"<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n![The hall](img/photo.png)\n\n![Missing](img/none.png)\n\n" +
		"- first point\n- second _point_\n\n1. one\n2. two\n\n> a quote\n\n```\nraw <b>code</b>\n```\n\n[click](javascript:alert(3))\n\n![[x](a](y) z) [![a(`!](_a<[aa]())(\n"
	if _, err := p.Publish([]publish.Item{{
		Meta: bundle.Metadata{ID: "markdown", Title: "Talks resume", Language: "en"},
		Files: []bundle.File{{Type: "text/markdown", Data: []byte(body)},
			{Name: "img/photo.png", Type: "image/png", Data: browsertest.PhotoPNG(t)}},
	}}); err != nil {
		t.Fatal(err)
	}
	b := browsertest.StartBrowser(t)
	pg := b.Open(t, m.srv.URL+"/verify.html"+fragment(m.pub.Root.Public().String(), "markdown"), browsertest.Phone)
	state, _, status := waitState(t, pg)
	if state != "verified" {
		t.Fatalf("data-samizdat=%q (%s)", state, status)
	}
	var doc string
	if err := pg.Eval(`document.querySelector('iframe').srcdoc`, &doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<h1>Talks <em>resume</em></h1>", "<strong>eight hours</strong>", "<code>Geneva</code>",
		`<a href="https://news.example/a?b=1&amp;c=2">the agency</a>`, `<img alt="The hall" src="data:image/png;base64,`,
		"<li>second <em>point</em></li>", "<ol><li>one</li><li>two</li></ol>", "<blockquote><p>a quote</p></blockquote>",
		"<pre><code>raw &lt;b&gt;code&lt;/b&gt;</code></pre>", "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the article lacks %q:\n%s", want, doc)
		}
	}
	// Markup the Markdown's own replacements made, ended early by a
	// quote another one made, would show as text: data-u, x-a.
	for _, bad := range []string{"<script", "javascript:", "img/none.png", "onerror=alert(2)>", "data-u", "x-a", "x-img"} {
		if strings.Contains(doc, bad) {
			t.Errorf("the article holds %q:\n%s", bad, doc)
		}
	}
	browsertest.SaveScreenshot(t, "verifier-markdown-phone", pg.Screenshot(t, true))
}
