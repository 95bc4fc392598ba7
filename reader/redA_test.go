package reader_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

// TestLightOneMirrorOldCheckpoint (red team, fourth session): a censor's
// mirror, listed first, serves a checkpoint without an article index
// (one signed before the index existed, which it may have kept), so that
// a light reader syncs the whole log from it at once, beside an honest
// mirror that would prove the article. The honest light answer must win
// and the censor's mirror must not stream the whole log to the reader.
func TestLightOneMirrorOldCheckpoint(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	w.grow(m.st, 20000, t2)
	h := w.handler(m.st)
	var served atomic.Int64
	hostile := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/checkpoint") {
			cp, err := catalog.ParseUnverified(record(h, r).Body.Bytes())
			if err != nil {
				t.Error(err)
				return
			}
			cp.Index = tlog.Hash{}
			signed, err := cp.Sign(w.pub.Signer)
			if err != nil {
				t.Error(err)
				return
			}
			rw.Write(signed)
			return
		}
		h.ServeHTTP(countingWriter{rw, &served}, r)
	})
	t0 := time.Now()
	r, err := w.lightClient(t.TempDir(), serve(t, hostile), serve(t, h)).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("winner %s, light %v (%q), %v; the mirror without an index served %d body bytes", r.Mirror, r.Light, r.FullSync, time.Since(t0), served.Load())
	if !r.Light {
		t.Errorf("a mirror serving a checkpoint without an index made the reader sync the whole log, with an honest mirror beside it")
	}
	if n := served.Load(); n > 64<<10 {
		t.Errorf("the mirror without an index served %d body bytes to a light reader with an honest mirror beside it", n)
	}
}
