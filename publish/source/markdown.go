package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"go.abhg.dev/goldmark/frontmatter"
	"gopkg.in/yaml.v3"

	"github.com/samizdat-news/samizdat/bundle"
)

// MaxFrontMatterSize bounds the front matter block of a Markdown file, its
// delimiter lines left out: 64 KiB, far more than any article's metadata.
//
// Front matter is a block at the very start of a Markdown file between two
// lines of three or more '-' (YAML) or '+' (TOML), the closing line the
// same as the opening one. Its fields, by name (case does not matter):
//
//	title              the title (else the first heading, else the first line)
//	lang, language     a BCP 47 language tag such as en, ru, fa or zh-Hant
//	date               the publication date (Meta.Created): YYYY-MM-DD or RFC 3339
//	updated            checked, but not carried: see below
//	author, authors    one name or a list of names; both fields may be given
//	url, canonical     the canonical URL, absolute http or https
//	id, slug           the article id, made valid as DeriveID says
//	summary            not carried: see below
//	image              a lead image, a path relative to the file
//
// The signed body is the file without the block: it never reaches readers.
// A manifest has no summary, and its updated time is the time of signing
// (the signing key must be valid then), so summary and updated give a
// warning saying they are not carried; a summary that readers should see
// belongs in the body. A local image is included as an entry, and put at
// the top of the body as a Markdown image line if the body does not show it
// already; a remote one is left out with a warning, since readers must not
// load from the origin. Each unknown field gives a warning.
//
// Front matter that does not parse, a field of the wrong type or out of
// the manifest's limits, two fields for one thing that disagree (lang and
// language), more than one YAML document, a block that is not closed or is over MaxFrontMatterSize is
// an error naming the field.
const MaxFrontMatterSize = 64 << 10

// rawBlock is what the front matter parser found: the Unmarshal of the
// formats below only keeps the bytes, so that samizdat decodes them itself
// with its own checks.
type rawBlock struct {
	format string
	raw    []byte
}

func keepRaw(name string) func([]byte, any) error {
	return func(raw []byte, dst any) error {
		*dst.(*rawBlock) = rawBlock{format: name, raw: raw}
		return nil
	}
}

var frontMatterFormats = []frontmatter.Format{
	{Name: "YAML", Delim: '-', Unmarshal: keepRaw("YAML")},
	{Name: "TOML", Delim: '+', Unmarshal: keepRaw("TOML")},
}

var (
	markdown      = goldmark.New(goldmark.WithExtensions(&frontmatter.Extender{Formats: frontMatterFormats}))
	plainMarkdown = goldmark.New()
)

// errNotFirst says that the front matter parser found a block after blank
// lines, which is not front matter.
var errNotFirst = errors.New("front matter not on the first line")

// fromMarkdown reads the front matter, takes out its block from the body,
// and fills metadata: the front matter's, else the first heading as title.
// It returns image links (the front matter's image among them) and the
// entry name of a lead image to put at the top of the body once it is
// known to be included, or "".
func (a *Article) fromMarkdown(body []byte) (refs []string, lead string, err error) {
	src := body
	if bom := []byte("\uFEFF"); bytes.HasPrefix(src, bom) && len(src) > 3 && (src[3] == '-' || src[3] == '+') {
		src = src[3:] // a BOM before front matter would hide it
	}
	pc := parser.NewContext()
	doc := markdown.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
	parsed := src // the goldmark tree's positions are in it
	var fm *frontMatter
	if d := frontmatter.Get(pc); d != nil {
		var blk rawBlock
		if err := d.Decode(&blk); err != nil {
			return nil, "", err
		}
		switch end, err := blockEnd(src, blk.raw); {
		case err == errNotFirst:
			doc = plainMarkdown.Parser().Parse(text.NewReader(src))
		case err != nil:
			return nil, "", err
		default:
			if fm, err = parseFrontMatter(blk); err != nil {
				return nil, "", err
			}
			body = src[end:]
			a.Files[0].Data = body
		}
	}
	if first, _, _ := bytes.Cut(src, []byte("\n")); fm == nil && len(bytes.TrimSpace(first)) == 0 {
		line, _, _ := bytes.Cut(bytes.TrimLeft(src, " \t\r\n"), []byte("\n"))
		if d, _ := lineDelim(line); d == '-' || d == '+' {
			a.Warnings = append(a.Warnings, "front matter must start on the first line; what looks like front matter after blank lines is read as Markdown")
		}
	}
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			if a.Meta.Title == "" {
				a.Meta.Title = clean(string(nodeText(n, parsed)), bundle.MaxTitleLen)
			}
		case *ast.Image:
			refs = append(refs, string(n.Destination))
		}
		return ast.WalkContinue, nil
	})
	if fm != nil {
		lead = a.applyFrontMatter(fm, refs)
		if fm.image != "" {
			refs = append(refs, fm.image)
		}
	}
	if a.Meta.Title == "" {
		a.Meta.Title = firstLine(body)
	}
	return refs, lead, nil
}

