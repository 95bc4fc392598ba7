package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/samizdat-news/samizdat/bundle"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and every payload
// decoder: none may panic, and a list that decodes encodes back the same.
func FuzzReadFrame(f *testing.F) {
	frame := func(typ byte, p []byte) []byte {
		b := []byte{typ}
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		return append(b, p...)
	}
	id := "0123456789abcdef0123456789abcdef"
	f.Add(frame(typeList, nil))
	f.Add(frame(respPublishers, encodeEntries([]Entry{{Pub: id, Version: 1, Checkpoint: []byte("samizdat/x\n1\nAAAA\ntime 1\n\n— k abc\n")}})))
	f.Add(frame(typeAnnounce, encodeAnnounce(&Entry{Pub: id, Version: 2, Checkpoint: []byte("cp"), First: 3, Leaves: [][]byte{{1, 2}, {3}}})))
	f.Add(frame(typeLeaves, encodeLeavesReq(id, 1, 5)))
	f.Add(frame(respLeaves, encodeLeaves([][]byte{{1}, {2, 3}})))
	f.Add(frame(respError, encodeError(CodeNotFound)))
	f.Add(frame(typeBundle, make([]byte, 32)))
	f.Add([]byte{0x42, 0, 0, 0, 0})
	f.Add(frame(typeHello, encodeHello("https://mirror.example/")))
	f.Add(frame(respHello, encodeHello("")))
	f.Add(frame(typeMirrorList, []byte("\x20"+id)))
	f.Add(frame(respMirrorList, []byte("samizdat/x mirrors\nversion 1\ntime 1\n\n— k abc\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, p, err := readFrame(bytes.NewReader(data), func(t byte) int64 { return min(anyLimit(t), 1<<16) })
		if err != nil {
			return
		}
		switch typ {
		case respPublishers:
			es, err := decodeEntries(p)
			if err == nil {
				for i := range es {
					if es[i].Checkpoint == nil {
						es[i].Checkpoint = []byte{}
					}
				}
				if got := encodeEntries(es); !bytes.Equal(got, p) {
					t.Errorf("list re-encodes differently")
				}
			}
		case typeAnnounce:
			if x, err := decodeAnnounce(p); err == nil {
				if got := encodeAnnounce(x); !bytes.Equal(got, p) {
					t.Errorf("announce re-encodes differently")
				}
			}
		case typeLeaves:
			decodeLeavesReq(p)
		case respLeaves:
			decodeLeaves(p)
		case typeStatement:
			decodeID(p)
		case typeBundle:
			decodeDigest(p)
		case respError:
			decodeError(p)
		case respStatement:
			decodeStatement(p)
		case typeHello, respHello:
			if u, err := decodeHello(p); err == nil {
				if got := encodeHello(u); !bytes.Equal(got, p) {
					t.Errorf("hello re-encodes differently")
				}
			}
		case typeMirrorList:
			decodeID(p)
		case respMirrorList:
			decodeMirrorList(p)
		}
	})
}

func TestHelloEncoding(t *testing.T) {
	for _, u := range []string{"", "https://a.example/", "h3://[2001:db8::1]:443/x"} {
		got, err := decodeHello(encodeHello(u))
		if err != nil || got != u {
			t.Errorf("hello %q decodes to %q, %v", u, got, err)
		}
	}
	for _, p := range [][]byte{nil, {0}, {0, 1}, {0, 0, 0}, append([]byte{0, 3}, "a b"...)} {
		if _, err := decodeHello(p); !errors.Is(err, ErrFrame) {
			t.Errorf("hello %x: %v", p, err)
		}
	}
}

// FuzzAnswer feeds arbitrary bytes to the readers of answers, as a bundle
// of each length and as a small answer: none may panic, take more than
// the bytes given, or return a bundle that does not match its digest.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte("a bundle"), uint16(8))
	f.Add(make([]byte, 1000), uint16(999))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		b := newRecvBudget(smallShare * firstChunk)
		d := bundle.Digest(sha256.Sum256(data[:min(int(n), len(data))]))
		if got, err := b.readBundle(context.Background(), bytes.NewReader(data), int64(n), d); err == nil {
			if sha256.Sum256(got) != d || len(got) != int(n) {
				t.Errorf("readBundle returned %d bytes that do not match", len(got))
			}
		}
		if got, err := b.readSmall(context.Background(), bytes.NewReader(data), int64(n)); err == nil && !bytes.Equal(got, data) {
			t.Errorf("readSmall returned %d bytes of %d", len(got), len(data))
		}
		if b.small.sem.TryAcquire(b.small.max) {
			b.small.sem.Release(b.small.max)
		} else {
			t.Error("room not given back")
		}
	})
}

// TestFrameLimits: each request type's limit is the size of its largest
// valid payload, which decodes, and the numbers are PROTOCOL.md's.
func TestFrameLimits(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	leaf := bytes.Repeat([]byte{1}, MaxLeafSize)
	var leaves [][]byte
	for range MaxAnnounceLeaves {
		leaves = append(leaves, leaf)
	}
	announce := encodeAnnounce(&Entry{Pub: id, Version: 1, Checkpoint: bytes.Repeat([]byte{'c'}, 4096), First: 1, Leaves: leaves})
	url := "https://" + strings.Repeat("a", 256-len("https://.example/")) + ".example/"
	var maxLeaves [][]byte
	for range MaxLeavesPerResponse {
		maxLeaves = append(maxLeaves, leaf)
	}
	for _, tc := range []struct {
		typ     byte
		payload []byte
		decode  func([]byte) error
		doc     int64 // the number in PROTOCOL.md
	}{
		{typeList, nil, nil, 0},
		{typeStatement, encodeID(id), func(p []byte) error { _, err := decodeID(p); return err }, 33},
		{typeLeaves, encodeLeavesReq(id, 0, 1), func(p []byte) error { _, _, _, err := decodeLeavesReq(p); return err }, 49},
		{typeBundle, make([]byte, 32), func(p []byte) error { _, err := decodeDigest(p); return err }, 32},
		{typeAnnounce, announce, func(p []byte) error { _, err := decodeAnnounce(p); return err }, 8277},
		{typeMirrorList, encodeID(id), func(p []byte) error { _, err := decodeID(p); return err }, 33},
		{typeHello, encodeHello(url), func(p []byte) error { _, err := decodeHello(p); return err }, 258},
	} {
		lim := requestLimit(tc.typ)
		if int64(len(tc.payload)) != lim || lim != tc.doc {
			t.Errorf("type 0x%02x: largest valid payload %d bytes, limit %d, PROTOCOL.md %d", tc.typ, len(tc.payload), lim, tc.doc)
		}
		if tc.decode != nil {
			if err := tc.decode(tc.payload); err != nil {
				t.Errorf("type 0x%02x: the largest payload does not decode: %v", tc.typ, err)
			}
		}
	}
	if n := int64(len(encodeLeaves(maxLeaves))); n != answerLimit(respLeaves, 0) || n != 264194 {
		t.Errorf("leaves answer: largest %d bytes, limit %d", n, answerLimit(respLeaves, 0))
	}
	for code := range byte(len(codeTexts)) {
		if code != 0 && (CodeText(code) == "" || len(encodeError(code)) > maxErrorPayload) {
			t.Errorf("code %d: text %q", code, CodeText(code))
		}
	}
	if answerLimit(respError, 0) != 257 || answerLimit(respHello, 0) != 258 {
		t.Error("error or hello answer limit differs from PROTOCOL.md")
	}
}
