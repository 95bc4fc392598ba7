package mirror

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// Defaults of the Config fields whose zero value means something other
// than "off".
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultExportEvery     = time.Minute
	MinExportEvery         = time.Second
	DefaultMemoryLimitMB   = 64
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
)

// MaxConfigSize bounds a configuration file read by LoadConfig.
const MaxConfigSize = 1 << 20

// maxMB is the largest size in MiB whose bytes fit in an int64.
const maxMB = math.MaxInt64 >> 20

// Config is the operator's configuration of a mirror node. It is what a
// mirror.toml file holds (see LoadConfig), each field under the TOML key
// in its tag; the samizdat command's flags have the same names with "-"
// for "_". A nil *Config is not valid: Store and Trust are required. Every
// other zero value means the default documented beside the field.
//
// Paths in a Config are used as they are, relative to the process's
// working directory; LoadConfig makes a file's relative paths absolute
// against the file's folder.
type Config struct {
	// Store is the store directory, created on first start. Required.
	Store string `toml:"store"`
	// Trust lists the publisher.pub files of the publishers this mirror
	// carries; everything else is refused. At least one is required.
	Trust []string `toml:"trust"`

	// HTTP is the TCP address for plain HTTP/1.1 and HTTP/2 cleartext, for
	// a reverse proxy or loopback. Empty: no plain HTTP.
	HTTP string `toml:"http"`
	// HTTPS is the address for HTTPS (HTTP/1.1 and HTTP/2 on TCP) and
	// HTTP/3 (QUIC on the same port over UDP, announced with Alt-Svc).
	// It needs TLSCert and TLSKey, PEM files. Empty: no HTTPS.
	HTTPS   string `toml:"https"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// QUIC is the UDP address the sync protocol listens on for peers.
	// Empty: the mirror only dials its peers.
	QUIC string `toml:"quic"`
	// TCP is the TCP address of the sync protocol's TLS fallback, for
	// networks that drop UDP. Empty: none.
	TCP string `toml:"tcp"`
	// Metrics is the TCP address of a separate plain HTTP listener that
	// serves only /metrics (Prometheus text), for a scraper on a private
	// address; the HTTP and HTTPS listeners then answer /metrics with 404.
	// Empty: none, and the HTTP and HTTPS listeners serve /metrics.
	Metrics string `toml:"metrics"`
	// HTTPMaxConns caps the HTTP and HTTPS connections open at once; when
	// it is full, the connection idle longest is closed for a new one.
	// Zero: netlimit.DefaultMaxConns (16,384), lowered to what the
	// process's file descriptor limit allows.
	HTTPMaxConns int `toml:"http_max_conns"`
	// HTTPMaxConnsPerAddr caps the HTTP and HTTPS connections one client
	// address (an IPv4 address, an IPv6 /64) has open at once; more are
	// reset at once, so that one address cannot hold up other readers.
	// Loopback clients (a reverse proxy) are exempt. Zero:
	// netlimit.DefaultMaxConnsPerAddr (256); -1: no cap.
	HTTPMaxConnsPerAddr int `toml:"http_max_conns_per_addr"`

	// Peers are the peers to keep sync sessions to, each quic://HOST:PORT,
	// tcp://HOST:PORT or HOST:PORT (QUIC), optionally pinned with
	// #NODEKEY (the peer's node key, 64 hex digits, which every mirror
	// logs at start). See ParsePeer. Empty: none.
	Peers []string `toml:"peers"`
	// PublicURL is this mirror's own public HTTP URL (https://, http://
	// or h3://), listed first by /api/peers and told to peers over sync,
	// so that their readers learn of this mirror too. Empty: not
	// announced.
	PublicURL string `toml:"public_url"`
	// PeerURLs are public HTTP URLs of other mirrors, listed by
	// /api/peers besides those the peers announce over sync; at most
	// web.MaxPeerURLs. Empty: none.
	PeerURLs []string `toml:"peer_urls"`

	// QuotaMB bounds each publisher's bundles in the store, in MiB.
	// Zero: no quota.
	QuotaMB int64 `toml:"quota_mb"`
	// ExportStatic, if set, keeps a static mirror of the store (package
	// static: the files readers fetch and the pages, for any web server,
	// CDN or bucket) up to date while the mirror runs: a directory, or
	// s3://BUCKET/PREFIX. Empty: no export.
	ExportStatic string `toml:"export_static"`
	// ExportEvery is the least time between two exports' starts: an
	// export runs at start, then once the store changed, at most this
	// often; a failed one is tried again after it. Zero:
	// DefaultExportEvery (1m); at least MinExportEvery. In a file it is
	// written as "1m".
	ExportEvery time.Duration `toml:"export_every"`
	// ExportIndexProofs is static.Options.IndexProofs: how many of each
	// publisher's most recently changed articles get a full index proof
	// in the export, beside the split proofs every article has. Zero:
	// static.DefaultIndexProofs (100); -1: none.
	ExportIndexProofs int `toml:"export_index_proofs"`
	// S3Endpoint is the S3 server of an s3:// ExportStatic, https://HOST[:PORT].
	// Empty: https://s3.amazonaws.com.
	S3Endpoint string `toml:"s3_endpoint"`
	// S3AllowHTTP allows an http:// S3Endpoint that is not a loopback
	// address (credentials' signatures and objects cross the network in
	// the clear).
	S3AllowHTTP bool `toml:"s3_allow_http"`
	// S3AccessKey, S3SecretKey, S3SessionToken (optional) and S3Region
	// (optional) are the credentials of an s3:// ExportStatic. They are
	// not part of a file, so that no secret sits in a config that
	// --check-config prints: samizdat mirror takes them from
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
	// AWS_REGION.
	S3AccessKey, S3SecretKey, S3SessionToken, S3Region string `toml:"-"`

	// ShutdownTimeout bounds Shutdown when Run's context ends: HTTP
	// requests in flight get this long to finish, then their connections
	// are closed, and the store is closed in any case. Zero:
	// DefaultShutdownTimeout (10s). In a file it is written as "10s".
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`

	// LogLevel, LogFormat and MemoryLimitMB are process-wide: the program
	// that runs the mirror applies them (samizdat mirror does), and Start
	// only checks them.
	//
	// LogLevel is debug, info, warn or error. Empty: DefaultLogLevel.
	LogLevel string `toml:"log_level"`
	// LogFormat is text (slog's key=value lines) or json (one JSON object
	// a line). Empty: DefaultLogFormat.
	LogFormat string `toml:"log_format"`
	// MemoryLimitMB is a soft limit on the Go heap, in MiB (see
	// runtime/debug.SetMemoryLimit): the collector works harder near it
	// instead of letting a small VPS's memory grow. Zero:
	// DefaultMemoryLimitMB; -1: none. samizdat mirror lets GOMEMLIMIT in
	// the environment take precedence.
	MemoryLimitMB int64 `toml:"memory_limit_mb"`

	// Logger receives the mirror's log. Nil means silent. It is not part
	// of a file.
	Logger *slog.Logger `toml:"-"`

	// file is the file LoadConfig read, named by the errors of Check.
	file string
}

