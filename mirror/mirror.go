package mirror

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go/http3"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// Mirror is a running mirror node: a store, a sync node that keeps
// sessions to the configured peers and answers those that dial in, and
// HTTP servers for readers. Start makes one; Shutdown stops it. Its
// methods are safe for concurrent use.
type Mirror struct {
	cfg  *Config // with defaults
	log  *slog.Logger
	st   *store.Store
	node *replica.Node
	web  *web.Handler
	exp  *exporter // nil without Config.ExportStatic

	cancel  context.CancelFunc // ends the sync node's work
	wg      sync.WaitGroup     // the goroutines that serve and sync
	servers []*http.Server
	conns   *netlimit.Limiter // HTTP and HTTPS connections, with their caps
	h3      *http3.Server
	closers []func() error // the sync listeners

	httpAddr, httpsAddr, quicAddr, tcpAddr, metricsAddr string

	stopOnce sync.Once
	stopErr  error
}

// Run runs a mirror until ctx ends, then shuts it down within
// cfg.ShutdownTimeout. It returns a *ConfigError for a mistake in cfg,
// before anything is opened, and otherwise the error that stopped the
// start or the shutdown; nil after a clean shutdown, also when ctx ended
// during the start.
func Run(ctx context.Context, cfg *Config) error {
	m, err := Start(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil // stopped while starting: a clean stop
		}
		return err
	}
	<-ctx.Done()
	m.log.Info("mirror: shutting down", "timeout", m.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
	defer cancel()
	return m.Shutdown(sctx)
}

