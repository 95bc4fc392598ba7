// Package source turns an article file (HTML, Markdown or plain text) and
// the images it references by relative path into the input of bundle.Build,
// deriving what metadata the file itself gives.
//
// The body's bytes are kept exactly as they are, but for the front matter
// of a Markdown file, which is read and taken out (see MaxFrontMatterSize),
// and the lead image line its image field may add. Images are found in HTML
// (img src and srcset, picture source srcset, video poster) and in Markdown
// image links; only references that resolve to a file inside the article's
// folder are included. References that are not to files (remote URLs,
// data: URIs, fragments) are skipped; every other one left out (an
// absolute path, a path outside the folder, a missing file, a name or type
// a bundle cannot hold) is reported once as a warning.
package source

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/bundle"
)

// Article is what Load read: metadata derived from the file (zero where the
// file says nothing), the body and its images, and warnings about what was
// left out. Meta.ID is DeriveID(IDs); a caller that overrides a source of
// the id (a canonical URL given on the command line) derives it again.
type Article struct {
	Meta     bundle.Metadata
	Files    []bundle.File
	Warnings []string
	IDs      IDSources
}

// Types maps file extensions to body media types.
var Types = map[string]string{".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain"}

var imageTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml"}

// Options tunes Load. The zero value is the defaults.
type Options struct {
	// Limits bound file sizes; nil means bundle.DefaultLimits.
	Limits *bundle.Limits
}

// Load reads the article at path. A nil opts means the defaults.
func Load(file string, opts *Options) (*Article, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	l := bundle.DefaultLimits
	if o.Limits != nil {
		l = *o.Limits
	}
	typ, ok := Types[strings.ToLower(filepath.Ext(file))]
	if !ok {
		return nil, fmt.Errorf("source: %s: unknown kind of file; want .html, .md or .txt", file)
	}
	body, err := readLimited(file, l.EntrySize)
	if err != nil {
		return nil, err
	}
	a := &Article{Files: []bundle.File{{Type: typ, Data: body}}}
	var refs []string
	var lead string
	switch typ {
	case "text/html":
		refs = a.fromHTML(body)
	case "text/markdown":
		if refs, lead, err = a.fromMarkdown(body); err != nil {
			return nil, fmt.Errorf("source: %s: %w", file, err)
		}
	case "text/plain":
		a.Meta.Title = firstLine(body)
	}
	a.IDs.CanonicalURL, a.IDs.FileName = a.Meta.CanonicalURL, filepath.Base(file)
	a.Meta.ID = DeriveID(a.IDs)
	dir := filepath.Dir(file)
	seen, warned := map[string]bool{}, map[string]bool{}
	for _, ref := range refs {
		name, err := resolve(ref)
		if err != nil {
			if !warned[ref] {
				a.Warnings = append(a.Warnings, fmt.Sprintf("image %q left out: %v", ref, err))
			}
			warned[ref] = true
			continue
		}
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		ityp, ok := imageTypes[strings.ToLower(path.Ext(name))]
		if !ok {
			a.Warnings = append(a.Warnings, fmt.Sprintf("image %q left out: unknown image type", ref))
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(name))
		if err := insideDir(dir, full); err != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("image %q left out: %v", ref, err))
			continue
		}
		data, err := readLimited(full, l.EntrySize)
		if err != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("image %q left out: %v", ref, err))
			continue
		}
		a.Files = append(a.Files, bundle.File{Name: name, Type: ityp, Data: data})
	}
	a.addLead(lead)
	return a, nil
}

// insideDir refuses a file that a symbolic link takes outside dir: only
// files in the article's folder are published.
func insideDir(dir, file string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	realFile, err := filepath.EvalSymlinks(file)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, realFile); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return errors.New("a symbolic link leads outside the article's folder")
	}
	return nil
}

func readLimited(file string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("source: %s is not a regular file", file)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("source: reading %s: %w", file, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("source: %s is larger than %d bytes", file, max)
	}
	return data, nil
}

// resolve turns a reference into an entry name, "" for references that
// are not to local files (absolute URLs, data: URIs, fragments).
func resolve(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "#") {
		return "", nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	if u.Scheme != "" || u.Host != "" || strings.HasPrefix(ref, "//") {
		return "", nil
	}
	if strings.HasPrefix(u.Path, "/") {
		return "", errors.New("absolute path; only paths relative to the article are included")
	}
	name := path.Clean(u.Path)
	if name == ".." || strings.HasPrefix(name, "../") {
		return "", errors.New("outside the article's folder")
	}
	if err := bundle.CheckName(name); err != nil {
		return "", err
	}
	return name, nil
}

// firstLine returns the first non-blank line, cleaned, for a title.
func firstLine(body []byte) string {
	for _, line := range strings.Split(string(body), "\n") {
		if t := clean(line, bundle.MaxTitleLen); t != "" {
			return t
		}
	}
	return ""
}

// clean makes s fit a manifest text field: valid UTF-8, no control
// characters, white space collapsed, at most max bytes.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == ' ' || r == '\u00a0'
	}), " ")
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("source: date %q not understood", s)
}

// ParseDate parses a date given on the command line: RFC 3339, or
// YYYY-MM-DD (midnight UTC).
func ParseDate(s string) (time.Time, error) { return parseDate(s) }
