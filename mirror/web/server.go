package web

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-news/samizdat/internal/coalesce"
	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// Defaults of ServerConfig. The connection caps' defaults are netlimit's:
// 16,384 connections in all (fewer if the process may open fewer files),
// 256 per client address (IPv4 address, IPv6 /64), loopback exempt.
const (
	// DefaultReadHeaderTimeout bounds the time from a connection's
	// accepting (or the end of its previous response) to the end of a
	// request's headers, and a TLS handshake: a client dripping its
	// headers holds its slot no longer than this.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing a response, from the end of
	// its request's headers.
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultIdleTimeout bounds how long a keep-alive connection waits
	// for its next request. Idle connections are also the first to go
	// when the total connection cap is full (package netlimit).
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds a request's headers (the request line
	// included). The mirror's requests need a few hundred bytes.
	DefaultMaxHeaderBytes = 16 << 10
)

// ServerConfig tunes a Server. A nil *ServerConfig, and every zero field,
// means the documented default.
type ServerConfig struct {
	// Limiter caps the server's connections, in total and per client
	// address; servers given the same Limiter share its caps. Nil means
	// a Limiter of the server's own with netlimit's defaults.
	Limiter *netlimit.Limiter
	// TLSConfig, if set, makes the server serve HTTPS (HTTP/1.1 and
	// HTTP/2 over TLS); its Certificates or GetCertificate must be set.
	// Nil means plain HTTP (HTTP/1.1 and unencrypted HTTP/2).
	TLSConfig *tls.Config
	// ReadHeaderTimeout: zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout: zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout: zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes: zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds the requests one HTTP/2 connection may
	// have in flight. Zero means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// MaxRequests and MaxRequestsPerAddr bound the requests being
	// handled at once, in total and per client address (IPv4 address,
	// IPv6 /64; loopback exempt unless the Limiter limits it): more are
	// answered 503 at once, with no body. Zero means the Limiter's
	// MaxConns and MaxConnsPerAddr, so that HTTP/2, which carries many
	// requests on one connection, lets a client hold no more handlers
	// than HTTP/1.1 would; a negative MaxRequestsPerAddr means no
	// per-address bound.
	MaxRequests, MaxRequestsPerAddr int
	// NoCoalesce turns off package coalesce on plain HTTP, which sends a
	// full 4 KB buffer of net/http with the next write in one writev (a
	// cached article page leaves in one system call instead of two). It
	// is never used over TLS, where it gains nothing.
	NoCoalesce bool
	// Logger receives net/http's complaints (TLS handshake errors,
	// malformed requests) at debug level. Nil means silent.
	Logger *slog.Logger
}

// Server is an HTTP server for a mirror's handler, with the connection
// caps and timeouts that keep one client from holding up the others. It
// is safe for concurrent use.
type Server struct {
	// HTTP is the server: Shutdown or Close it to stop Serve. Its
	// ConnState hook tells the Limiter which connections are idle; a
	// caller that sets its own must call netlimit.SetIdle the same way.
	HTTP *http.Server
	// Limiter holds the server's connection counts.
	Limiter *netlimit.Limiter

	ln net.Listener // wrapped
}

// NewServer returns a server that will serve h on ln. ln is wrapped at
// once: for plain HTTP with package coalesce (ln should be the listener
// net.Listen returned, so that its connections are *net.TCPConn, which
// writev needs), then with the Limiter's caps.
func NewServer(ln net.Listener, h http.Handler, cfg *ServerConfig) *Server {
	var c ServerConfig
	if cfg != nil {
		c = cfg.withDefaults()
	} else {
		c = (&ServerConfig{}).withDefaults()
	}
	h = c.limitRequests(h)
	errLog := log.New(io.Discard, "", 0)
	if c.Logger != nil {
		errLog = slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug)
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         c.TLSConfig,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          errLog,
		ConnState:         markIdle,
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(c.TLSConfig == nil)
	srv.Protocols = &p
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: c.MaxConcurrentStreams}
	if c.TLSConfig == nil && !c.NoCoalesce {
		ln = coalesce.NewListener(ln, nil)
	}
	return &Server{HTTP: srv, Limiter: c.Limiter, ln: c.Limiter.Listener(ln)}
}