// Start checks cfg (see Config.Check), reads the publisher keys and TLS
// files it names, opens (or creates) the store and the node key in it,
// binds every address cfg gives, and returns once the mirror is serving.
// Its work then runs in the background until Shutdown; ctx bounds only
// the start. A mistake in cfg is a *ConfigError, returned before the
// store is opened; on any error, what was started is stopped again and
// the Mirror is nil.
func Start(ctx context.Context, cfg *Config) (m *Mirror, err error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trusted, tcfg, err := c.readFiles()
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(c)
	if err != nil {
		return nil, err
	}
	var peers []replica.Peer
	for _, s := range c.Peers {
		p, _ := ParsePeer(s) // checked by Check
		peers = append(peers, p)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Pages are refreshed as soon as the store changes. The handler is
	// made below, before anything can write to the store.
	var pages *web.Handler
	onChange := func(id string) {
		pages.Invalidate(id)
		if exp != nil {
			exp.storeChanged()
		}
	}
	st, err := store.Open(c.Store, &store.Options{Create: true, Logger: log, Quota: c.QuotaMB << 20, OnChange: onChange})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m = &Mirror{cfg: c, log: log, st: st, cancel: cancel, conns: netlimit.New(&netlimit.Config{MaxConns: c.HTTPMaxConns, MaxConnsPerAddr: c.HTTPMaxConnsPerAddr})}
	defer func() {
		if err != nil {
			m.Shutdown(context.Background())
			m = nil
		}
	}()
	key, err := nodeKey(filepath.Join(c.Store, NodeKeyFile))
	if err != nil {
		return m, err
	}
	if m.node, err = replica.New(st, trusted, &replica.Config{Key: key, Peers: peers, Logger: log, PublicURL: c.PublicURL}); err != nil {
		return m, err
	}
	peerURLs := slices.Clone(c.PeerURLs)
	collectors := []prometheus.Collector{&syncCollector{m.node}, web.ConnMetrics(m.conns)}
	if exp != nil {
		exp.m, m.exp = m, exp
		collectors = append(collectors, exp)
	}
	m.web, err = web.New(st, trusted, &web.Config{
		Logger:         log,
		Alarms:         m.node.Alarms,
		Collectors:     collectors,
		NoMetricsRoute: c.Metrics != "",
		PublicURL:      c.PublicURL,
		Peers:          func() []string { return append(slices.Clone(peerURLs), m.node.PeerURLs()...) },
	})
	if err != nil {
		return m, err
	}
	pages = m.web
	if err := ctx.Err(); err != nil {
		return m, err
	}

	m.goRun("sync peers", func() error { return m.node.Run(runCtx) })
	if c.QUIC != "" {
		l, err := session.ListenQUIC(c.QUIC, key)
		if err != nil {
			return m, fmt.Errorf("mirror: sync over QUIC on %s: %w", c.QUIC, err)
		}
		m.quicAddr = l.Addr().String()
		m.closers = append(m.closers, l.Close)
		m.goRun("sync over QUIC", func() error { return m.node.Serve(runCtx, l) })
	}
	if c.TCP != "" {
		l, err := session.ListenTCP(c.TCP, key)
		if err != nil {
			return m, fmt.Errorf("mirror: sync over TCP on %s: %w", c.TCP, err)
		}
		m.tcpAddr = l.Addr().String()
		m.closers = append(m.closers, l.Close)
		m.goRun("sync over TCP", func() error { return m.node.Serve(runCtx, l) })
	}
	if err := m.startHTTP(c, tcfg); err != nil {
		return m, err
	}
	if exp != nil {
		m.goRun("static export", func() error { return exp.run(runCtx, c.ExportEvery) })
	}
	attrs := []any{"store", c.Store, "node_key", hex.EncodeToString(m.node.PublicKey()),
		"publishers", len(trusted), "peers", len(peers), "quic", m.quicAddr, "tcp", m.tcpAddr,
		"http", m.httpAddr, "https", m.httpsAddr, "metrics", m.metricsAddr}
	if exp != nil {
		attrs = append(attrs, "export_static", exp.sink.String())
	}
	log.Info("mirror: started", attrs...)
	return m, nil
}

// CheckFiles checks c (see Check) and reads the files it names: the
// publisher keys (Trust) and the TLS certificate and key; for an S3
// export it checks that credentials are given. It opens no store, binds
// no address and writes nothing. What it refuses, Start refuses too.
func (c *Config) CheckFiles() error {
	if err := c.Check(); err != nil {
		return err
	}
	if strings.HasPrefix(c.ExportStatic, "s3://") && (c.S3AccessKey == "" || c.S3SecretKey == "") {
		return &ConfigError{File: c.file, Key: "export_static", Err: errors.New("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")}
	}
	_, _, err := c.readFiles()
	return err
}

// readFiles reads the publisher keys and TLS files that c names.
func (c *Config) readFiles() ([]*keys.PublicKey, *tls.Config, error) {
	trusted, err := readTrust(c.Trust)
	if err != nil {
		return nil, nil, err
	}
	if c.HTTPS == "" {
		return trusted, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: https: %w", err)
	}
	return trusted, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// readTrust reads the publisher.pub files of the trusted publishers.
func readTrust(paths []string) ([]*keys.PublicKey, error) {
	var trusted []*keys.PublicKey
	for _, p := range paths {
		k, err := keys.ReadPublicKeyFile(p)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, k)
	}
	return trusted, nil
}

// HTTPAddr returns the address plain HTTP listens on, or "" if none.
func (m *Mirror) HTTPAddr() string { return m.httpAddr }

// HTTPSAddr returns the TCP address HTTPS listens on (HTTP/3 has the same
// port over UDP), or "" if none.
func (m *Mirror) HTTPSAddr() string { return m.httpsAddr }

// QUICAddr returns the UDP address the sync protocol listens on, or "".
func (m *Mirror) QUICAddr() string { return m.quicAddr }

// TCPAddr returns the TCP address of the sync protocol's TLS fallback,
// or "".
func (m *Mirror) TCPAddr() string { return m.tcpAddr }

// MetricsAddr returns the address of the separate /metrics listener, or
// "".
func (m *Mirror) MetricsAddr() string { return m.metricsAddr }

// NodeKey returns the node's public key, which peers may pin.
func (m *Mirror) NodeKey() ed25519.PublicKey { return m.node.PublicKey() }

// Store returns the mirror's store, for reading; Shutdown closes it.
func (m *Mirror) Store() *store.Store { return m.st }

// Shutdown stops the mirror: it stops accepting, lets HTTP requests in
// flight finish until ctx ends and then closes their connections, ends
// the sync sessions, waits for its goroutines until ctx ends, and closes
// the store in any case. Store writes are transactions, so a shutdown at
// any moment loses nothing. It returns ctx's error if ctx ended before
// everything had stopped, else the store's Close error. Later calls
// return the first call's result.
func (m *Mirror) Shutdown(ctx context.Context) error {
	m.stopOnce.Do(func() { m.stopErr = m.shutdown(ctx) })
	return m.stopErr
}

func (m *Mirror) shutdown(ctx context.Context) error {
	var timedOut error
	var wg sync.WaitGroup
	for _, s := range m.servers {
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				s.Close()
			}
		})
	}
	if m.h3 != nil {
		wg.Go(func() {
			if err := m.h3.Shutdown(ctx); err != nil {
				m.h3.Close()
			}
		})
	}
	wg.Wait()
	m.cancel()
	for _, c := range m.closers {
		c()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		m.log.Warn("mirror: shutdown timed out; connections were closed, closing the store anyway")
		timedOut = fmt.Errorf("mirror: shutdown: %w", err)
	}
	return errors.Join(timedOut, m.st.Close())
}