// blockEnd returns the offset just past the closing line of the front
// matter whose content is raw, checking that the line is there.
func blockEnd(src, raw []byte) (int, error) {
	open, rest, _ := bytes.Cut(src, []byte("\n"))
	start := len(open) + 1
	delim, count := lineDelim(open)
	if delim == 0 {
		return 0, errNotFirst
	}
	notClosed := fmt.Errorf("front matter opened by %s is not closed", bytes.TrimSpace(open))
	if start+len(raw) >= len(src) {
		return 0, notClosed
	}
	if len(raw) > MaxFrontMatterSize {
		return 0, fmt.Errorf("front matter is larger than %d bytes", MaxFrontMatterSize)
	}
	if !bytes.Equal(src[start:start+len(raw)], raw) {
		return 0, errors.New("front matter not where it was found") // cannot happen
	}
	rest = src[start+len(raw):]
	closing, _, found := bytes.Cut(rest, []byte("\n"))
	if d, c := lineDelim(closing); d != delim || c != count {
		return 0, notClosed
	}
	end := start + len(raw) + len(closing)
	if found {
		end++
	}
	return end, nil
}

// lineDelim is the front matter parser's test for a delimiter line: three
// or more of one character, then an optional CR.
func lineDelim(line []byte) (delim byte, count int) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || bytes.Count(line, line[:1]) != len(line) {
		return 0, 0
	}
	return line[0], len(line)
}

// frontMatter holds the fields of a front matter block, checked.
type frontMatter struct {
	title, language, canonical, id, image string
	created                               time.Time
	authors                               []string
	warnings                              []string
}

// decodeFrontMatter parses a block into its fields by name.
func decodeFrontMatter(blk rawBlock) (fields map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil { // a parser's bug must not stop a publisher
			fields, err = nil, fmt.Errorf("front matter (%s) did not parse: %v", blk.format, r)
		}
	}()
	var v any
	if blk.format == "TOML" {
		var m map[string]any
		err = toml.Unmarshal(blk.raw, &m)
		v = m
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(blk.raw))
		if err = dec.Decode(&v); err == nil {
			var more any
			if dec.Decode(&more) != io.EOF {
				return nil, errors.New("front matter (YAML) holds more than one document")
			}
		} else if err == io.EOF {
			err = nil // empty
		}
	}
	if err != nil {
		msg := strings.Join(strings.Fields(err.Error()), " ")
		return nil, fmt.Errorf("front matter (%s) did not parse: %s", blk.format, msg)
	}
	switch v := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	case map[any]any: // YAML with keys that are not all strings
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = x
		}
		return m, nil
	}
	return nil, fmt.Errorf("front matter (%s) is not a set of fields", blk.format)
}

// parseFrontMatter checks a block's fields.
func parseFrontMatter(blk rawBlock) (*frontMatter, error) {
	fields, err := decodeFrontMatter(blk)
	if err != nil {
		return nil, err
	}
	fm := &frontMatter{}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	given := map[string]string{} // field -> the name it was given under
	set := func(field, name string, dst *string, val string) error {
		if prev, ok := given[field]; ok && *dst != val {
			return fmt.Errorf("front matter fields %q and %q disagree", prev, name)
		}
		given[field] = name
		*dst = val
		return nil
	}
	for _, name := range names {
		v := fields[name]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("front matter field %q: %s", name, fmt.Sprintf(format, args...))
		}
		switch key := strings.ToLower(name); key {
		case "title":
			s, err := textField(v, bundle.MaxTitleLen)
			if err != nil {
				return nil, bad("%v", err)
			}
			if err := set(key, name, &fm.title, s); err != nil {
				return nil, err
			}
		case "lang", "language":
			s, err := textField(v, bundle.MaxLanguageLen)
			if err != nil {
				return nil, bad("%v", err)
			}
			tag, err := LanguageTag(s)
			if err != nil {
				return nil, bad("%v", err)
			}
			if err := set("language", name, &fm.language, tag); err != nil {
				return nil, err
			}
		case "date", "updated":
			t, err := dateField(v)
			if err != nil {
				return nil, bad("%v", err)
			}
			if key == "date" {
				fm.created = t
			} else {
				fm.warnings = append(fm.warnings, fmt.Sprintf("front matter field %q (%s) not carried: a manifest's updated time is the time of signing", name, t.Format(time.RFC3339)))
			}
		case "author", "authors":
			list, ok := v.([]any)
			if !ok {
				list = []any{v}
			}
			for i, x := range list {
				s, err := textField(x, bundle.MaxAuthorLen)
				if err != nil {
					if len(list) > 1 {
						return nil, bad("name %d: %v", i+1, err)
					}
					return nil, bad("%v", err)
				}
				if s != "" && !slices.Contains(fm.authors, s) {
					fm.authors = append(fm.authors, s)
				}
			}
			if len(fm.authors) > bundle.MaxAuthors {
				return nil, bad("more than %d authors", bundle.MaxAuthors)
			}
		case "url", "canonical":
			s, err := textField(v, bundle.MaxURLLen)
			if err != nil {
				return nil, bad("%v", err)
			}
			if u, err := url.Parse(s); s != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
				return nil, bad("%q is not an absolute http or https URL", s)
			}
			if err := set("url", name, &fm.canonical, s); err != nil {
				return nil, err
			}
		case "id", "slug":
			s, err := textField(v, bundle.MaxTitleLen)
			if err != nil {
				return nil, bad("%v", err)
			}
			if err := set("id", name, &fm.id, s); err != nil {
				return nil, err
			}
		case "summary":
			if _, err := textField(v, math.MaxInt); err != nil {
				return nil, bad("%v", err)
			}
			fm.warnings = append(fm.warnings, fmt.Sprintf("front matter field %q not carried: a manifest has no summary; put it in the body if readers should see it", name))
		case "image":
			s, err := textField(v, bundle.MaxURLLen)
			if err != nil {
				return nil, bad("%v", err)
			}
			if err := set(key, name, &fm.image, s); err != nil {
				return nil, err
			}
		default:
			fm.warnings = append(fm.warnings, fmt.Sprintf("front matter field %q not used", name))
		}
	}
	return fm, nil
}

