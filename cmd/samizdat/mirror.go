package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go/http3"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	msync "github.com/samizdat-news/samizdat/mirror/sync"
	"github.com/samizdat-news/samizdat/mirror/web"
)

const nodeKeyFile = "node.key"

// coalesceHTTP is "off" in a binary built with
// -ldflags=-X=main.coalesceHTTP=off: bench/mirror's A/B comparison of the
// plain-HTTP listener with and without package coalesce.
var coalesceHTTP = "on"

func runMirror(e *env, args []string) error {
	fs := newFlags(e, "mirror", "--store DIR --trust PUBFILE... [--http ADDR] [--quic ADDR] [--peer quic://HOST:PORT]... [flags]")
	config := mirrorFlags(fs)
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
	log := newLogger(e, c.LogLevel)
	if c.MemoryLimitMB > 0 && e.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(c.MemoryLimitMB << 20)
	}
	m, err := startMirror(e.ctx, c, log)
	if err != nil {
		return err
	}
	<-e.ctx.Done()
	log.Info("mirror: shutting down")
	return m.stop(c.ShutdownTimeout.Duration)
}

func newLogger(e *env, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) // checked by mirrorFlags
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l}))
}

// mirror is a running mirror node: a store, a sync node and HTTP servers.
type mirror struct {
	log     *slog.Logger
	st      *store.Store
	node    *msync.Node
	web     *web.Handler
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	servers []*http.Server
	h3      *http3.Server
	conns   *netlimit.Limiter // HTTP and HTTPS connections, with their caps (web.NewServer)
	closers []func() error

	HTTPAddr string // where plain HTTP listens, once started
	QUICAddr string // where the sync protocol listens over QUIC
	TCPAddr  string // where it listens over TLS on TCP
}

// startMirror opens the store and starts everything c asks for.
func startMirror(parent context.Context, c *mirrorConfig, log *slog.Logger) (m *mirror, err error) {
	var trusted []*keys.PublicKey
	for _, p := range c.Trust {
		k, err := readPublicKey(p)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, k)
	}
	peers, err := parsePeers(c.Peers)
	if err != nil {
		return nil, err
	}
	// Pages are refreshed as soon as the store changes. The handler is
	// made below, before anything can write to the store.
	var pages *web.Handler
	onChange := func(id string) { pages.Invalidate(id) }
	st, err := store.Open(c.Store, &store.Options{Create: true, Logger: log, Quota: c.QuotaMB << 20, OnChange: onChange})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(parent)
	m = &mirror{log: log, st: st, cancel: cancel, conns: netlimit.New(nil)}
	defer func() {
		if err != nil {
			m.stop(time.Second)
		}
	}()
	key, err := nodeKey(filepath.Join(c.Store, nodeKeyFile))
	if err != nil {
		return m, err
	}
	m.node = msync.New(st, trusted, &msync.Config{Key: key, Peers: peers, Logger: log, PublicURL: c.PublicURL})
	peerURLs := slices.Clone(c.PeerURLs)
	m.web = web.New(st, trusted, &web.Config{Logger: log, Alarms: m.node.Alarms, Collectors: []prometheus.Collector{nodeCollector(m.node), web.ConnMetrics(m.conns)},
		PublicURL: c.PublicURL, Peers: func() []string { return append(slices.Clone(peerURLs), m.node.PeerURLs()...) }})
	pages = m.web
	log.Info("mirror: started", "store", c.Store, "node_key", hex.EncodeToString(m.node.PublicKey()), "publishers", len(trusted), "peers", len(peers))

	m.goRun("sync peers", func() error { return m.node.Run(ctx) })
	if c.QUIC != "" {
		l, err := msync.ListenQUIC(c.QUIC, key)
		if err != nil {
			return m, fmt.Errorf("sync over QUIC on %s: %w", c.QUIC, err)
		}
		m.QUICAddr = l.Addr().String()
		m.closers = append(m.closers, l.Close)
		m.goRun("sync over QUIC", func() error { return m.node.Serve(ctx, l) })
		log.Info("mirror: sync over QUIC", "addr", m.QUICAddr)
	}
	if c.TCP != "" {
		l, err := msync.ListenTCP(c.TCP, key)
		if err != nil {
			return m, fmt.Errorf("sync over TCP on %s: %w", c.TCP, err)
		}
		m.TCPAddr = l.Addr().String()
		m.closers = append(m.closers, l.Close)
		m.goRun("sync over TCP", func() error { return m.node.Serve(ctx, l) })
		log.Info("mirror: sync over TLS/TCP", "addr", m.TCPAddr)
	}
	if c.HTTP != "" {
		ln, err := net.Listen("tcp", c.HTTP)
		if err != nil {
			return m, fmt.Errorf("http on %s: %w", c.HTTP, err)
		}
		m.HTTPAddr = ln.Addr().String()
		m.goServe("http", m.webServer(ln, m.web, nil).Serve)
		log.Info("mirror: serving HTTP", "addr", m.HTTPAddr)
	}
	if c.HTTPS != "" {
		if err := m.startHTTPS(c); err != nil {
			return m, err
		}
	}
	return m, nil
}

