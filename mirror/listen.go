package mirror

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/netutil"

	"github.com/samizdat-news/samizdat/internal/coalesce"
)

// This file is the one place that builds the mirror's HTTP listeners and
// servers: listenHTTP for TCP (plain and TLS), listenHTTP3 for QUIC.

// Limits of the mirror's HTTP servers.
const (
	maxHTTPConns      = 1024
	maxHeaderBytes    = 16 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// coalesceHTTP is "off" in a binary built with
// -ldflags=-X=github.com/samizdat-news/samizdat/mirror.coalesceHTTP=off:
// bench/mirror's A/B comparison of the plain-HTTP listener with and
// without package coalesce.
var coalesceHTTP = "on"

// listenHTTP binds addr on TCP and returns the listener, bounded to
// maxHTTPConns connections, and a server for h on it, not yet serving:
// the caller runs srv.Serve(ln), or srv.ServeTLS(ln, "", "") when tcfg is
// not nil.
func listenHTTP(addr string, h http.Handler, tcfg *tls.Config, log *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if tcfg == nil && coalesceHTTP != "off" {
		// One writev instead of two writes for a page over 4 KB (see
		// package coalesce). Not for HTTPS: crypto/tls sits between
		// net/http's buffer and the socket and writes each record
		// itself, so there is no buffer-sized write to hold. It wraps
		// the *net.TCPConn directly, as writev needs, and LimitListener
		// goes around it.
		ln = coalesce.NewListener(ln, nil)
	}
	ln = netutil.LimitListener(ln, maxHTTPConns)
	srv := &http.Server{
		Handler: h, TLSConfig: tcfg,
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(tcfg == nil)
	srv.Protocols = &p
	return srv, ln, nil
}

// listenHTTP3 binds addr on UDP and returns the socket and an HTTP/3
// server for h on it, not yet serving: the caller runs srv.Serve(conn).
func listenHTTP3(addr string, h http.Handler, tcfg *tls.Config) (*http3.Server, net.PacketConn, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(tcfg.Clone()), MaxHeaderBytes: maxHeaderBytes, IdleTimeout: idleTimeout}
	return srv, conn, nil
}
