package mirror

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"

	"github.com/samizdat-news/samizdat/internal/netlimit"
	"github.com/samizdat-news/samizdat/mirror/web"
)

// This file is the one place that builds the mirror's HTTP listeners and
// servers: listenHTTP for TCP (plain and TLS), listenHTTP3 for QUIC. The
// limits are package web's (web.NewServer, web.NewHTTP3Server): timeouts,
// header size, requests at once, and connection caps in total and per
// client address, shared by HTTP, HTTPS and HTTP/3 through one
// netlimit.Limiter.

// coalesceHTTP is "off" in a binary built with
// -ldflags=-X=github.com/samizdat-news/samizdat/mirror.coalesceHTTP=off:
// bench/mirror's A/B comparison of the plain-HTTP listener with and
// without package coalesce.
var coalesceHTTP = "on"

// listenHTTP binds addr on TCP and returns a server for h on it, not yet
// serving (the caller runs its Serve): HTTPS when tcfg is set, else plain
// HTTP. Its connections count against conns.
func listenHTTP(addr string, h http.Handler, tcfg *tls.Config, conns *netlimit.Limiter, log *slog.Logger) (*web.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return web.NewServer(ln, h, &web.ServerConfig{Limiter: conns, TLSConfig: tcfg, NoCoalesce: coalesceHTTP == "off", Logger: log}), nil
}

// listenHTTP3 binds addr on UDP and returns an HTTP/3 server for h on
// it, not yet serving (the caller runs its Serve): its connections count
// against conns, with the TCP servers'.
func listenHTTP3(addr string, h http.Handler, tcfg *tls.Config, conns *netlimit.Limiter) (*web.HTTP3Server, net.PacketConn, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv, err := web.NewHTTP3Server(conn, h, &web.ServerConfig{Limiter: conns, TLSConfig: tcfg})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return srv, conn, nil
}
