package web

import "github.com/samizdat-news/samizdat/bundle"

// RenderArticle returns a verified bundle's body as the sanitised HTML
// the mirror's article pages show (see PROTOCOL.md): no script, event
// handlers, styles, frames or forms. Relative references that name one of
// the bundle's images point to base+name; every other image source is
// emptied. It is for other programs that show articles, such as the
// reader's local pages and fetch's saved copies.
func RenderArticle(b *bundle.Bundle, base string) ([]byte, error) {
	body, err := b.Body()
	if err != nil {
		return nil, err
	}
	return renderBody(b, body, base), nil
}

// Direction returns the dir attribute for an article's language tag:
// "rtl" for right-to-left languages, else "auto".
func Direction(lang string) string { return direction(lang) }

// LangAttr returns lang if it is safe as a lang attribute, else "".
func LangAttr(lang string) string { return langAttr(lang) }

// StyleSheet returns the mirror's one style sheet, which pages showing
// articles elsewhere (the reader's) share. The caller must not change it.
func StyleSheet() []byte { return styleCSS }