// withDefaults returns a copy of c with its zero fields set to their
// defaults (a Limiter of its own if none).
func (c *ServerConfig) withDefaults() ServerConfig {
	d := *c
	if d.Limiter == nil {
		d.Limiter = netlimit.New(nil)
	}
	if d.ReadHeaderTimeout <= 0 {
		d.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = DefaultReadTimeout
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	if d.MaxHeaderBytes <= 0 {
		d.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if d.MaxConcurrentStreams <= 0 {
		d.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	lc := d.Limiter.Config()
	if d.MaxRequests <= 0 {
		d.MaxRequests = lc.MaxConns
	}
	if d.MaxRequestsPerAddr == 0 {
		d.MaxRequestsPerAddr = lc.MaxConnsPerAddr
	}
	return d
}

// limitRequests wraps h with c's caps on the requests being handled.
func (c *ServerConfig) limitRequests(h http.Handler) http.Handler {
	return newInflight(h, c.MaxRequests, c.MaxRequestsPerAddr, c.Limiter.Config().LimitLoopback)
}

// markIdle is the server's ConnState hook: it tells the Limiter which
// connections wait for a next request.
func markIdle(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateIdle:
		netlimit.SetIdle(c, true)
	case http.StateActive, http.StateHijacked:
		netlimit.SetIdle(c, false)
	}
}

// Serve serves until the server is shut down or closed, when it returns
// http.ErrServerClosed, or until the listener fails.
func (s *Server) Serve() error {
	if s.HTTP.TLSConfig != nil {
		return s.HTTP.ServeTLS(s.ln, "", "")
	}
	return s.HTTP.Serve(s.ln)
}

// Close closes the server's listener and connections; it may be called
// before Serve, to give up a server never served.
func (s *Server) Close() error { return errors.Join(s.ln.Close(), s.HTTP.Close()) }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

var (
	descConnsOpen      = prometheus.NewDesc("samizdat_http_connections", "HTTP connections open now (over TCP: plain HTTP and HTTPS).", nil, nil)
	descConnsAccepted  = prometheus.NewDesc("samizdat_http_connections_accepted_total", "HTTP connections admitted.", nil, nil)
	descConnsRefused   = prometheus.NewDesc("samizdat_http_connections_refused_total", "HTTP connections closed as accepted: their address had the most it may (per_address), or all slots were busy (full).", []string{"reason"}, nil)
	descConnsReclaimed = prometheus.NewDesc("samizdat_http_connections_reclaimed_total", "Idle keep-alive HTTP connections closed to make room for new ones.", nil, nil)
	descConnsMax       = prometheus.NewDesc("samizdat_http_connections_max", "The cap on HTTP connections open at once.", nil, nil)
)

// ConnMetrics returns a collector of l's counts, for Config.Collectors.
func ConnMetrics(l *netlimit.Limiter) prometheus.Collector { return connCollector{l} }

type connCollector struct{ l *netlimit.Limiter }

func (c connCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsAccepted, descConnsRefused, descConnsReclaimed, descConnsMax} {
		ch <- d
	}
}

func (c connCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(descConnsOpen, prometheus.GaugeValue, float64(s.Open))
	ch <- prometheus.MustNewConstMetric(descConnsMax, prometheus.GaugeValue, float64(c.l.Config().MaxConns))
	ch <- prometheus.MustNewConstMetric(descConnsAccepted, prometheus.CounterValue, float64(s.Accepted))
	ch <- prometheus.MustNewConstMetric(descConnsRefused, prometheus.CounterValue, float64(s.PerAddr), "per_address")
	ch <- prometheus.MustNewConstMetric(descConnsRefused, prometheus.CounterValue, float64(s.Full), "full")
	ch <- prometheus.MustNewConstMetric(descConnsReclaimed, prometheus.CounterValue, float64(s.Reclaimed))
}
