package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/html"

	"github.com/samizdat-news/samizdat/bundle"
)

// Default limits of --fetch-images (Options.FetchImages); FetchLimits
// overrides them.
const (
	// MaxFetchImages is the most remote images fetched for one article.
	MaxFetchImages = 64
	// MaxFetchImageSize bounds one fetched image (and never more than the
	// bundle's entry limit).
	MaxFetchImageSize = 8 << 20
	// MaxFetchTotal bounds the bytes fetched for one article (and never
	// more than what the bundle's total limit leaves).
	MaxFetchTotal = 48 << 20
	// MaxFetchTime bounds the time spent fetching one article's images.
	MaxFetchTime = 2 * time.Minute
	// MaxFetchImageTime bounds the time spent on one image.
	MaxFetchImageTime = 30 * time.Second
	// MaxImageRedirects bounds the redirects followed for one image.
	MaxImageRedirects = 5
	// FetchedImageDir is the folder of the bundle that fetched images go to.
	FetchedImageDir = "remote"
)

// FetchLimits bound the fetching of remote images. A zero field means the
// default named beside it.
type FetchLimits struct {
	Images    int           // MaxFetchImages
	ImageSize int64         // MaxFetchImageSize
	Total     int64         // MaxFetchTotal
	Time      time.Duration // MaxFetchTime
	ImageTime time.Duration // MaxFetchImageTime
}

func (f *FetchLimits) withDefaults() FetchLimits {
	var l FetchLimits
	if f != nil {
		l = *f
	}
	if l.Images <= 0 {
		l.Images = MaxFetchImages
	}
	if l.ImageSize <= 0 {
		l.ImageSize = MaxFetchImageSize
	}
	if l.Total <= 0 {
		l.Total = MaxFetchTotal
	}
	if l.Time <= 0 {
		l.Time = MaxFetchTime
	}
	if l.ImageTime <= 0 {
		l.ImageTime = MaxFetchImageTime
	}
	return l
}

// fetchImages downloads the remote images the HTML body references (an
// <img>'s src, else its first srcset candidate; a <video>'s poster; the
// candidates of a <picture>'s <source>), within the limits, into entries
// under FetchedImageDir, and rewrites the body to name them. Sources whose
// images were not all fetched are dropped when the <img> beside them was,
// so that a browser does not prefer a remote one. Every failure is a
// warning. References resolve against base; with local, relative paths
// name files in the article's folder and are not fetched.
func (a *Article) fetchImages(base *url.URL, local bool, o *Options, lim bundle.Limits) {
	fl := o.FetchLimits.withDefaults()
	body := a.Files[0].Data
	var wanted []string
	seen := map[string]bool{}
	for _, ref := range primaryImageRefs(body) {
		u := remoteURL(ref, base, local)
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		wanted = append(wanted, u)
	}
	if len(wanted) == 0 {
		return
	}
	if room := lim.Entries - len(a.Files); room < fl.Images {
		fl.Images = max(room, 0)
	}
	if len(wanted) > fl.Images {
		a.Warnings = append(a.Warnings, fmt.Sprintf("%d remote images not fetched: at most %d are", len(wanted)-fl.Images, fl.Images))
		wanted = wanted[:fl.Images]
	}
	var total int64
	used := map[string]bool{}
	for _, f := range a.Files {
		total += int64(len(f.Data))
		used[f.Name] = true
	}
	budget := min(fl.Total, lim.TotalSize-total)
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, fl.Time)
	defer cancel()
	client := imageClient(o.HTTPClient)
	names := map[string]string{}
	for i, u := range wanted {
		if ctx.Err() != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("%d remote images not fetched: the time limit of %v is spent", len(wanted)-i, fl.Time))
			break
		}
		max := min(fl.ImageSize, lim.EntrySize, budget)
		data, typ, err := fetchImage(ctx, client, u, max, fl.ImageTime)
		if err != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("remote image %q not fetched: %v", u, err))
			continue
		}
		budget -= int64(len(data))
		name := fetchedName(u, typ, len(names)+1, used)
		used[name] = true
		names[u] = name
		a.Files = append(a.Files, bundle.File{Name: name, Type: typ, Data: data})
	}
	if len(names) > 0 {
		a.Files[0].Data = rewriteHTML(body, false, func(ref string) (string, bool) {
			n, ok := names[remoteURL(ref, base, local)]
			return n, ok
		})
	}
}

