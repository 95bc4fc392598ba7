package reader

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http/httpproxy"

	"github.com/samizdat-news/samizdat/bundle"
)

// transports are the HTTP clients a reader fetches with: one for http and
// https (HTTP/1.1 and HTTP/2), one for h3 (HTTP/3 over QUIC).
type transports struct {
	cfg  *Config
	tcp  *http.Transport
	quic *http3.Transport
	// proxy is the environment's proxy (HTTP_PROXY, HTTPS_PROXY,
	// NO_PROXY); proxied says one is set, and then no mirror may be
	// reached around it.
	proxy   func(*url.URL) (*url.URL, error)
	proxied bool
	// test, when set, carries http and https requests instead of tcp: a
	// test's counting or delaying wrapper around it.
	test http.RoundTripper
}

func newTransports(cfg *Config) *transports {
	tlsConf := cfg.TLSConfig.Clone()
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	tlsConf.MinVersion = tls.VersionTLS12
	tlsConf.InsecureSkipVerify = cfg.InsecureTLS
	// get's own timer bounds everything up to the response headers; these
	// only back it up, so its clearer reason is the one reported.
	backup := cfg.HeaderTimeout + time.Second
	dialer := &net.Dialer{Timeout: backup}
	t := &transports{cfg: cfg}
	env := httpproxy.FromEnvironment()
	t.proxy, t.proxied = env.ProxyFunc(), env.HTTPProxy != "" || env.HTTPSProxy != ""
	t.tcp = &http.Transport{
		Proxy:                  func(r *http.Request) (*url.URL, error) { return t.proxy(r.URL) },
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf.Clone(),
		TLSHandshakeTimeout:    backup,
		ResponseHeaderTimeout:  backup,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        30 * time.Second,
	}
	h3conf := tlsConf.Clone()
	t.quic = &http3.Transport{
		TLSClientConfig: h3conf,
		QUICConfig: &quic.Config{
			HandshakeIdleTimeout: backup,
			MaxIdleTimeout:       30 * time.Second,
		},
		MaxResponseHeaderBytes: 64 << 10,
	}
	return t
}

func (t *transports) close() {
	t.tcp.CloseIdleConnections()
	t.quic.Close()
}

// MirrorURL is a mirror URL as a person gives it, taken apart by
// ParseMirrorURL.
type MirrorURL struct {
	// Base is the mirror's URL to give Config.Mirrors: SCHEME://HOST[:PORT]
	// and the mirror's path prefix, if any, without a trailing slash.
	Base string
	// Publisher is the publisher ID that a page's URL names
	// (".../p/ID/..."), or "".
	Publisher string
	// Article is the article ID that an article page's URL names
	// (".../p/ID/a/ARTICLE/..."), or "".
	Article string
}

// ParseMirrorURL parses a mirror URL as a person gives it: the mirror's
// base URL (http://, https:// or h3:// for HTTP/3), or the URL of any page
// or file of a publisher on it, as copied from a browser's address bar
// (".../p/ID/", ".../p/ID/a/ARTICLE/", ".../api/p/ID/..."), which is cut
// back to the mirror's base. A URL without a scheme, such as
// "127.0.0.1:8080", is refused with the URL to give instead: the reader
// does not guess between http and https. A query or fragment (the
// index's "?lang=fa", a list's "?page=2") names a view of a page, not the
// mirror, and is dropped.
func ParseMirrorURL(s string) (*MirrorURL, error) {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" && (u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#")) {
		u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
		s = u.String()
	}
	if _, _, err := mirrorURL(s); err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	u, err := url.Parse(s) // mirrorURL parsed it
	if err != nil {
		return nil, fmt.Errorf("reader: mirror URL %q: %v", s, errors.Unwrap(err))
	}
	m := &MirrorURL{}
	segs := strings.Split(u.Path, "/")
	for i := 1; i+1 < len(segs); i++ {
		if segs[i] != "p" || !isPublisherID(segs[i+1]) {
			continue
		}
		m.Publisher = segs[i+1]
		if i+3 < len(segs) && segs[i+2] == "a" && bundle.CheckID(segs[i+3]) == nil {
			m.Article = segs[i+3]
		}
		if segs[i-1] == "api" {
			i--
		}
		u.Path = strings.Join(segs[:i], "/")
		u.RawPath = ""
		break
	}
	m.Base = strings.TrimRight(u.String(), "/")
	if _, _, err := mirrorURL(m.Base); err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	return m, nil
}

// noScheme explains that s, a URL without a scheme, needs one, and names
// the URL to give: http:// for a loopback address, where nothing crosses
// the network, and https:// for anything else.
func noScheme(s string) error {
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return fmt.Errorf("mirror URL %q has no scheme: want http://, https:// or h3://", s)
	}
	host, _, _ := strings.Cut(s, "/")
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	if ip := net.ParseIP(h); h == "localhost" || ip != nil && ip.IsLoopback() {
		return fmt.Errorf("mirror URL %q has no scheme: give http://%s", s, s)
	}
	return fmt.Errorf("mirror URL %q has no scheme: give https://%s, or http://%s if the mirror has no TLS", s, s, s)
}