// goRun runs a long-lived part; its failure (other than by shutdown) is
// logged at error level.
func (m *Mirror) goRun(what string, f func() error) {
	m.wg.Go(func() {
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			m.log.Error("mirror: "+what+" stopped", "err", err)
		}
	})
}

// goServe runs an HTTP server's Serve, for which closing is no failure.
func (m *Mirror) goServe(what string, f func() error) {
	m.goRun(what, func() error {
		if err := f(); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
}

// startHTTP starts the HTTP, HTTPS and HTTP/3 servers, and the metrics
// listener, that c asks for.
func (m *Mirror) startHTTP(c *Config, tcfg *tls.Config) error {
	if c.HTTP != "" {
		srv, err := listenHTTP(c.HTTP, m.web, nil, m.conns, m.log)
		if err != nil {
			return fmt.Errorf("mirror: http on %s: %w", c.HTTP, err)
		}
		m.servers = append(m.servers, srv.HTTP)
		m.httpAddr = srv.Addr().String()
		m.goServe("http", srv.Serve)
	}
	if c.HTTPS != "" {
		if err := m.startHTTPS(c.HTTPS, tcfg); err != nil {
			return err
		}
	}
	if c.Metrics != "" {
		// The metrics listener has caps of its own: a flood of readers
		// must not lock the operator out of it.
		srv, err := listenHTTP(c.Metrics, metricsOnly(m.web.Metrics()), nil, netlimit.New(nil), m.log)
		if err != nil {
			return fmt.Errorf("mirror: metrics on %s: %w", c.Metrics, err)
		}
		m.servers = append(m.servers, srv.HTTP)
		m.metricsAddr = srv.Addr().String()
		m.goServe("metrics", srv.Serve)
	}
	return nil
}

// startHTTPS serves HTTP/1.1 and HTTP/2 over TLS on TCP, and HTTP/3 on the
// same port over UDP, announced with Alt-Svc.
func (m *Mirror) startHTTPS(addr string, tcfg *tls.Config) error {
	var h3 *http3.Server
	altSvc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h3.SetQUICHeaders(w.Header())
		m.web.ServeHTTP(w, r)
	})
	srv, err := listenHTTP(addr, altSvc, tcfg, m.conns, m.log)
	if err != nil {
		return fmt.Errorf("mirror: https on %s: %w", addr, err)
	}
	m.servers = append(m.servers, srv.HTTP)
	m.httpsAddr = srv.Addr().String()
	// HTTP/3 takes the port TCP got, so that ":0" means one port for both.
	s3, udp, err := listenHTTP3(m.httpsAddr, m.web, tcfg, m.conns)
	if err != nil {
		srv.Close()
		return fmt.Errorf("mirror: http/3 on %s: %w", m.httpsAddr, err)
	}
	h3 = s3.HTTP
	m.h3 = h3
	m.closers = append(m.closers, func() error { s3.Close(); return udp.Close() }) // http3.Server leaves them open
	m.goServe("https", srv.Serve)
	m.goServe("http/3", s3.Serve)
	return nil
}

// metricsOnly serves h at GET /metrics and nothing else.
func metricsOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return mux
}