// applyFrontMatter puts the front matter's fields in a's metadata and
// warnings, and returns the entry name of its image if it is local and
// refs (the body's images) do not show it already.
func (a *Article) applyFrontMatter(fm *frontMatter, refs []string) string {
	a.Warnings = append(a.Warnings, fm.warnings...)
	if fm.title != "" {
		a.Meta.Title = fm.title
	}
	if fm.language != "" {
		a.Meta.Language = fm.language
	}
	if fm.canonical != "" {
		a.Meta.CanonicalURL = fm.canonical
	}
	if len(fm.authors) > 0 {
		a.Meta.Authors = fm.authors
	}
	a.Meta.Created = fm.created
	a.IDs.FrontMatter = fm.id
	if fm.image == "" {
		return ""
	}
	name, err := resolve(fm.image)
	if err != nil {
		return "" // Load warns about it
	}
	if name == "" {
		a.Warnings = append(a.Warnings, fmt.Sprintf("front matter image %q left out: only images beside the article are included", fm.image))
		fm.image = ""
		return ""
	}
	for _, ref := range refs {
		if n, err := resolve(ref); err == nil && n == name {
			return ""
		}
	}
	return name
}

// addLead puts a Markdown image line for the entry named lead at the top of
// the body, if that image was included.
func (a *Article) addLead(lead string) {
	if lead == "" || !slices.ContainsFunc(a.Files[1:], func(f bundle.File) bool { return f.Name == lead }) {
		return
	}
	a.Files[0].Data = append([]byte("![]("+lead+")\n\n"), a.Files[0].Data...)
}

// textField returns a scalar as cleaned text of at most max bytes.
func textField(v any, max int) (string, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case uint64:
		s = strconv.FormatUint(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("want text, not %s", kind(v))
	}
	c := clean(s, math.MaxInt)
	if len(c) > max {
		return "", fmt.Errorf("longer than %d bytes", max)
	}
	return c, nil
}

// dateField returns a date given as text or as a TOML or YAML date.
func dateField(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		if v.Year() < 1 {
			return time.Time{}, errors.New("want a date, not a time of day")
		}
		return v.UTC(), nil
	case string:
		t, err := parseDate(v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD or RFC 3339)", v)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a date, not %s", kind(v))
}

// kind names the type of a decoded front matter value in an error.
func kind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a table of fields"
	case bool:
		return "true or false"
	case time.Time:
		return "a date"
	case string:
		return "text"
	}
	return "a number"
}

// LanguageTag checks that s has the shape of a BCP 47 language tag and
// returns it in its usual case: a language of 2 or 3 letters (or x or i
// for private and grandfathered tags; BCP 47's longer language subtags
// have none registered, and "english" is a mistake), then subtags of 1 to 8 letters or digits
// separated by '-' ('_' is taken for '-'), at most bundle.MaxLanguageLen
// bytes. A four-letter script is capitalized (Hant), a two-letter region
// upper-cased (US), the rest lower-cased: "FA" gives "fa", "zh_hant_tw"
// gives "zh-Hant-TW". It does not check the registry.
func LanguageTag(s string) (string, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "-")
	if s == "" || len(s) > bundle.MaxLanguageLen {
		return "", fmt.Errorf("%q is not a language tag such as en, ru or fa", s)
	}
	parts := strings.Split(strings.ToLower(s), "-")
	for i, p := range parts {
		alnum := p != "" && len(p) <= 8 && strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
		letters := alnum && strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") == ""
		switch {
		case i == 0 && !(letters && (len(p) == 2 || len(p) == 3 || p == "x" || p == "i")):
			return "", fmt.Errorf("%q is not a language tag such as en, ru or fa", s)
		case !alnum:
			return "", fmt.Errorf("%q is not a language tag such as en, ru or fa", s)
		case i > 0 && len(parts[i-1]) == 1:
			// After a singleton (x-, u-...) subtags keep lower case.
		case i > 0 && len(p) == 4 && letters:
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		case i > 0 && len(p) == 2 && letters:
			parts[i] = strings.ToUpper(p)
		}
	}
	return strings.Join(parts, "-"), nil
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
