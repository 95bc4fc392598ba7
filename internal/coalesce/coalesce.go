// Package coalesce wraps a server's TCP connections so that a write of
// exactly one buffer's size is sent together with the next write in one
// writev system call.
//
// It exists for net/http's HTTP/1 server, which writes each connection
// through a 4,096-byte bufio.Writer. A response written with one large
// Write (a mirror's pre-rendered article page, 12 KB) fills that buffer
// with the headers and the start of the body, which is flushed with one
// write(2), and the rest goes straight to the socket with a second. A
// [Conn] holds the full buffer's bytes instead and sends them with the next
// write: one writev(2) a page instead of two writes.
//
// Held bytes are sent without waiting for a next write, so nothing stalls:
//   - after [Config.Delay] (1 ms), by a timer;
//   - before SetWriteDeadline or SetDeadline sets a deadline that has not
//     passed (net/http clears the write deadline after every response, so
//     a response whose last flush is exactly 4,096 bytes leaves at once);
//   - when a Read begins (the peer may be waiting for them to answer);
//   - by CloseWrite, and by Close (see [Conn.Close]).
//
// A write error of held bytes is returned by the next Write, ReadFrom or
// CloseWrite, or else by Close. The counts Write returns are of the
// caller's bytes only.
//
// Only plain TCP gains from this. Over TLS, net/http's buffer sits above
// crypto/tls, which turns each write into records and sends them with a
// write of its own, and a record of 4,096 bytes of data is not 4,096 bytes
// long: there is no buffer-sized write on the socket to hold, and a held
// write above TLS could only join the next one by copying both. HTTP/3
// does not use TCP.
package coalesce

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Defaults of [Config].
const (
	// DefaultSize is the size of net/http's per-connection write buffer
	// (net/http.newBufioWriterSize(..., 4<<10) in server.go).
	DefaultSize = 4096
	// DefaultDelay is how long held bytes wait for a next write. The
	// write that completes a response follows the buffer's flush within
	// microseconds; 1 ms is far longer than that and far shorter than
	// anything a reader notices (TCP's delayed ACK is 40 ms). Go's timers
	// do not fire much sooner than 1 ms on an idle Linux process anyway.
	DefaultDelay = time.Millisecond
	// DefaultLinger bounds how long bytes still held when a Conn is
	// closed wait for a peer that does not read.
	DefaultLinger = 5 * time.Second
)

// Config tunes a Listener or Conn. A nil *Config is the zero Config.
type Config struct {
	// Size is the length of a write that is held; zero means DefaultSize.
	Size int
	// Delay is the longest held bytes wait for the next write; zero
	// means DefaultDelay.
	Delay time.Duration
	// Linger is the longest Close lets held bytes wait for a peer that
	// does not read (less if the write deadline comes sooner); zero means
	// DefaultLinger.
	Linger time.Duration
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Size <= 0 {
		d.Size = DefaultSize
	}
	if d.Delay <= 0 {
		d.Delay = DefaultDelay
	}
	if d.Linger <= 0 {
		d.Linger = DefaultLinger
	}
	return d
}

// Listener is a net.Listener whose Accept returns a *Conn. It is safe for
// concurrent use, as the listener it wraps is.
type Listener struct {
	net.Listener
	cfg  Config
	pool *sync.Pool
}

// NewListener wraps l. For writev to be used, l's connections must be
// *net.TCPConn (or another type that net.Buffers writes with one system
// call): wrap the listener net.Listen returns before any other wrapper,
// such as a netlimit.Listener (package internal/netlimit), which passes
// every write through to the Conn it wraps.
func NewListener(l net.Listener, c *Config) *Listener {
	cfg := c.withDefaults()
	return &Listener{Listener: l, cfg: cfg, pool: newPool(cfg.Size)}
}

// Accept waits for and returns the next connection, wrapped.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.cfg, l.pool), nil
}

func newPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}