// remoteURL returns ref as an absolute http or https URL (resolved against
// base; without a base, a protocol-relative ref is taken as https), "" if
// it is not one. With local, a relative path (a file beside the article)
// is not one.
func remoteURL(ref string, base *url.URL, local bool) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > bundle.MaxURLLen {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || local && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	} else if u.Scheme == "" && u.Host != "" {
		u.Scheme = "https" // protocol-relative, in a file
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	u.Fragment = ""
	return u.String()
}

// fetchImage GETs one image, refusing an answer that is not 200, is over
// max bytes, takes longer than timeout, or is not (by its bytes) an image
// type a bundle can hold.
func fetchImage(ctx context.Context, client *http.Client, u string, max int64, timeout time.Duration) ([]byte, string, error) {
	if max <= 0 {
		return nil, "", errors.New("the size limit is spent")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "image/avif,image/webp,image/png,image/jpeg,image/gif,image/svg+xml;q=0.8")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "", errors.New("timed out")
		}
		return nil, "", errors.Unwrap(err) // the url.Error repeats the URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("answer %s", resp.Status)
	}
	if resp.ContentLength > max {
		return nil, "", fmt.Errorf("%d bytes, more than the limit of %d", resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", errors.New("timed out")
		}
		return nil, "", err
	}
	if int64(len(data)) > max {
		return nil, "", fmt.Errorf("more than the limit of %d bytes", max)
	}
	typ := sniffImage(data)
	if typ == "" {
		return nil, "", fmt.Errorf("not an image a bundle can hold (it looks like %s)", strings.SplitN(http.DetectContentType(data), ";", 2)[0])
	}
	return data, typ, nil
}

// sniffImage returns the image type of data by its first bytes, "" if it
// is none of bundle.ImageTypes.
func sniffImage(data []byte) string {
	switch t := http.DetectContentType(data); t {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return t
	}
	if len(data) >= 12 && string(data[4:8]) == "ftyp" && (string(data[8:12]) == "avif" || string(data[8:12]) == "avis") {
		return "image/avif"
	}
	if isSVG(data) {
		return "image/svg+xml"
	}
	return ""
}

// isSVG reports whether data starts (after a byte order mark, white
// space, an XML declaration, comments and a doctype) with an <svg> element.
func isSVG(data []byte) bool {
	if len(data) > 4096 {
		data = data[:4096]
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for range 32 {
		data = bytes.TrimLeft(data, " \t\r\n")
		var end string
		switch {
		case bytes.HasPrefix(data, []byte("<?")):
			end = "?>"
		case bytes.HasPrefix(data, []byte("<!--")):
			end = "-->"
		case bytes.HasPrefix(data, []byte("<!")):
			end = ">"
		default:
			return bytes.HasPrefix(data, []byte("<svg")) && len(data) > 4 && strings.IndexByte(" \t\r\n>/", data[4]) >= 0
		}
		i := bytes.Index(data, []byte(end))
		if i < 0 {
			return false
		}
		data = data[i+len(end):]
	}
	return false
}

var imageExts = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "image/avif": ".avif", "image/svg+xml": ".svg"}

// fetchedName makes the entry name of the nth fetched image: its file
// name, reduced to the characters a bundle name may hold, numbered, with
// the extension of its type, under FetchedImageDir.
func fetchedName(u, typ string, n int, used map[string]bool) string {
	stem := "image"
	if p, err := url.Parse(u); err == nil {
		b := path.Base(p.Path)
		b = strings.TrimSuffix(b, path.Ext(b))
		var s strings.Builder
		for i := 0; i < len(b) && s.Len() < 64; i++ {
			c := b[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
				s.WriteByte(c)
			} else if s.Len() > 0 && !strings.HasSuffix(s.String(), "-") {
				s.WriteByte('-')
			}
		}
		if t := strings.Trim(s.String(), "-"); t != "" {
			stem = t
		}
	}
	for i := n; ; i++ {
		name := fmt.Sprintf("%s/%02d-%s%s", FetchedImageDir, i, stem, imageExts[typ])
		if !used[name] && bundle.CheckName(name) == nil {
			return name
		}
	}
}

