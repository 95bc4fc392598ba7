package web

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// h3ExcessiveLoad is HTTP/3's H3_EXCESSIVE_LOAD error code (RFC 9114),
// which a connection beyond the caps is closed with.
const h3ExcessiveLoad = 0x0107

// HTTP3Server is an HTTP/3 server for a mirror's handler, with the bounds
// of Server: its QUIC connections count against the Limiter's caps (with
// the TCP server's when they share one), a connection carries at most
// MaxConcurrentStreams requests at once, and the requests being handled
// are capped in total and per address. It is safe for concurrent use.
type HTTP3Server struct {
	// HTTP is the server: Shutdown or Close it to stop Serve.
	HTTP *http3.Server
	ln   *h3Listener
}

// NewHTTP3Server returns a server that will serve h over HTTP/3 on pc.
// cfg.TLSConfig is required; the other fields of cfg mean what they mean
// to NewServer (the read and write timeouts excepted, which QUIC's idle
// timeout stands in for).
func NewHTTP3Server(pc net.PacketConn, h http.Handler, cfg *ServerConfig) (*HTTP3Server, error) {
	if cfg == nil || cfg.TLSConfig == nil {
		return nil, errors.New("web: HTTP/3 needs a TLS configuration")
	}
	c := cfg.withDefaults()
	tcfg := http3.ConfigureTLSConfig(c.TLSConfig.Clone())
	qcfg := &quic.Config{MaxIncomingStreams: int64(c.MaxConcurrentStreams), MaxIdleTimeout: c.IdleTimeout}
	ln, err := quic.ListenEarly(pc, tcfg, qcfg)
	if err != nil {
		return nil, err
	}
	srv := &http3.Server{Handler: c.limitRequests(h), TLSConfig: tcfg, QUICConfig: qcfg, MaxHeaderBytes: c.MaxHeaderBytes, IdleTimeout: c.IdleTimeout}
	return &HTTP3Server{HTTP: srv, ln: &h3Listener{EarlyListener: ln, lim: c.Limiter}}, nil
}

// Serve serves until the server is closed.
func (s *HTTP3Server) Serve() error { return s.HTTP.ServeListener(s.ln) }

// Close closes the server, its connections and its listener.
func (s *HTTP3Server) Close() error { return errors.Join(s.HTTP.Close(), s.ln.Close()) }

// h3Listener counts the connections it accepts against a Limiter's caps
// until they end, and closes those beyond them at once.
type h3Listener struct {
	*quic.EarlyListener
	lim *netlimit.Limiter
}

func (l *h3Listener) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := l.EarlyListener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		release, ok := l.lim.Admit(c.RemoteAddr())
		if !ok {
			c.CloseWithError(h3ExcessiveLoad, "")
			continue
		}
		context.AfterFunc(c.Context(), release)
		return c, nil
	}
}

var _ http3.QUICListener = (*h3Listener)(nil)