// isPublisherID reports whether s has the form of a publisher ID: 32
// lowercase hex digits.
func isPublisherID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// mirrorURL checks a mirror URL and returns it in the form requests are
// made to: no trailing slash; h3:// becomes https:// with h3 set.
func mirrorURL(s string) (base string, h3 bool, err error) {
	if !strings.Contains(s, "://") {
		return "", false, noScheme(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("mirror URL %q: %v", s, errors.Unwrap(err))
	}
	switch u.Scheme {
	case "http", "https":
	case "h3":
		h3 = true
		u.Scheme = "https"
	default:
		return "", false, fmt.Errorf("mirror URL %q: scheme must be http, https or h3", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") || u.Opaque != "" {
		return "", false, fmt.Errorf("mirror URL %q: want SCHEME://HOST[:PORT][/PATH] only", s)
	}
	return strings.TrimRight(u.String(), "/"), h3, nil
}

// checkRoute refuses a mirror that would be reached around a configured
// proxy: HTTP/3 cannot be proxied, and a scheme the environment names no
// proxy for would go direct, telling the network who reads. Loopback
// mirrors are not on the network.
func (t *transports) checkRoute(base string, h3 bool) error {
	if !t.proxied {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
		return nil
	}
	if h3 {
		return errors.New("skipped: HTTP/3 cannot go through the proxy the environment sets")
	}
	if p, err := t.proxy(u); err != nil || p == nil {
		return fmt.Errorf("skipped: no proxy is set for %s:// URLs (HTTP_PROXY, HTTPS_PROXY), and it would not go around the one that is", u.Scheme)
	}
	return nil
}

// errStatus is a response other than 200.
type errStatus struct {
	path   string
	code   int
	status string
}

func (e *errStatus) Error() string { return fmt.Sprintf("GET %s: %s", e.path, e.status) }

// errSlow says a transfer arrived slower than Config.MinRate.
var errSlow = errors.New("too slow")

// slowGrace is the time a transfer has before its rate is judged.
const slowGrace = time.Second

// meter judges the speed of a whole transfer: every response body one
// attempt reads from a mirror, however many streams carry them at once.
// It counts the bytes that arrived and the time during which at least one
// body was being read; a transfer is too slow when, after slowGrace of
// such time, its bytes fall behind MinRate over that time, or when no
// byte arrived at all for stall while a body was being read. Judging the
// whole transfer rather than each stream lets a slow link share its
// bandwidth among streams (each may then crawl), and still drops a mirror
// that drips or stalls. It is safe for concurrent use.
type meter struct {
	minRate int64
	stall   time.Duration
	cancel  context.CancelCauseFunc // cancels the whole transfer

	mu     sync.Mutex
	active int           // bodies being read
	busy   time.Duration // time with active > 0, up to since
	since  time.Time     // when active last went from 0 to 1
	last   time.Time     // when the last byte arrived, or since
	bytes  int64
}

func newMeter(cfg *Config, cancel context.CancelCauseFunc) *meter {
	return &meter{minRate: cfg.MinRate, stall: cfg.HeaderTimeout, cancel: cancel}
}

func (m *meter) begin(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == 0 {
		m.since, m.last = now, now
	}
	m.active++
}

func (m *meter) end(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.active == 0 {
		m.busy += now.Sub(m.since)
	}
}

func (m *meter) add(n int, now time.Time) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	m.bytes += int64(n)
	m.last = now
	m.mu.Unlock()
}

// check cancels the transfer if it is too slow at now.
func (m *meter) check(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == 0 {
		return
	}
	el := m.busy + now.Sub(m.since)
	switch {
	case el > slowGrace && float64(m.bytes) < float64(m.minRate)*(el-slowGrace).Seconds():
		m.cancel(fmt.Errorf("%w: %d bytes in %v of transfer, under %d bytes/s", errSlow, m.bytes, el.Round(time.Millisecond), m.minRate))
	case now.Sub(m.last) > m.stall:
		m.cancel(fmt.Errorf("%w: no byte for %v", errSlow, now.Sub(m.last).Round(time.Millisecond)))
	}
}

// get fetches base+path and returns a body of at most max bytes. It gives
// up when the headers take longer than HeaderTimeout, and the transfer
// when m finds it too slow; a nil m judges this body alone.
func (t *transports) get(ctx context.Context, m *meter, base string, h3 bool, path string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if m == nil {
		m = newMeter(t.cfg, cancel)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "samizdat-reader/1")
	rt := http.RoundTripper(t.tcp)
	if t.test != nil {
		rt = t.test
	}
	if h3 {
		rt = t.quic
	}
	headers := time.AfterFunc(t.cfg.HeaderTimeout, func() {
		cancel(fmt.Errorf("no answer within %v", t.cfg.HeaderTimeout))
	})
	resp, err := rt.RoundTrip(req)
	headers.Stop()
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The reason phrase is the mirror's to choose: not shown.
		return nil, &errStatus{path, resp.StatusCode, fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: body of %d bytes exceeds the limit of %d", path, resp.ContentLength, limit)
	}
	// A watchdog checks the transfer's speed while this body is read; a
	// stalled Read does not return on its own.
	m.begin(time.Now())
	defer func() { m.end(time.Now()) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				m.check(now)
			}
		}
	}()
	// The mirror's Content-Length sizes the buffer only up to 1 MiB: the
	// rest grows as bytes arrive.
	buf := make([]byte, 0, min(limit+1, max(resp.ContentLength+1, 4096), 1<<20))
	for {
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("GET %s: body exceeds the limit of %d bytes", path, limit)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := resp.Body.Read(buf[len(buf):int(min(int64(cap(buf)), limit+1))])
		buf = buf[:len(buf)+n]
		m.add(n, time.Now())
		if err == io.EOF {
			break
		}
		if err != nil {
			if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
				err = c
			}
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("GET %s: body exceeds the limit of %d bytes", path, limit)
	}
	return buf, nil
}