// primaryImageRefs returns the references fetchImages fetches: an img's
// src (or its first srcset candidate if it has no src), a video's
// poster, and every candidate of a <source srcset> inside a <picture>.
func primaryImageRefs(body []byte) []string {
	var refs []string
	z := html.NewTokenizer(bytes.NewReader(body))
	picture := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return refs
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "picture" && picture > 0 {
				picture--
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "picture":
				if tt == html.StartTagToken {
					picture++
				}
			case "img":
				at := attrs(z, hasAttr)
				if s := strings.TrimSpace(at["src"]); s != "" && !strings.HasPrefix(s, "data:") {
					refs = append(refs, s)
				} else if c := srcset(at["srcset"]); len(c) > 0 {
					refs = append(refs, c[0])
				}
			case "video":
				refs = append(refs, attrs(z, hasAttr)["poster"])
			case "source":
				if picture > 0 {
					refs = append(refs, srcset(attrs(z, hasAttr)["srcset"])...)
				}
			}
		}
	}
}

// rewriteHTML rewrites an HTML page token by token, keeping the bytes of
// every token it does not change. With fixCharset, every charset
// declaration (<meta charset>, <meta http-equiv="Content-Type">, an XML
// declaration) is removed and one <meta charset="utf-8"> put at the start
// of the head. With newRef, image references (img src and srcset, source
// srcset, video poster) that newRef maps are replaced: an img whose
// source is replaced loses its srcset and sizes, and a <source srcset>
// with any candidate newRef does not map is dropped, so that a browser
// does not prefer it to the img beside it.
func rewriteHTML(body []byte, fixCharset bool, newRef func(string) (string, bool)) []byte {
	z := html.NewTokenizer(bytes.NewReader(body))
	var out bytes.Buffer
	out.Grow(len(body) + 32)
	const decl = `<meta charset="utf-8">`
	declared := !fixCharset
	insertAt := 0 // where a late declaration goes: after a first doctype
	for first := true; ; first = false {
		tt := z.Next()
		if tt == html.ErrorToken {
			out.Write(z.Raw())
			if !declared {
				// Only doctypes, comments, white space and <html> came:
				// at the end a declaration could join an unfinished one.
				b := out.Bytes()
				return append(append(append([]byte{}, b[:insertAt]...), decl...), b[insertAt:]...)
			}
			return out.Bytes()
		}
		raw := z.Raw()
		if !fixCharset && newRef == nil {
			out.Write(raw)
			continue
		}
		switch tt {
		case html.DoctypeToken:
			out.Write(raw)
			if first && bytes.HasSuffix(raw, []byte(">")) {
				insertAt = out.Len()
			}
			continue
		case html.CommentToken:
			if fixCharset && bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("<?xml")) {
				continue
			}
			out.Write(raw)
			continue
		case html.TextToken:
			if !declared && len(bytes.TrimLeft(raw, " \t\r\n\f")) > 0 {
				out.WriteString(decl)
				declared = true
			}
			out.Write(raw)
			continue
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "html":
				out.Write(raw)
				continue
			case "head":
				out.Write(raw)
				if !declared {
					out.WriteString(decl)
					declared = true
				}
				continue
			case "meta":
				if fixCharset && charsetOfMeta(tokenAttrs(tok)) != "" {
					if !declared {
						out.WriteString(decl)
						declared = true
					}
					continue
				}
			}
			if !declared {
				out.WriteString(decl)
				declared = true
			}
			if newRef != nil {
				if t, keep, changed := rewriteTag(tok, newRef); !keep {
					continue
				} else if changed {
					out.WriteString(t.String())
					continue
				}
			}
			out.Write(raw)
		default:
			if !declared {
				out.WriteString(decl)
				declared = true
			}
			out.Write(raw)
		}
	}
}

func tokenAttrs(tok html.Token) map[string]string {
	m := map[string]string{}
	for _, a := range tok.Attr {
		if _, dup := m[a.Key]; !dup {
			m[a.Key] = a.Val
		}
	}
	return m
}

