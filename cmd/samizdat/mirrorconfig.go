package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// mirrorConfig is the operator's configuration of `samizdat mirror`: a TOML
// file, with command-line flags taking precedence. Zero values are the
// documented defaults.
type mirrorConfig struct {
	// Store is the store directory (created if missing).
	Store string `toml:"store"`
	// Trust lists publisher.pub files: the publishers this mirror carries.
	Trust []string `toml:"trust"`
	// HTTP is the address for plain HTTP/1.1 and HTTP/2 cleartext, for use
	// behind a reverse proxy or on loopback. Empty: no plain HTTP.
	HTTP string `toml:"http"`
	// HTTPS is the address for HTTPS (HTTP/1.1 and HTTP/2 over TCP) and
	// HTTP/3 (QUIC, same port over UDP), with TLSCert and TLSKey.
	HTTPS   string `toml:"https"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// QUIC is the UDP address the sync protocol listens on. Empty: the
	// mirror only dials its peers.
	QUIC string `toml:"quic"`
	// TCP is the TCP address of the sync protocol's TLS fallback, for
	// networks that drop UDP. Empty: none.
	TCP string `toml:"tcp"`
	// Peers are quic://HOST:PORT or tcp://HOST:PORT addresses to sync with,
	// optionally pinned as ...#NODEKEY (the peer's node key, hex).
	Peers []string `toml:"peers"`
	// PublicURL is this mirror's own public HTTP URL (https://, http://
	// or h3://), given to readers by /api/peers and to peers over sync, so
	// their readers learn of this mirror too. Empty: not announced.
	PublicURL string `toml:"public_url"`
	// PeerURLs are public HTTP URLs of other mirrors, listed by
	// /api/peers besides those the peers announce over sync.
	PeerURLs []string `toml:"peer_urls"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `toml:"log_level"`
	// QuotaMB bounds each publisher's bundles in the store, in MiB.
	// Zero: no quota.
	QuotaMB int64 `toml:"quota_mb"`
	// MemoryLimitMB is a soft limit on the Go heap, in MiB (see
	// runtime/debug.SetMemoryLimit): the collector works harder near it
	// instead of letting a small VPS's memory grow. Default 64; -1 means
	// none. GOMEMLIMIT in the environment takes precedence.
	MemoryLimitMB int64 `toml:"memory_limit_mb"`
	// ShutdownTimeout bounds a clean shutdown. Default 10s.
	ShutdownTimeout duration `toml:"shutdown_timeout"`
}

// duration is a time.Duration written as "10s" in TOML.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("negative duration")
	}
	d.Duration = v
	return nil
}

// maxConfigSize bounds the config file.
const maxConfigSize = 1 << 20

// loadMirrorConfig reads a TOML file; unknown keys are errors, so a typo
// never silently drops a setting.
func loadMirrorConfig(path string) (*mirrorConfig, error) {
	data, err := readSmall(path, maxConfigSize)
	if err != nil {
		return nil, err
	}
	var c mirrorConfig
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, oneLine(err.Error()))
	}
	if un := md.Undecoded(); len(un) > 0 {
		var keys []string
		for _, k := range un {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("%s: unknown setting(s): %s", path, strings.Join(keys, ", "))
	}
	return &c, nil
}