// ConfigError is a mistake in a Config or its file: a value out of range,
// a missing setting, a syntax error, an unknown key. Start returns it
// before it opens the store or listens anywhere.
type ConfigError struct {
	// File is the file the mistake is in; empty for a Config not read
	// from a file.
	File string
	// Key is the setting's TOML key, or empty when the mistake is about
	// several settings or the file as a whole.
	Key string
	// Err says what is wrong, in a form that follows the key's name.
	Err error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	} else {
		b.WriteString("mirror: config: ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

func (c *Config) errorf(key, format string, args ...any) error {
	return &ConfigError{File: c.file, Key: key, Err: fmt.Errorf(format, args...)}
}

// LoadConfig reads a mirror.toml file (at most MaxConfigSize bytes) into a
// Config. An unknown key is an error, so that a typo never drops a setting
// silently; a key left out keeps its zero value, which is its default.
// The relative paths in the file (store, trust, tls_cert, tls_key) are
// made absolute against the file's folder, so a file means the same
// wherever it is used from. Errors in the file's syntax or types are
// *ConfigError. LoadConfig does not check the values: Check does, after
// the caller has applied its overrides.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{File: path, Err: errors.Unwrap(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, &ConfigError{File: path, Err: err}
	}
	if len(data) > MaxConfigSize {
		return nil, &ConfigError{File: path, Err: fmt.Errorf("larger than %d bytes", MaxConfigSize)}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &ConfigError{File: path, Err: err}
	}
	return parseConfig(path, dir, data)
}

