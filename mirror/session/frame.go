package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
)

// Frame types, see PROTOCOL.md.
const (
	typeList       byte = 0x01
	typeStatement  byte = 0x02
	typeLeaves     byte = 0x03
	typeBundle     byte = 0x04
	typeAnnounce   byte = 0x05
	typeMirrorList byte = 0x06
	typeHello      byte = 0x07

	respPublishers byte = 0x81
	respStatement  byte = 0x82
	respLeaves     byte = 0x83
	respBundle     byte = 0x84
	respOK         byte = 0x85
	respMirrorList byte = 0x86
	respHello      byte = 0x87
	respError      byte = 0x7f
)

// Limits of the protocol, see PROTOCOL.md.
const (
	// MaxFrameSize bounds every frame but a bundle.
	MaxFrameSize = 1 << 20
	// MaxLeavesPerResponse bounds the leaves in one answer.
	MaxLeavesPerResponse = 1024
	// MaxPublishers bounds the publishers in one list answer.
	MaxPublishers = 4096
	// MaxAnnounceLeaves bounds the leaves an announce carries.
	MaxAnnounceLeaves = 16
	// MaxLeafSize bounds one leaf; the largest leaf FORMAT.md allows
	// has 170 bytes.
	MaxLeafSize = 256
	// maxStatementSize bounds a key statement (FORMAT.md).
	maxStatementSize = 16 << 10
	frameHeader      = 5
)

// Codes of a RemoteError, see PROTOCOL.md.
const (
	CodeNotFound   byte = 1
	CodeBadRequest byte = 2
	CodeRefused    byte = 3
	CodeInternal   byte = 4
)

// ErrFrame is wrapped by every error about a malformed, unknown or oversize
// frame.
var ErrFrame = errors.New("session: bad frame")

// RemoteError is an error frame a peer sent; Code is one of the Code
// constants, or another value from a newer or hostile peer.
type RemoteError struct {
	Code    byte
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("session: peer answered error %d: %s", e.Code, e.Message)
}

// frameLimit returns the largest payload a frame of type t may carry, or
// -1 for an unknown type.
func frameLimit(t byte, bundleMax int64) int64 {
	switch t {
	case typeList, typeStatement, typeLeaves, typeBundle, typeAnnounce, typeMirrorList, typeHello,
		respPublishers, respStatement, respLeaves, respOK, respError, respMirrorList, respHello:
		return MaxFrameSize
	case respBundle:
		return bundleMax
	}
	return -1
}

// writeFrame writes one frame.
func writeFrame(w io.Writer, t byte, payload []byte) error {
	hdr := [frameHeader]byte{t}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("session: writing frame: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("session: writing frame: %w", err)
	}
	return nil
}

// readFrame reads exactly one frame and checks that nothing follows it.
// bundleMax bounds a bundle frame's payload.
func readFrame(r io.Reader, bundleMax int64) (byte, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: truncated header", ErrFrame)
		}
		return 0, nil, fmt.Errorf("session: reading frame: %w", err)
	}
	t, n := hdr[0], int64(binary.BigEndian.Uint32(hdr[1:]))
	lim := frameLimit(t, bundleMax)
	if lim < 0 {
		return 0, nil, fmt.Errorf("%w: unknown type 0x%02x", ErrFrame, t)
	}
	if n > lim {
		return 0, nil, fmt.Errorf("%w: type 0x%02x of %d bytes exceeds the limit of %d", ErrFrame, t, n, lim)
	}
	// Grow the buffer as bytes arrive, so a peer that announces a large
	// frame and sends little costs little memory.
	buf, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return 0, nil, fmt.Errorf("session: reading frame: %w", err)
	}
	if int64(len(buf)) != n {
		return 0, nil, fmt.Errorf("%w: type 0x%02x truncated at %d of %d bytes", ErrFrame, t, len(buf), n)
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m != 0 {
		return 0, nil, fmt.Errorf("%w: bytes after the frame", ErrFrame)
	}
	return t, buf, nil
}

// enc builds a payload.
type enc struct{ b []byte }

func (e *enc) u8(v byte)    { e.b = append(e.b, v) }
func (e *enc) u16(v int)    { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) str8(s string) {
	e.u8(byte(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) bytes16(p []byte) {
	e.u16(len(p))
	e.b = append(e.b, p...)
}

// dec parses a payload; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
	}
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("payload truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) u8() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *dec) u16() int {
	if p := d.take(2); p != nil {
		return int(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (d *dec) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *dec) bytes16() []byte { return d.take(d.u16()) }

// leaf reads a leaf of at most MaxLeafSize bytes.
func (d *dec) leaf() []byte {
	n := d.u16()
	if d.err == nil && (n == 0 || n > MaxLeafSize) {
		d.fail("leaf of %d bytes", n)
		return nil
	}
	return d.take(n)
}

// id reads a publisher ID: 32 lowercase hex digits.
func (d *dec) id() string {
	p := d.take(int(d.u8()))
	if d.err != nil {
		return ""
	}
	if len(p) != 32 {
		d.fail("publisher id of %d bytes", len(p))
		return ""
	}
	for _, c := range p {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			d.fail("publisher id is not lowercase hex")
			return ""
		}
	}
	return string(p)
}

func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the payload", len(d.b))
	}
	return d.err
}

// Entry is one publisher in a list answer, or the subject of an announce.
type Entry struct {
	Pub        string   // the publisher's ID
	Version    uint64   // key statement version
	Checkpoint []byte   // signed; nil for an empty log
	First      int64    // announce only: index of Leaves[0]
	Leaves     [][]byte // announce only: the last leaves of the log
}

func encodeEntries(es []Entry) []byte {
	var e enc
	e.u16(len(es))
	for _, x := range es {
		e.str8(x.Pub)
		e.u64(x.Version)
		e.bytes16(x.Checkpoint)
	}
	return e.b
}