// mirrorFlags defines the flags of `samizdat mirror` on fs, and returns a
// function that, after parsing, merges them over a config file's values.
func mirrorFlags(fs *flag.FlagSet) func() (*mirrorConfig, error) {
	file := fs.String("config", "", "TOML configuration file; flags override its settings")
	storeDir := fs.String("store", "", "store directory (created if missing)")
	var trust, peers multiFlag
	fs.Var(&trust, "trust", "a publisher.pub file of a publisher to carry (repeatable)")
	fs.Var(&peers, "peer", "a peer to sync with: quic://HOST:PORT or tcp://HOST:PORT, optionally #NODEKEY (repeatable)")
	httpAddr := fs.String("http", "", "address for plain HTTP (for a reverse proxy, or loopback)")
	httpsAddr := fs.String("https", "", "address for HTTPS and HTTP/3 (needs --tls-cert and --tls-key)")
	cert := fs.String("tls-cert", "", "TLS certificate chain (PEM) for --https")
	key := fs.String("tls-key", "", "TLS private key (PEM) for --https")
	quicAddr := fs.String("quic", "", "UDP address for the sync protocol over QUIC")
	tcpAddr := fs.String("tcp", "", "TCP address for the sync protocol over TLS (for networks that drop UDP)")
	publicURL := fs.String("public-url", "", "this mirror's public HTTP URL, for readers' lists of mirrors (/api/peers)")
	var peerURLs multiFlag
	fs.Var(&peerURLs, "peer-url", "another mirror's public HTTP URL, listed by /api/peers (repeatable)")
	level := fs.String("log-level", "", "debug, info, warn or error (default info)")
	quota := fs.Int64("quota-mb", 0, "largest size of one publisher's bundles, in MiB (0: no quota)")
	memLimit := fs.Int64("memory-limit-mb", 0, "soft limit on the Go heap in MiB (default 64; -1: none; GOMEMLIMIT wins)")
	return func() (*mirrorConfig, error) {
		c := &mirrorConfig{}
		if *file != "" {
			var err error
			if c, err = loadMirrorConfig(*file); err != nil {
				return nil, err
			}
		}
		override(&c.Store, *storeDir)
		override(&c.HTTP, *httpAddr)
		override(&c.HTTPS, *httpsAddr)
		override(&c.TLSCert, *cert)
		override(&c.TLSKey, *key)
		override(&c.QUIC, *quicAddr)
		override(&c.TCP, *tcpAddr)
		override(&c.LogLevel, *level)
		override(&c.PublicURL, *publicURL)
		c.PeerURLs = append(c.PeerURLs, peerURLs...)
		c.Trust = append(c.Trust, trust...)
		c.Peers = append(c.Peers, peers...)
		if *quota != 0 {
			c.QuotaMB = *quota
		}
		if *memLimit != 0 {
			c.MemoryLimitMB = *memLimit
		}
		if c.MemoryLimitMB == 0 {
			c.MemoryLimitMB = 64
		}
		if c.ShutdownTimeout.Duration == 0 {
			c.ShutdownTimeout.Duration = 10 * time.Second
		}
		if c.LogLevel == "" {
			c.LogLevel = "info"
		}
		switch {
		case c.Store == "":
			return nil, usagef("--store DIR is required")
		case len(c.Trust) == 0:
			return nil, usagef("at least one --trust PUBFILE is required: a mirror carries only publishers its operator chose")
		case c.HTTP == "" && c.HTTPS == "" && c.QUIC == "" && len(c.Peers) == 0:
			return nil, usagef("nothing to do: give --http, --https, --quic or --peer")
		case (c.HTTPS != "") != (c.TLSCert != "" && c.TLSKey != ""):
			return nil, usagef("--https needs --tls-cert and --tls-key, and they need --https")
		case c.QuotaMB < 0:
			return nil, usagef("--quota-mb must not be negative")
		}
		if c.PublicURL != "" {
			if err := catalog.CheckMirrorURL(c.PublicURL); err != nil {
				return nil, usagef("--public-url: %v", err)
			}
		}
		if len(c.PeerURLs) > web.MaxPeerURLs {
			return nil, usagef("%d --peer-url: at most %d", len(c.PeerURLs), web.MaxPeerURLs)
		}
		for _, u := range c.PeerURLs {
			if err := catalog.CheckMirrorURL(u); err != nil {
				return nil, usagef("--peer-url: %v", err)
			}
		}
		switch c.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			return nil, usagef("log level %q: want debug, info, warn or error", c.LogLevel)
		}
		return c, nil
	}
}