// Conn is a net.Conn that holds a write of exactly Config.Size bytes and
// sends it with the next write in one writev. Like any net.Conn it is safe
// for concurrent use; it starts no goroutine of its own, except that its
// timer's function runs for as long as it takes to send held bytes.
type Conn struct {
	net.Conn
	cfg  Config
	pool *sync.Pool

	// wmu is held while writing to Conn, so that writes leave in order;
	// whoever holds it owns vec, bufs and the held buffer it took.
	wmu  sync.Mutex
	vec  [2][]byte
	bufs net.Buffers

	mu          sync.Mutex // guards what follows; never held during I/O
	held        *[]byte    // a write of cfg.Size bytes, not yet sent
	flushing    bool       // held bytes are being sent alone (and Conn closed after, if Close left that to it)
	timer       *time.Timer
	wdl         time.Time // the write deadline last set
	err         error     // why held bytes could not be sent
	errReported bool
	closed      bool
	closing     bool // Close left the closing of Conn to whoever sends the held bytes

	// flushed, if not nil (in tests), is sent to without blocking when
	// held bytes begin to be sent alone, and again when they have been
	// sent (or failed) and the Conn closed if Close left that to it.
	flushed chan struct{}
}

// NewConn wraps c. See NewListener on the type c should be.
func NewConn(c net.Conn, cfg *Config) *Conn {
	d := cfg.withDefaults()
	return newConn(c, d, newPool(d.Size))
}

func newConn(c net.Conn, cfg Config, pool *sync.Pool) *Conn {
	return &Conn{Conn: c, cfg: cfg, pool: pool}
}

// buffersWriter is a conn that writes net.Buffers itself (in tests, one
// that counts the calls).
type buffersWriter interface {
	writeBuffers(*net.Buffers) (int64, error)
}

// Write writes p, or holds it if it is exactly Config.Size bytes long and
// nothing is held yet; held bytes go out with the next write, or alone
// within Config.Delay. It returns an error of held bytes sent before, if
// one happened, without writing p.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if err := c.checkLocked("write"); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	hp := c.held
	if hp == nil && len(p) == c.cfg.Size {
		hp = c.pool.Get().(*[]byte)
		copy(*hp, p)
		c.held = hp
		if c.timer == nil {
			c.timer = time.AfterFunc(c.cfg.Delay, c.flushLater)
		} else {
			c.timer.Reset(c.cfg.Delay)
		}
		c.mu.Unlock()
		return len(p), nil
	}
	c.held = nil
	if hp != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if hp == nil {
		return c.Conn.Write(p)
	}
	n, err := c.writev(*hp, p)
	c.pool.Put(hp)
	return n, err
}

// checkLocked returns the error a write must return before it writes: the
// Conn is closed, or held bytes failed. c.mu must be held.
func (c *Conn) checkLocked(op string) error {
	if c.closed {
		return c.opError(op, net.ErrClosed)
	}
	if c.err != nil {
		c.errReported = true
		return c.err
	}
	return nil
}

func (c *Conn) reported() {
	c.mu.Lock()
	c.errReported = true
	c.mu.Unlock()
}

// writev sends held and p in one call, and returns how much of p left.
// c.wmu must be held.
func (c *Conn) writev(held, p []byte) (int, error) {
	c.vec = [2][]byte{held, p}
	c.bufs = c.vec[:]
	var m int64
	var err error
	if bw, ok := c.Conn.(buffersWriter); ok {
		m, err = bw.writeBuffers(&c.bufs)
	} else {
		m, err = c.bufs.WriteTo(c.Conn)
	}
	c.vec, c.bufs = [2][]byte{}, nil // keep no reference to p
	n := int(m) - len(held)
	if n < 0 { // the held bytes did not all leave, so none of p did
		if err == nil {
			err = io.ErrShortWrite
		}
		return 0, err
	}
	return n, err
}