// rewriteTag replaces the image references of one tag.
func rewriteTag(tok html.Token, newRef func(string) (string, bool)) (t html.Token, keep, changed bool) {
	switch tok.Data {
	case "img":
		newSrc := ""
		for _, a := range tok.Attr {
			if a.Key == "src" {
				if n, ok := newRef(a.Val); ok {
					newSrc = n
				}
			}
		}
		if newSrc == "" {
			// No src fetched: perhaps its first srcset candidate was.
			for _, a := range tok.Attr {
				if c := srcset(a.Val); a.Key == "srcset" && len(c) > 0 {
					if n, ok := newRef(c[0]); ok {
						newSrc = n
					}
				}
			}
		}
		if newSrc == "" {
			return tok, true, false
		}
		kept := []html.Attribute{{Key: "src", Val: newSrc}}
		for _, a := range tok.Attr {
			if a.Key != "src" && a.Key != "srcset" && a.Key != "sizes" {
				kept = append(kept, a)
			}
		}
		tok.Attr = kept
		return tok, true, true
	case "video":
		for i, a := range tok.Attr {
			if a.Key == "poster" {
				if n, ok := newRef(a.Val); ok {
					tok.Attr[i].Val = n
					changed = true
				}
			}
		}
		return tok, true, changed
	case "source":
		for i, a := range tok.Attr {
			if a.Key != "srcset" {
				continue
			}
			cs := srcsetCandidates(a.Val)
			var parts []string
			for _, c := range cs {
				n, ok := newRef(c.url)
				if !ok {
					return tok, false, true
				}
				parts = append(parts, strings.TrimSpace(n+" "+c.desc))
			}
			tok.Attr[i].Val = strings.Join(parts, ", ")
			changed = true
		}
		return tok, true, changed
	}
	return tok, true, false
}

// imageClient returns the client that fetches images: c (the default
// client guarded against private addresses if nil) with a redirect policy
// that follows at most MaxImageRedirects redirects, to http or https only.
func imageClient(c *http.Client) *http.Client {
	if c == nil {
		c = defaultImageClient
	}
	cc := *c
	prev := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > MaxImageRedirects {
			return fmt.Errorf("more than %d redirects", MaxImageRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected to a %s: URL", req.URL.Scheme)
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	return &cc
}

// defaultImageClient fetches images when Options.HTTPClient is nil. It
// dials only public addresses (or a proxy from the environment): a page
// must not make the publisher fetch, and sign into a public bundle,
// images from its own network.
var defaultImageClient = &http.Client{Transport: &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	DialContext: (&net.Dialer{
		Timeout: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkPublic(address)
		},
	}).DialContext,
	TLSHandshakeTimeout:    15 * time.Second,
	ResponseHeaderTimeout:  30 * time.Second,
	MaxResponseHeaderBytes: 64 << 10,
	ForceAttemptHTTP2:      true,
}}

// CheckPublic returns an error if address (an IP address and a port, as
// a net.Dialer's Control function receives it) is not public: loopback,
// private, link-local (169.254.169.254, a cloud's metadata service),
// unspecified or multicast, unless it is the environment's proxy. The
// publisher's other fetches of pages a feed or a page names dial through
// it, for the reason defaultImageClient does.
func CheckPublic(address string) error { return checkPublic(address) }

// checkPublic refuses to dial an address that is not public, unless it is
// the environment's proxy.
func checkPublic(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("source: %s is not an IP address", host)
	}
	if !isPublic(ip) {
		for _, v := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
			if p, err := url.Parse(os.Getenv(v)); err == nil && p.Host != "" && sameHostPort(p, address) {
				return nil
			}
		}
		return fmt.Errorf("%s is not a public address", host)
	}
	return nil
}

// nonPublic are the ranges, beyond those net.IP's methods name, that are
// not the public Internet: RFC 6598's shared address space (carrier-grade
// NAT, Tailscale, and Alibaba Cloud's metadata service at
// 100.100.100.200), "this network" 0.0.0.0/8, IETF protocol assignments,
// benchmarking 198.18.0.0/15 and the reserved 240.0.0.0/4 with the
// broadcast address.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// nat64 is the well-known NAT64 prefix (RFC 6052): on an IPv6-only
// network with DNS64, 64:ff9b::a9fe:a9fe reaches 169.254.169.254.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isPublic reports whether ip is an address of the public Internet: not
// loopback, private, link-local, unspecified, multicast or one of
// nonPublic, nor a NAT64 address of one.
func isPublic(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return isPublic(net.IP(b[12:]))
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func sameHostPort(p *url.URL, address string) bool {
	port := p.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "socks5": "1080"}[p.Scheme]
	}
	h, pt, _ := net.SplitHostPort(address)
	if pt != port {
		return false
	}
	if h == p.Hostname() {
		return true
	}
	ips, err := net.LookupIP(p.Hostname())
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ip.String() == h {
			return true
		}
	}
	return false
}
