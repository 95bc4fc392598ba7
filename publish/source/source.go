// Package source turns an article (an HTML, Markdown or plain-text file,
// or an HTML page from elsewhere) and the images it references into the
// input of bundle.Build, deriving what metadata the article itself gives.
//
// HTML is decoded to UTF-8 first, from the charset its byte order mark,
// Content-Type, <meta> or XML declaration gives (a legacy declaration on
// bytes that are valid UTF-8 is taken to be wrong, and an undeclared page
// that is not UTF-8 has its charset guessed, with a warning). Then, by
// default, the article is extracted (with go-readability, a port of
// Firefox's Reader View): the signed body is a small document generated
// from it, <!doctype html>, lang and dir, <meta charset="utf-8">, title,
// description, authors, dates, site name and canonical link in the head,
// and in the body one <article> holding the extracted content, with the
// lead image as a first <figure> if the content lacks it (a remote one
// only with Options.FetchImages: mirrors load nothing from elsewhere, so
// it would show as an empty frame). Scripts,
// styles, navigation, forms and event handlers never reach it. With
// Options.Raw the page is signed as it is: byte for byte when it is
// UTF-8 and says so itself (less a byte order mark), else decoded to UTF-8
// if it was not, with its charset declarations (if any) replaced by one
// <meta charset="utf-8"> and every other byte kept. Either way the metadata
// is the same: the title (readability's, less the site's name at its end),
// byline (split into authors), publication date (JSON-LD, article:* and
// Dublin Core meta tags, <time>), language and canonical URL. A page with
// more than MaxExtractElements elements, or nested too deep to parse, is
// signed as it is, with a warning.
//
// A Markdown file's body is kept byte for byte, but for its front matter,
// which is read and taken out (see MaxFrontMatterSize), and the lead
// image line its image field may add.
//
// Images are found in HTML (img src and srcset, picture source srcset,
// video poster) and in Markdown image links; references that resolve to a
// file inside the article's folder are included as entries, under the
// same relative name, so they resolve as they are. References that are
// not to files (remote URLs, data: URIs, fragments) are skipped unless
// Options.FetchImages asks for remote ones (and, in a file with a
// canonical URL, those by absolute path) to be downloaded, within
// FetchLimits, into entries the body is rewritten to name; every other
// reference left out (an absolute path, a path outside the folder, a
// missing file, a name or type a bundle cannot hold, a failed download)
// is reported once as a warning.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

	// What HTML extraction found beside the manifest's fields (they are
	// in the generated body's head): the last modification time, the
	// site's name, a summary and the lead image's address.
	Modified time.Time
	SiteName string
	Summary  string
	Image    string

	dir string // the page's own dir attribute
}

// Types maps file extensions to body media types.
var Types = map[string]string{".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain"}

var imageTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml"}

// Options tunes Load and FromHTML. The zero value is the defaults.
type Options struct {
	// Limits bound file sizes; nil means bundle.DefaultLimits.
	Limits *bundle.Limits
	// Raw signs an HTML page as it is instead of the extracted article:
	// byte for byte if it is UTF-8 and declares so itself, else decoded to
	// UTF-8 and made to declare it. Its metadata is derived all the same.
	Raw bool
	// FetchImages downloads the remote images an HTML body references
	// into the bundle and rewrites the body to name them, within
	// FetchLimits. Failures are warnings. In a file that Load reads,
	// relative paths are files beside it, and absolute paths
	// (/img/a.png) are fetched from the site its canonical URL names.
	FetchImages bool
	// FetchLimits bound FetchImages; nil means the defaults
	// (MaxFetchImages and the others).
	FetchLimits *FetchLimits
	// HTTPClient fetches images; nil means a client that dials only
	// public addresses, or the proxy that HTTPS_PROXY or HTTP_PROXY names
	// (which then decides where it connects). Whatever the client, at
	// most MaxImageRedirects redirects are followed, to http or https
	// only.
	HTTPClient *http.Client
	// Context, if not nil, ends image fetching early when it is done.
	Context context.Context
}

// withDefaults returns the options (the zero Options for nil) and the
// bundle limits to use.
func (o *Options) withDefaults() (Options, bundle.Limits) {
	var out Options
	if o != nil {
		out = *o
	}
	l := bundle.DefaultLimits
	if out.Limits != nil {
		l = *out.Limits
		d := bundle.DefaultLimits
		if l.EntrySize <= 0 {
			l.EntrySize = d.EntrySize
		}
		if l.TotalSize <= 0 {
			l.TotalSize = d.TotalSize
		}
		if l.Entries <= 0 {
			l.Entries = d.Entries
		}
	}
	return out, l
}

// Load reads the article at path. A nil opts means the defaults.
func Load(file string, opts *Options) (*Article, error) {
	o, l := opts.withDefaults()
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
		if refs, err = a.loadHTML(body, "", nil, &o, l); err != nil {
			return nil, fmt.Errorf("source: %s: %v", file, err)
		}
	case "text/markdown":
		if refs, lead, err = a.fromMarkdown(body); err != nil {
			return nil, fmt.Errorf("source: %s: %w", file, err)
		}
	case "text/plain":
		a.Meta.Title = firstLine(body)
	}
	a.IDs.CanonicalURL, a.IDs.FileName = a.Meta.CanonicalURL, filepath.Base(file)
	a.Meta.ID = DeriveID(a.IDs)
	// With FetchImages, images by absolute path are fetched from the
	// site the canonical URL names, not looked for on this machine.
	var fetchBase *url.URL
	if typ == "text/html" && o.FetchImages && a.Meta.CanonicalURL != "" {
		fetchBase, _ = url.Parse(a.Meta.CanonicalURL)
	}
	dir := filepath.Dir(file)
	seen, warned := map[string]bool{}, map[string]bool{}
	for _, ref := range refs {
		if fetchBase != nil && remoteURL(ref, fetchBase, true) != "" {
			continue
		}
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
	if typ == "text/html" && o.FetchImages {
		a.fetchImages(fetchBase, true, &o, l)
	}
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

// dateLayouts are the date forms found in pages' metadata: RFC 3339 and
// its relatives (a zone with or without a colon, or none, meaning UTC;
// a space for the T; no seconds), and the forms of RFC 1123 and its kin.
// Fractions of a second are accepted after the seconds of any of them.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006/01/02 15:04:05",
	"2006/01/02",
	time.RFC1123,
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006",
	time.RFC850,
	time.ANSIC,
	time.UnixDate,
	"January 2, 2006",
	"January 2, 2006 15:04",
	"Jan 2, 2006",
}

// parseDate parses a date from a page's or a file's metadata, in UTC:
// any of dateLayouts, a zone missing meaning UTC. Dates before 1970 are
// refused: a manifest cannot hold them.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("source: date %q not understood", s[:64])
	}
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if t.Year() < 1970 {
				return time.Time{}, fmt.Errorf("source: date %q is before 1970", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("source: date %q not understood", s)
}

// ParseDate parses a date given on the command line: RFC 3339, or
// YYYY-MM-DD (midnight UTC).
func ParseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("source: date %q not understood", s)
}
