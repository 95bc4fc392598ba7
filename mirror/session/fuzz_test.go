package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
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
