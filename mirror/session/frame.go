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
	// MaxFrameSize bounds a list answer, the largest frame but a bundle.
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
	// maxErrorText bounds the text of an error frame.
	maxErrorText = 256
	frameHeader  = 5
)

// The exact largest payload of a valid frame of each type but a list
// answer (MaxFrameSize) and a bundle (the node's bundle size limit). A
// frame whose header states more is refused before its payload is read.
const (
	maxIDPayload       = 1 + 32 // an id: str8 of 32 hex digits
	maxLeavesRequest   = maxIDPayload + 8 + 8
	maxBundleRequest   = 32
	maxHelloPayload    = 2 + catalog.MaxMirrorURLLen
	maxAnnouncePayload = maxIDPayload + 8 + 2 + catalog.MaxCheckpointSize + 8 + 2 + MaxAnnounceLeaves*(2+MaxLeafSize)
	maxLeavesAnswer    = 2 + MaxLeavesPerResponse*(2+MaxLeafSize)
	maxErrorPayload    = 1 + maxErrorText
	// MaxRequestSize is the largest payload of any request: an announce
	// with a checkpoint of catalog.MaxCheckpointSize bytes and
	// MaxAnnounceLeaves leaves of MaxLeafSize bytes.
	MaxRequestSize = maxAnnouncePayload
)

// requestLimit returns the largest payload of a request of type t, or -1
// when t is not a request type.
func requestLimit(t byte) int64 {
	switch t {
	case typeList:
		return 0
	case typeStatement, typeMirrorList:
		return maxIDPayload
	case typeLeaves:
		return maxLeavesRequest
	case typeBundle:
		return maxBundleRequest
	case typeAnnounce:
		return maxAnnouncePayload
	case typeHello:
		return maxHelloPayload
	}
	return -1
}

// answerLimit returns the largest payload of an answer of type t, or -1
// when t is not an answer type. bundleMax bounds a bundle.
func answerLimit(t byte, bundleMax int64) int64 {
	switch t {
	case respPublishers:
		return MaxFrameSize
	case respStatement:
		return maxStatementSize
	case respLeaves:
		return maxLeavesAnswer
	case respBundle:
		return bundleMax
	case respOK:
		return 0
	case respMirrorList:
		return catalog.MaxMirrorListSize
	case respHello:
		return maxHelloPayload
	case respError:
		return maxErrorPayload
	}
	return -1
}

// Codes of an error frame, and of a QUIC connection a node closes, see
// PROTOCOL.md. Each code goes with one fixed text (CodeText): a node tells
// a peer what kind of failure it met, never its details.
const (
	CodeNotFound   byte = 1 // the node does not hold what was asked
	CodeBadRequest byte = 2 // the request is malformed, unknown or too large
	CodeRefused    byte = 3 // the node refuses what was offered or asked
	CodeInternal   byte = 4 // the node failed; its log says why
	CodeRateLimit  byte = 5 // the peer asks faster than its rate limit
	CodeBusy       byte = 6 // no room: sessions, or bytes in flight, at their cap
	CodeIdle       byte = 7 // the session was closed after doing nothing for long
)

// codeTexts are the fixed texts of the codes.
var codeTexts = [...]string{
	CodeNotFound:   "not found",
	CodeBadRequest: "bad request",
	CodeRefused:    "refused: not carried here, or not accepted",
	CodeInternal:   "internal error",
	CodeRateLimit:  "rate limit: ask again later",
	CodeBusy:       "busy: too many sessions or requests; try again later",
	CodeIdle:       "session closed: idle",
}

// CodeText returns the fixed text of a code, or "" for a code this
// version does not know.
func CodeText(code byte) string {
	if int(code) < len(codeTexts) {
		return codeTexts[code]
	}
	return ""
}

// ErrFrame is wrapped by every error about a malformed, unknown or oversize
// frame.
var ErrFrame = errors.New("session: bad frame")

// RemoteError is an error frame a peer sent, or the code with which it
// closed a QUIC session; Code is one of the Code constants, or another
// value from a newer or hostile peer. Message is the peer's text, with
// control characters replaced.
type RemoteError struct {
	Code    byte
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("session: peer answered error %d: %s", e.Code, e.Message)
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

// readHeader reads a frame's header: its type and its payload's length.
func readHeader(r io.Reader) (byte, int64, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, fmt.Errorf("%w: truncated header", ErrFrame)
		}
		return 0, 0, fmt.Errorf("session: reading frame: %w", err)
	}
	return hdr[0], int64(binary.BigEndian.Uint32(hdr[1:])), nil
}

// checkLength checks a frame's length against its type's limit lim (-1
// for a type not allowed here).
func checkLength(t byte, n, lim int64, dir string) error {
	if lim < 0 {
		return fmt.Errorf("%w: type 0x%02x is not %s", ErrFrame, t, dir)
	}
	if n > lim {
		return fmt.Errorf("%w: type 0x%02x of %d bytes exceeds the limit of %d", ErrFrame, t, n, lim)
	}
	return nil
}

// readPayload reads a payload of n bytes, small enough to be allocated
// at once, and checks that nothing follows it.
func readPayload(r io.Reader, t byte, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if m, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: type 0x%02x truncated at %d of %d bytes", ErrFrame, t, m, n)
		}
		return nil, fmt.Errorf("session: reading frame: %w", err)
	}
	return buf, expectEnd(r)
}

// expectEnd checks that the frame just read is the last thing on r.
func expectEnd(r io.Reader) error {
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	if m != 0 {
		return fmt.Errorf("%w: bytes after the frame", ErrFrame)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("session: reading frame: %w", err)
	}
	return nil
}

// readFrame reads exactly one frame of a type that limit allows (see
// requestLimit and answerLimit), and checks that nothing follows it. Tests
// and fake peers use it; a Host reads requests and answers within its
// budgets.
func readFrame(r io.Reader, limit func(byte) int64) (byte, []byte, error) {
	t, n, err := readHeader(r)
	if err != nil {
		return 0, nil, err
	}
	if err := checkLength(t, n, limit(t), "allowed here"); err != nil {
		return 0, nil, err
	}
	p, err := readPayload(r, t, n)
	return t, p, err
}

// anyLimit allows every frame type, within its limit as a request or an
// answer; bundles up to bundle.DefaultLimits.BundleSize.
func anyLimit(t byte) int64 {
	if l := requestLimit(t); l >= 0 {
		return l
	}
	return answerLimit(t, bundle.DefaultLimits.BundleSize)
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

// encodeError returns the payload of an error frame with code and its
// fixed text.
func encodeError(code byte) []byte {
	return append([]byte{code}, CodeText(code)...)
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