// parseConfig decodes a file's bytes, resolving relative paths against
// dir.
func parseConfig(path, dir string, data []byte) (*Config, error) {
	c := &Config{file: path}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, &ConfigError{File: path, Err: errors.New(oneLine(err.Error()))}
	}
	if un := md.Undecoded(); len(un) > 0 {
		var keys []string
		for _, k := range un {
			keys = append(keys, k.String())
		}
		return nil, &ConfigError{File: path, Err: fmt.Errorf("unknown setting(s): %s", strings.Join(keys, ", "))}
	}
	// The TOML decoder reads an integer as nanoseconds, which no operator
	// means by "shutdown_timeout = 5".
	for _, k := range []string{"shutdown_timeout", "export_every"} {
		if md.IsDefined(k) && md.Type(k) != "String" {
			return nil, &ConfigError{File: path, Key: k, Err: errors.New(`want a duration in quotes, such as "10s"`)}
		}
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Store = abs(c.Store)
	c.TLSCert = abs(c.TLSCert)
	c.TLSKey = abs(c.TLSKey)
	if !strings.HasPrefix(c.ExportStatic, "s3://") {
		c.ExportStatic = abs(c.ExportStatic)
	}
	for i, p := range c.Trust {
		c.Trust[i] = abs(p)
	}
	return c, nil
}

// oneLine keeps an error message to one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// withDefaults returns a copy of c with every zero value that stands for
// a default replaced by that default.
func (c *Config) withDefaults() *Config {
	d := *c
	if d.ShutdownTimeout == 0 {
		d.ShutdownTimeout = DefaultShutdownTimeout
	}
	if d.MemoryLimitMB == 0 {
		d.MemoryLimitMB = DefaultMemoryLimitMB
	}
	if d.ExportEvery == 0 {
		d.ExportEvery = DefaultExportEvery
	}
	if d.HTTPMaxConns == 0 {
		d.HTTPMaxConns = netlimit.DefaultMaxConns // lowered at start to what the file descriptor limit allows
	}
	if d.HTTPMaxConnsPerAddr == 0 {
		d.HTTPMaxConnsPerAddr = netlimit.DefaultMaxConnsPerAddr
	}
	if d.LogLevel == "" {
		d.LogLevel = DefaultLogLevel
	}
	if d.LogFormat == "" {
		d.LogFormat = DefaultLogFormat
	}
	return &d
}

