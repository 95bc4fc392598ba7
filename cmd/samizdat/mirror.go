package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/samizdat-news/samizdat/mirror"
)

func runMirror(e *env, args []string) error {
	fs := newFlags(e, "mirror", "[--config FILE] --store DIR --trust PUBFILE... [--http ADDR] [--quic ADDR] [--peer quic://HOST:PORT]... [flags]\n\n"+
		"Every flag but --config and --check-config has a setting of the same name in the TOML\n"+
		"file, with _ for - (the lists: trust, peers, peer_urls). A flag given on the command line\n"+
		"replaces the file's setting, even with an empty or zero value; a list flag replaces the\n"+
		"file's whole list (--peer= empties it). Relative paths in the file are relative to its folder.")
	config := mirrorFlags(fs)
	check := fs.Bool("check-config", false, "check the settings and the files they name, print them with every default filled in, and exit")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("mirror takes no arguments, only flags")
	}
	c, err := config()
	if err != nil {
		return err
	}
	s3 := s3Config(e, "", false)
	c.S3AccessKey, c.S3SecretKey, c.S3SessionToken, c.S3Region = s3.AccessKey, s3.SecretKey, s3.SessionToken, s3.Region
	if *check {
		if err := c.CheckFiles(); err != nil {
			return err
		}
		return c.WriteTOML(e.stdout)
	}
	c.Logger = newFormatLogger(e.stderr, c.LogLevel, c.LogFormat)
	if c.MemoryLimitMB == 0 {
		c.MemoryLimitMB = mirror.DefaultMemoryLimitMB
	}
	if c.MemoryLimitMB > 0 && e.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(c.MemoryLimitMB << 20)
	}
	return mirror.Run(e.ctx, c)
}

// newLogger makes the text logger of a command, on stderr.
func newLogger(e *env, level string) *slog.Logger {
	return newFormatLogger(e.stderr, level, "text")
}