// startHTTPS serves HTTP/1.1 and HTTP/2 over TLS on TCP, and HTTP/3 on the
// same port over UDP, announced with Alt-Svc.
func (m *mirror) startHTTPS(c *mirrorConfig) error {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return fmt.Errorf("https: %w", err)
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m.h3 = &http3.Server{Addr: c.HTTPS, Handler: m.web, TLSConfig: http3.ConfigureTLSConfig(tcfg.Clone()), MaxHeaderBytes: web.DefaultMaxHeaderBytes, IdleTimeout: web.DefaultIdleTimeout}
	altSvc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.h3.SetQUICHeaders(w.Header())
		m.web.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", c.HTTPS)
	if err != nil {
		return fmt.Errorf("https on %s: %w", c.HTTPS, err)
	}
	m.goServe("https", m.webServer(ln, altSvc, tcfg).Serve)
	m.goServe("http/3", func() error { return m.h3.ListenAndServe() })
	m.log.Info("mirror: serving HTTPS and HTTP/3", "addr", ln.Addr().String())
	return nil
}

// webServer serves h on ln (HTTPS if tcfg is set) with the connection
// caps of m.conns, which HTTP and HTTPS share, and web's timeouts.
func (m *mirror) webServer(ln net.Listener, h http.Handler, tcfg *tls.Config) *web.Server {
	srv := web.NewServer(ln, h, &web.ServerConfig{Limiter: m.conns, TLSConfig: tcfg, NoCoalesce: coalesceHTTP == "off", Logger: m.log})
	m.servers = append(m.servers, srv.HTTP)
	return srv
}

// goRun runs a long-lived part; its failure (other than by shutdown) is
// logged at error level.
func (m *mirror) goRun(what string, f func() error) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			m.log.Error("mirror: "+what+" stopped", "err", err)
		}
	}()
}

func (m *mirror) goServe(what string, f func() error) {
	m.goRun(what, func() error {
		if err := f(); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
}

// stop shuts everything down within timeout and closes the store. Store
// writes are transactional, so a shutdown at any moment loses nothing.
func (m *mirror) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, s := range m.servers {
		s.Shutdown(ctx)
	}
	if m.h3 != nil {
		m.h3.Shutdown(ctx)
	}
	m.cancel()
	for _, c := range m.closers {
		c()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		m.log.Warn("mirror: shutdown timed out; closing the store anyway")
	}
	return m.st.Close()
}

// parsePeers parses quic://HOST:PORT, tcp://HOST:PORT or HOST:PORT, each
// optionally pinned with #NODEKEY (hex, as the peer logs at start).
func parsePeers(list []string) ([]msync.Peer, error) {
	var peers []msync.Peer
	for _, s := range list {
		addr, pin, pinned := strings.Cut(s, "#")
		p := msync.Peer{Addr: addr}
		if pinned {
			k, err := hex.DecodeString(pin)
			if err != nil || len(k) != ed25519.PublicKeySize {
				return nil, usagef("peer %q: the pinned node key must be 64 hex digits", s)
			}
			p.Key = k
		}
		rest := addr
		if scheme, r, ok := strings.Cut(addr, "://"); ok {
			if scheme != "quic" && scheme != "tcp" {
				return nil, usagef("peer %q: want quic://HOST:PORT or tcp://HOST:PORT", s)
			}
			rest = r
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return nil, usagef("peer %q: %v", s, err)
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// nodeKey reads the node's identity key, making it on first start. It is a
// transport identity, not a publisher key: it signs nothing readers trust,
// so it is kept unencrypted (mode 0600) and the mirror starts unattended.
func nodeKey(path string) (ed25519.PrivateKey, error) {
	const magic = "samizdat node key v1\n"
	data, err := readSmall(path, 256)
	if errors.Is(err, os.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		// Written whole to a temporary name, then linked into place, so a
		// start killed at any moment leaves either no key or a whole one.
		tmp := path + ".tmp"
		os.Remove(tmp)
		if err := keys.WriteNewFile(tmp, []byte(magic+base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
			return nil, err
		}
		defer os.Remove(tmp)
		if err := os.Link(tmp, path); err != nil {
			return nil, fmt.Errorf("node key: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(string(data), magic)
	seed, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(rest, "\n"))
	if !ok || err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not a samizdat node key; move it away to make a new one", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// nodeCollector exports the sync node's counters on /metrics.
func nodeCollector(n *msync.Node) prometheus.Collector {
	return &statsCollector{n: n}
}

type statsCollector struct{ n *msync.Node }

func statDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("samizdat_sync_"+name, help, nil, nil)
}

var (
	descSessions = statDesc("sessions", "Sync sessions open now.")
	descSyncs    = statDesc("syncs_total", "Pulls of one publisher from a peer that completed.")
	descAnnounce = statDesc("announces_total", "New checkpoints announced to peers.")
	descLeaves   = statDesc("leaves_added_total", "Catalog leaves stored from peers.")
	descBundles  = statDesc("bundles_added_total", "Bundles stored from peers.")
	descForks    = statDesc("forks_total", "Checkpoints refused as forks of a publisher's log: an alarm.")
	descRefused  = statDesc("refused_total", "Updates from peers refused: untrusted publisher or bad data.")
	descStale    = statDesc("stale_total", "Checkpoints from peers older than ours, ignored.")
	descRateLim  = statDesc("rate_limited_total", "Peers' requests refused over their rate limit.")
	descIPRef    = statDesc("ip_refused_total", "Sessions refused: too many from one address.")
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSyncs, descAnnounce, descLeaves, descBundles, descForks, descRefused, descStale, descRateLim, descIPRef} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(s.Sessions))
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{descSyncs, s.Syncs}, {descAnnounce, s.Announces}, {descLeaves, s.LeavesAdded}, {descBundles, s.BundlesAdded}, {descForks, s.Forks}, {descRefused, s.Refused}, {descStale, s.Stale}, {descRateLim, s.RateLimited}, {descIPRef, s.IPRefused}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
}