// Check reports the first mistake in c as a *ConfigError: a required
// setting missing, a value out of range or malformed, or settings that
// need each other. It reads no file and opens nothing; Start calls it
// first.
func (c *Config) Check() error {
	switch {
	case c.Store == "":
		return c.errorf("store", "required: the store directory")
	case len(c.Trust) == 0:
		return c.errorf("trust", "at least one publisher.pub is required: a mirror carries only publishers its operator chose")
	case c.HTTP == "" && c.HTTPS == "" && c.QUIC == "" && c.TCP == "" && len(c.Peers) == 0:
		return c.errorf("", "nothing to do: set http, https, quic, tcp or peers")
	case c.HTTPS != "" && (c.TLSCert == "" || c.TLSKey == ""):
		return c.errorf("https", "needs tls_cert and tls_key")
	case c.HTTPS == "" && (c.TLSCert != "" || c.TLSKey != ""):
		return c.errorf("https", "required by tls_cert and tls_key")
	case c.QuotaMB < 0:
		return c.errorf("quota_mb", "must not be negative, not %d", c.QuotaMB)
	case c.QuotaMB > maxMB:
		return c.errorf("quota_mb", "at most %d", maxMB)
	case c.MemoryLimitMB < -1:
		return c.errorf("memory_limit_mb", "must be -1 (none), 0 (default %d) or more, not %d", DefaultMemoryLimitMB, c.MemoryLimitMB)
	case c.MemoryLimitMB > maxMB:
		return c.errorf("memory_limit_mb", "at most %d", maxMB)
	case c.HTTPMaxConns < 0:
		return c.errorf("http_max_conns", "must not be negative, not %d", c.HTTPMaxConns)
	case c.HTTPMaxConnsPerAddr < -1:
		return c.errorf("http_max_conns_per_addr", "must be -1 (no cap), 0 (default %d) or more, not %d", netlimit.DefaultMaxConnsPerAddr, c.HTTPMaxConnsPerAddr)
	case c.ShutdownTimeout < 0:
		return c.errorf("shutdown_timeout", "must not be negative, not %v", c.ShutdownTimeout)
	case c.ExportEvery != 0 && c.ExportEvery < MinExportEvery:
		return c.errorf("export_every", "must be 0 (default %v) or at least %v, not %v", DefaultExportEvery, MinExportEvery, c.ExportEvery)
	case c.ExportIndexProofs < -1:
		return c.errorf("export_index_proofs", "must be -1 (none), 0 (the default, 100) or more, not %d", c.ExportIndexProofs)
	case !strings.HasPrefix(c.ExportStatic, "s3://") && (c.S3Endpoint != "" || c.S3AllowHTTP):
		return c.errorf("export_static", "s3_endpoint and s3_allow_http need an s3://BUCKET/PREFIX target, not %q", c.ExportStatic)
	}
	if strings.HasPrefix(c.ExportStatic, "s3://") {
		if _, _, err := static.ParseS3URL(c.ExportStatic); err != nil {
			return c.errorf("export_static", "%s", strings.TrimPrefix(err.Error(), "static: "))
		}
	}
	for _, a := range []struct{ key, addr string }{{"http", c.HTTP}, {"https", c.HTTPS}, {"quic", c.QUIC}, {"tcp", c.TCP}, {"metrics", c.Metrics}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			msg := err.Error()
			if ae, ok := err.(*net.AddrError); ok {
				msg = ae.Err
			}
			return c.errorf(a.key, "want HOST:PORT or :PORT: %s", msg)
		}
	}
	for i, p := range c.Trust {
		if p == "" {
			return c.errorf("trust", "entry %d is empty", i+1)
		}
	}
	for _, s := range c.Peers {
		if _, err := ParsePeer(s); err != nil {
			return c.errorf("peers", "%s", strings.TrimPrefix(err.Error(), "mirror: "))
		}
	}
	if c.PublicURL != "" {
		if err := catalog.CheckMirrorURL(c.PublicURL); err != nil {
			return c.errorf("public_url", "%v", err)
		}
	}
	if len(c.PeerURLs) > web.MaxPeerURLs {
		return c.errorf("peer_urls", "%d URLs: at most %d", len(c.PeerURLs), web.MaxPeerURLs)
	}
	for _, u := range c.PeerURLs {
		if err := catalog.CheckMirrorURL(u); err != nil {
			return c.errorf("peer_urls", "%v", err)
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return c.errorf("log_level", "want debug, info, warn or error, not %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return c.errorf("log_format", "want text or json, not %q", c.LogFormat)
	}
	return nil
}

// WriteTOML writes c as a mirror.toml file that LoadConfig reads back to
// the same settings, every key present and every default written out, so
// that an operator sees what a mirror will run with.
func (c *Config) WriteTOML(w io.Writer) error {
	d := c.withDefaults()
	// Lists are written even when empty, so every key shows.
	if d.Trust == nil {
		d.Trust = []string{}
	}
	if d.Peers == nil {
		d.Peers = []string{}
	}
	if d.PeerURLs == nil {
		d.PeerURLs = []string{}
	}
	return toml.NewEncoder(w).Encode(d)
}