// newFormatLogger makes a logger at level (debug, info, warn or error;
// empty for info) writing text (key=value) or json lines to w.
func newFormatLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if level != "" {
		l.UnmarshalText([]byte(level)) // checked by the caller
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// mirrorFlags defines the flags of `samizdat mirror` on fs, and returns a
// function that, after parsing, loads the config file if one was given,
// sets over it every setting given by a flag, and checks the result.
func mirrorFlags(fs *flag.FlagSet) func() (*mirror.Config, error) {
	file := fs.String("config", "", "TOML configuration file (see dist/mirror.toml); flags override its settings")
	var f mirror.Config // the flags' values; only those given are used
	fs.StringVar(&f.Store, "store", "", "store directory (created if missing)")
	fs.Var((*listFlag)(&f.Trust), "trust", "a publisher.pub file of a publisher to carry (repeatable)")
	fs.Var((*listFlag)(&f.Peers), "peer", "a peer to sync with: quic://HOST:PORT or tcp://HOST:PORT, optionally #NODEKEY (repeatable)")
	fs.StringVar(&f.HTTP, "http", "", "address for plain HTTP (for a reverse proxy, or loopback)")
	fs.StringVar(&f.HTTPS, "https", "", "address for HTTPS and HTTP/3 (needs --tls-cert and --tls-key)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "TLS certificate chain (PEM) for --https")
	fs.StringVar(&f.TLSKey, "tls-key", "", "TLS private key (PEM) for --https")
	fs.StringVar(&f.QUIC, "quic", "", "UDP address for the sync protocol over QUIC")
	fs.StringVar(&f.TCP, "tcp", "", "TCP address for the sync protocol over TLS (for networks that drop UDP)")
	fs.StringVar(&f.Metrics, "metrics", "", "address of a separate plain HTTP listener serving only /metrics")
	fs.StringVar(&f.PublicURL, "public-url", "", "this mirror's public HTTP URL, for readers' lists of mirrors (/api/peers)")
	fs.Var((*listFlag)(&f.PeerURLs), "peer-url", "another mirror's public HTTP URL, listed by /api/peers (repeatable)")
	fs.IntVar(&f.HTTPMaxConns, "http-max-conns", 0, "most HTTP(S) connections open at once (0: 16384, or what the file descriptor limit allows)")
	fs.IntVar(&f.HTTPMaxConnsPerAddr, "http-max-conns-per-addr", 0, "most HTTP(S) connections from one client address, IPv6 by /64 (0: 256; -1: no cap)")
	fs.Int64Var(&f.QuotaMB, "quota-mb", 0, "largest size of one publisher's bundles, in MiB (0: no quota)")
	fs.StringVar(&f.ExportStatic, "export-static", "", "keep a static mirror of the store at this directory or s3://BUCKET/PREFIX (see export-static; S3 credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.DurationVar(&f.ExportEvery, "export-every", 0, "least time between two static exports, which run after the store changed (0: 1m)")
	fs.IntVar(&f.ExportIndexProofs, "export-index-proofs", 0, "full index proofs in the static export for this many of each publisher's most recently changed articles (0: 100; -1: none); every article has a split proof")
	fs.StringVar(&f.S3Endpoint, "s3-endpoint", "", "the S3 server of an s3:// --export-static (default https://s3.amazonaws.com)")
	fs.BoolVar(&f.S3AllowHTTP, "s3-allow-http", false, "allow an http:// --s3-endpoint that is not on loopback")
	fs.DurationVar(&f.ShutdownTimeout, "shutdown-timeout", 0, "how long requests in flight may take to finish on SIGTERM (0: 10s)")
	fs.StringVar(&f.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.StringVar(&f.LogFormat, "log-format", "", "text or json (default text)")
	fs.Int64Var(&f.MemoryLimitMB, "memory-limit-mb", 0, "soft limit on the Go heap in MiB (0: 64; -1: none; GOMEMLIMIT wins)")
	return func() (*mirror.Config, error) {
		c := &mirror.Config{}
		if *file != "" {
			var err error
			if c, err = mirror.LoadConfig(*file); err != nil {
				return nil, configError(err, nil)
			}
		}
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) {
			set[fl.Name] = true
			switch fl.Name {
			case "store":
				c.Store = f.Store
			case "trust":
				c.Trust = f.Trust
			case "peer":
				c.Peers = f.Peers
			case "http":
				c.HTTP = f.HTTP
			case "https":
				c.HTTPS = f.HTTPS
			case "tls-cert":
				c.TLSCert = f.TLSCert
			case "tls-key":
				c.TLSKey = f.TLSKey
			case "quic":
				c.QUIC = f.QUIC
			case "tcp":
				c.TCP = f.TCP
			case "metrics":
				c.Metrics = f.Metrics
			case "public-url":
				c.PublicURL = f.PublicURL
			case "peer-url":
				c.PeerURLs = f.PeerURLs
			case "http-max-conns":
				c.HTTPMaxConns = f.HTTPMaxConns
			case "http-max-conns-per-addr":
				c.HTTPMaxConnsPerAddr = f.HTTPMaxConnsPerAddr
			case "quota-mb":
				c.QuotaMB = f.QuotaMB
			case "export-static":
				c.ExportStatic = f.ExportStatic
			case "export-every":
				c.ExportEvery = f.ExportEvery
			case "export-index-proofs":
				c.ExportIndexProofs = f.ExportIndexProofs
			case "s3-endpoint":
				c.S3Endpoint = f.S3Endpoint
			case "s3-allow-http":
				c.S3AllowHTTP = f.S3AllowHTTP
			case "shutdown-timeout":
				c.ShutdownTimeout = f.ShutdownTimeout
			case "log-level":
				c.LogLevel = f.LogLevel
			case "log-format":
				c.LogFormat = f.LogFormat
			case "memory-limit-mb":
				c.MemoryLimitMB = f.MemoryLimitMB
			}
		})
		if err := c.Check(); err != nil {
			return nil, configError(err, set)
		}
		return c, nil
	}
}

// listFlag is a repeatable string flag whose empty value adds nothing,
// so that --peer= given alone stands for an empty list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	if v != "" {
		*l = append(*l, v)
	}
	return nil
}

// settingFlags names the flags whose names are not their settings' keys
// with - for _.
var settingFlags = map[string]string{"peers": "peer", "peer_urls": "peer-url"}

// configError turns a *mirror.ConfigError into one line for the operator:
// it names the flag when the setting came from a flag (in set) or there
// is no file, and the file and key otherwise. Exit status 2.
func configError(err error, set map[string]bool) error {
	var ce *mirror.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	name, ok := settingFlags[ce.Key]
	if !ok {
		name = strings.ReplaceAll(ce.Key, "_", "-")
	}
	switch {
	case ce.Key != "" && (set[name] || ce.File == ""):
		return &lineError{"--" + name + ": " + ce.Err.Error()}
	case ce.File == "":
		return &lineError{ce.Err.Error()}
	default:
		return &lineError{ce.Error()}
	}
}