// flushLater is the timer's function: it sends held bytes alone.
func (c *Conn) flushLater() {
	if !c.wmu.TryLock() {
		// Whoever writes sends the held bytes with their own, unless it
		// is the Write that has just held them: look again in a moment.
		c.mu.Lock()
		if c.held != nil {
			c.timer.Reset(c.cfg.Delay)
		}
		c.mu.Unlock()
		return
	}
	defer c.wmu.Unlock()
	c.flushLocked()
}

// flushLocked sends held bytes alone, records an error, and closes Conn if
// Close left that to it. c.wmu must be held.
func (c *Conn) flushLocked() error {
	c.mu.Lock()
	hp := c.held
	if hp == nil {
		c.mu.Unlock()
		return nil
	}
	c.held = nil
	c.flushing = true
	c.mu.Unlock()
	c.notify()
	_, err := c.Conn.Write(*hp)
	c.pool.Put(hp)
	c.mu.Lock()
	if err != nil && c.err == nil {
		c.err = err
	}
	closeNow := c.closing
	c.closing = false
	if !closeNow {
		c.flushing = false
	}
	c.mu.Unlock()
	if closeNow {
		c.Conn.Close()
		c.mu.Lock()
		c.flushing = false
		c.mu.Unlock()
	}
	c.notify()
	return err
}

// notify tells a test that a flush began or ended.
func (c *Conn) notify() {
	if c.flushed != nil {
		select {
		case c.flushed <- struct{}{}:
		default:
		}
	}
}

// Read reads from the connection; held bytes are sent first (by the
// timer, at once), as the peer may be waiting for them to answer.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, c.opError("read", net.ErrClosed)
	}
	if c.held != nil {
		c.timer.Reset(0)
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// ReadFrom sends held bytes, then copies r to the connection with the
// wrapped conn's ReadFrom if it has one (sendfile, splice).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if err := c.checkLocked("readfrom"); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		c.reported()
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite sends held bytes, then shuts down the writing side of the
// wrapped conn, if it can (a *net.TCPConn can).
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if err := c.checkLocked("close"); err != nil {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		c.reported()
		return err
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return c.opError("close", errors.ErrUnsupported)
	}
	return cw.CloseWrite()
}

// SetDeadline sets the read and write deadlines; see SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.setWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline sets the write deadline. Held bytes are sent first,
// under the deadline they were written under, unless t has passed (a
// deadline in the past is how a write is cancelled: held bytes then fail,
// and the next Write or Close says so) or another write is under way (it
// sends them, under t).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.setWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *Conn) setWriteDeadline(t time.Time) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("set", net.ErrClosed)
	}
	pending := c.held != nil
	c.wdl = t
	c.mu.Unlock()
	if pending && (t.IsZero() || t.After(time.Now())) && c.wmu.TryLock() {
		c.flushLocked()
		c.wmu.Unlock()
	}
	return nil
}

// Close closes the connection. If bytes are still held, or being sent,
// Close returns at once and leaves them to be sent, as the kernel does
// with bytes written to a socket before it is closed; the connection is
// closed once they are sent, or fail, or after Config.Linger at the most
// (or the write deadline, if sooner). A Read or Write under way returns.
// Close returns an error of held bytes that no Write has returned.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	var err error
	if c.err != nil && !c.errReported {
		err, c.errReported = c.err, true
	}
	if c.held != nil || c.flushing {
		c.closing = true
		if c.held != nil {
			c.timer.Reset(0)
		}
		dl := time.Now().Add(c.cfg.Linger)
		if !c.wdl.IsZero() && c.wdl.Before(dl) {
			dl = c.wdl
		}
		// Under c.mu, so that Conn is not yet closed.
		c.Conn.SetWriteDeadline(dl)
		c.Conn.SetReadDeadline(time.Unix(1, 0))
		c.mu.Unlock()
		return err
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if cerr := c.Conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// NetConn returns the conn c wraps. Writing to it directly would pass
// held bytes.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.Conn.LocalAddr().Network(), Source: c.Conn.LocalAddr(), Addr: c.Conn.RemoteAddr(), Err: err}
}