func decodeEntries(p []byte) ([]Entry, error) {
	d := &dec{b: p}
	n := d.u16()
	if n > MaxPublishers {
		return nil, fmt.Errorf("%w: %d publishers exceed the limit of %d", ErrFrame, n, MaxPublishers)
	}
	var es []Entry
	for i := 0; i < n && d.err == nil; i++ {
		x := Entry{Pub: d.id(), Version: d.u64(), Checkpoint: d.bytes16()}
		es = append(es, x)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	for _, x := range es {
		if err := checkEntry(&x); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func checkEntry(x *Entry) error {
	if len(x.Checkpoint) > catalog.MaxCheckpointSize {
		return fmt.Errorf("%w: checkpoint of %d bytes", ErrFrame, len(x.Checkpoint))
	}
	if len(x.Checkpoint) == 0 {
		x.Checkpoint = nil
	}
	return nil
}

func encodeAnnounce(x *Entry) []byte {
	var e enc
	e.str8(x.Pub)
	e.u64(x.Version)
	e.bytes16(x.Checkpoint)
	e.u64(uint64(x.First))
	e.u16(len(x.Leaves))
	for _, l := range x.Leaves {
		e.bytes16(l)
	}
	return e.b
}

func decodeAnnounce(p []byte) (*Entry, error) {
	d := &dec{b: p}
	x := &Entry{Pub: d.id(), Version: d.u64(), Checkpoint: d.bytes16()}
	first := d.u64()
	n := d.u16()
	if d.err == nil && n > MaxAnnounceLeaves {
		d.fail("announce of %d leaves exceeds the limit of %d", n, MaxAnnounceLeaves)
	}
	if d.err == nil && first > 1<<62 {
		d.fail("leaf index %d out of range", first)
	}
	x.First = int64(first)
	for i := 0; i < n && d.err == nil; i++ {
		x.Leaves = append(x.Leaves, d.leaf())
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if err := checkEntry(x); err != nil {
		return nil, err
	}
	if x.Checkpoint == nil {
		return nil, fmt.Errorf("%w: announce without a checkpoint", ErrFrame)
	}
	return x, nil
}

func encodeLeavesReq(pub string, from, to int64) []byte {
	var e enc
	e.str8(pub)
	e.u64(uint64(from))
	e.u64(uint64(to))
	return e.b
}

func decodeLeavesReq(p []byte) (pub string, from, to int64, err error) {
	d := &dec{b: p}
	pub = d.id()
	f, t := d.u64(), d.u64()
	if err := d.end(); err != nil {
		return "", 0, 0, err
	}
	if f > t || t > 1<<62 {
		return "", 0, 0, fmt.Errorf("%w: leaf range [%d, %d)", ErrFrame, f, t)
	}
	return pub, int64(f), int64(t), nil
}

func encodeLeaves(ls [][]byte) []byte {
	var e enc
	e.u16(len(ls))
	for _, l := range ls {
		e.bytes16(l)
	}
	return e.b
}

func decodeLeaves(p []byte) ([][]byte, error) {
	d := &dec{b: p}
	n := d.u16()
	if n > MaxLeavesPerResponse {
		return nil, fmt.Errorf("%w: %d leaves exceed the limit of %d", ErrFrame, n, MaxLeavesPerResponse)
	}
	var ls [][]byte
	for i := 0; i < n && d.err == nil; i++ {
		ls = append(ls, d.leaf())
	}
	return ls, d.end()
}

func encodeID(pub string) []byte {
	var e enc
	e.str8(pub)
	return e.b
}

func decodeID(p []byte) (string, error) {
	d := &dec{b: p}
	pub := d.id()
	return pub, d.end()
}

func decodeDigest(p []byte) (bundle.Digest, error) {
	var dg bundle.Digest
	if len(p) != len(dg) {
		return dg, fmt.Errorf("%w: digest of %d bytes", ErrFrame, len(p))
	}
	copy(dg[:], p)
	return dg, nil
}

func encodeError(code byte, msg string) []byte {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return append([]byte{code}, msg...)
}

func decodeError(p []byte) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty error frame", ErrFrame)
	}
	msg := []rune(string(p[1:]))
	for i, r := range msg {
		if r < 0x20 || r == 0x7f {
			msg[i] = '?'
		}
	}
	return &RemoteError{Code: p[0], Message: string(msg)}
}

// decodeStatement only bounds the statement; the store verifies it.
func decodeStatement(p []byte) ([]byte, error) {
	if len(p) == 0 || len(p) > maxStatementSize {
		return nil, fmt.Errorf("%w: key statement of %d bytes", ErrFrame, len(p))
	}
	return p, nil
}

// decodeMirrorList only bounds the list; the store verifies it.
func decodeMirrorList(p []byte) ([]byte, error) {
	if len(p) == 0 || len(p) > catalog.MaxMirrorListSize {
		return nil, fmt.Errorf("%w: mirror list of %d bytes", ErrFrame, len(p))
	}
	return p, nil
}

// encodeHello and decodeHello carry a node's public HTTP URL: a bytes16,
// empty for none, else a URL that catalog.CheckMirrorURL accepts.
func encodeHello(url string) []byte {
	var e enc
	e.bytes16([]byte(url))
	return e.b
}

func decodeHello(p []byte) (string, error) {
	d := &dec{b: p}
	u := d.bytes16()
	if err := d.end(); err != nil {
		return "", err
	}
	if len(u) == 0 {
		return "", nil
	}
	if err := catalog.CheckMirrorURL(string(u)); err != nil {
		return "", fmt.Errorf("%w: hello: %v", ErrFrame, err)
	}
	return string(u), nil
}
