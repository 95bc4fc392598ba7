package session

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBadFrames sends a node malformed requests on raw streams.
func TestBadFrames(t *testing.T) {
	h, key := newHost(t, nil)
	c := dial(t, serve(t, h, key), nil)
	evilAnnounce := &Entry{Pub: "fedcba9876543210fedcba9876543210", Version: 1, Checkpoint: []byte("a checkpoint"), First: 1}
	frame := func(typ byte, n uint32, payload []byte) []byte {
		b := []byte{typ}
		b = binary.BigEndian.AppendUint32(b, n)
		return append(b, payload...)
	}
	tests := []struct {
		name string
		raw  []byte
		code byte
	}{
		{"unknown type", frame(0x42, 0, nil), CodeBadRequest},
		{"oversize list", frame(typeList, 1, []byte{0}), CodeBadRequest},
		{"oversize announce", frame(typeAnnounce, maxAnnouncePayload+1, nil), CodeBadRequest},
		{"oversize bundle request", frame(typeBundle, 33, nil), CodeBadRequest},
		{"answer as request", frame(respBundle, 1<<30, nil), CodeBadRequest},
		{"truncated", frame(typeStatement, 10, []byte("abc")), CodeBadRequest},
		{"trailing bytes", append(frame(typeList, 0, nil), 0), CodeBadRequest},
		{"ok as request", frame(respOK, 0, nil), CodeBadRequest},
		{"bad id", frame(typeStatement, 3, []byte{2, 'a', 'b'}), CodeBadRequest},
		{"unknown publisher", frame(typeStatement, 33, append([]byte{32}, strings.Repeat("ab", 16)...)), CodeNotFound},
		{"untrusted announce", frame(typeAnnounce, uint32(len(encodeAnnounce(evilAnnounce))), encodeAnnounce(evilAnnounce)), CodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			s, err := c.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s.SetDeadline(time.Now().Add(5 * time.Second))
			s.Write(tc.raw)
			s.CloseWrite()
			typ, p, err := readFrame(s, anyLimit)
			if err != nil {
				t.Fatal(err)
			}
			if typ != respError {
				t.Fatalf("answer type 0x%02x, want an error", typ)
			}
			var re *RemoteError
			if err := decodeError(p); !errors.As(err, &re) || re.Code != tc.code || re.Message != CodeText(tc.code) {
				t.Fatalf("answer %v, want code %d and its text", err, tc.code)
			}
			t.Log(re)
		})
	}
}

// TestBadAnswers has a peer answer with oversize and unknown frames.
func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		typ  byte
		p    []byte
		want string
	}{
		{"unknown type", 0x42, nil, "answer of type"},
		{"wrong type", respOK, nil, "answer of type"},
		{"oversize error", respError, make([]byte, maxErrorPayload+1), "exceeds the limit"},
		{"oversize", respPublishers, make([]byte, MaxFrameSize+1), "exceeds the limit"},
		{"too many publishers", respPublishers, []byte{0xff, 0xff}, "exceed the limit"},
		{"truncated list", respPublishers, []byte{0, 1, 32}, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHost(t, nil)
			addr := fakePeer(t, func(Conn, byte, []byte) (byte, []byte) { return tc.typ, tc.p })
			_, err := h.List(testContext(t), dial(t, addr, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "session: ") {
				t.Fatalf("List: %v, want an error with %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
