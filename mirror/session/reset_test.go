package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestRestartResetsOldSessions: a node that dies without closing its
// sessions (its close packets lost) and starts again on its address with
// its key ends its peers' old sessions at their next packet, by a
// stateless reset; a node with another key cannot, and the old session
// hangs until the idle timeout.
func TestRestartResetsOldSessions(t *testing.T) {
	for _, sameKey := range []bool{true, false} {
		_, key, _ := ed25519.GenerateKey(nil)
		_, client, _ := ed25519.GenerateKey(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l1, err := ListenQUIC("127.0.0.1:0", key)
		if err != nil {
			t.Fatal(err)
		}
		addr := l1.Addr().String()
		accepted := make(chan Conn, 1)
		go func() {
			if c, err := l1.Accept(ctx); err == nil {
				accepted <- c
			}
		}()
		c, err := DialQUIC(ctx, addr, client, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		<-accepted
		// The crash: the socket goes, nothing is sent.
		l1.tr.Conn.Close()
		key2 := key
		if !sameKey {
			_, key2, _ = ed25519.GenerateKey(nil)
		}
		l2, err := ListenQUIC(addr, key2)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		s, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(2 * time.Second))
		s.Write(make([]byte, 1000)) // large enough to be answered by a reset
		_, err = s.Read(make([]byte, 1))
		var reset *quic.StatelessResetError
		if sameKey && !errors.As(err, &reset) {
			t.Errorf("same key: the old session got %v, want a stateless reset", err)
		}
		if !sameKey && errors.As(err, &reset) {
			t.Errorf("another key reset the session: %v", err)
		}
		l1.Close()
	}
}
