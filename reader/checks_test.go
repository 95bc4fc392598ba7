package reader_test

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/reader"
)

// Each test here makes one check of the reader the only one that can
// refuse its mirror: disabling that check alone fails the test.

// fetchFails fetches id (or lists, if id is "") from mirror alone and
// returns the one mirror's failure, failing the test if it was accepted.
func fetchFails(t *testing.T, c *reader.Client, id string) error {
	t.Helper()
	var err error
	if id == "" {
		_, err = c.List(ctx)
	} else {
		_, err = c.Fetch(ctx, id)
	}
	var re *reader.Error
	if !errors.As(err, &re) || len(re.Failures) != 1 {
		t.Fatalf("got %v, want one mirror's failure", err)
	}
	return re.Failures[0].Err
}

// signedCheckpoint returns the signed checkpoint that h serves.
func (w *world) signedCheckpoint(h http.Handler) []byte {
	w.t.Helper()
	rec := record(h, httptest.NewRequest("GET", "/p/"+w.pub.ID()+"/checkpoint", nil))
	if rec.Code != http.StatusOK {
		w.t.Fatalf("checkpoint: %d", rec.Code)
	}
	return rec.Body.Bytes()
}

// servingCheckpoint serves cp as h's publisher's checkpoint.
func (w *world) servingCheckpoint(h http.Handler, cp []byte) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p/"+w.pub.ID()+"/checkpoint" {
			rw.Write(cp)
			return
		}
		h.ServeHTTP(rw, r)
	})
}

// TestRollbackAlone: a checkpoint is a rollback if it has fewer leaves
// than the one kept, even dated later; or if it is dated earlier, even
// with as many leaves. Each case changes one of the two.
func TestRollbackAlone(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name   string
		mirror func(t *testing.T) (kept, bad string)
	}{
		{"fewer leaves, dated later", func(t *testing.T) (string, string) {
			// The reader kept step 1; the mirror has only step 0,
			// under a checkpoint the publisher signed an hour after
			// step 1.
			st := w.store(step0)
			if _, err := w.publisher(st, t1.Add(time.Hour)).Refresh(); err != nil {
				t.Fatal(err)
			}
			return serve(t, w.handler(w.store(step0, step1))), serve(t, w.handler(st))
		}},
		{"as many leaves, dated earlier", func(t *testing.T) (string, string) {
			// The reader kept the publisher's heartbeat an hour after
			// step 1; the mirror serves step 1's own checkpoint, of
			// the same tree.
			st := w.store(step0, step1)
			h := w.handler(st)
			old := w.signedCheckpoint(h)
			if _, err := w.publisher(st, t1.Add(time.Hour)).Refresh(); err != nil {
				t.Fatal(err)
			}
			return serve(t, h), serve(t, w.servingCheckpoint(h, old))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, bad := tc.mirror(t)
			state := t.TempDir()
			if _, err := w.client(state, kept).List(ctx); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(w.headFile(state))
			if err != nil {
				t.Fatal(err)
			}
			err = fetchFails(t, w.client(state, bad), "")
			if !errors.Is(err, reader.ErrRollback) || !errors.Is(err, catalog.ErrRollback) {
				t.Errorf("refused with %v, want a rollback", err)
			}
			if after, _ := os.ReadFile(w.headFile(state)); string(after) != string(before) {
				t.Error("the state changed")
			}
		})
	}
}

func (w *world) headFile(state string) string { return state + "/" + w.pub.ID() + "/head" }

// TestForkIsCatalogs: a fork is catalog's ForkError, carrying both signed
// checkpoints, and the reader's ErrFork; a rollback is both packages'
// ErrRollback.
func TestForkIsCatalogs(t *testing.T) {
	w := newWorld(t)
	state := w.primed()
	kept, err := os.ReadFile(w.headFile(state))
	if err != nil {
		t.Fatal(err)
	}
	forkH := w.handler(w.store(step0, fork1, fork2))
	err = fetchFails(t, w.client(state, serve(t, forkH)), "")
	var fe *catalog.ForkError
	if !errors.Is(err, reader.ErrFork) || !errors.As(err, &fe) || errors.Is(err, reader.ErrRollback) {
		t.Fatalf("refused with %v, want a fork", err)
	}
	if got := w.signedCheckpoint(forkH); string(fe.Got) != string(got) || !strings.Contains(string(kept), string(fe.Have)) || len(fe.Have) == 0 {
		t.Errorf("evidence: have %q, got %q", fe.Have, fe.Got)
	}
	if ev := w.client(state).ForkEvidence(); len(ev) != 1 {
		t.Errorf("evidence files %v, want one", ev)
	}
}

// TestWithheldKeyStatement: a mirror that serves an older key statement
// than the newest its log records is refused, though the older one still
// delegates the key that signed the checkpoint.
func TestWithheldKeyStatement(t *testing.T) {
	w := newWorld(t)
	st := w.store(honest...)
	// Version 2 revokes a key that version 1 did not know of: a reader
	// holding version 1 would trust what that key signs.
	stolen, err := keys.Generate(rand.Reader, "daily-news-stolen", keys.RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	v2 := &keys.Statement{Publisher: w.root(), Version: 2, Issued: t2,
		Keys:    []keys.Delegation{{Key: w.pub.Signer.Public(), NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0)}},
		Revoked: []*keys.PublicKey{stolen.Public()}}
	signed, err := v2.Sign(w.pub.Root)
	if err != nil {
		t.Fatal(err)
	}
	p, err := publish.New(st, w.root(), signed, w.pub.Signer, &publish.Options{Now: func() time.Time { return t2.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	h := w.handler(st)
	old := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/key-statement") {
			rw.Write(w.pub.Statement)
			return
		}
		h.ServeHTTP(rw, r)
	})
	err = fetchFails(t, w.client("", serve(t, old)), "a")
	if !strings.Contains(err.Error(), "withholds a newer one") {
		t.Errorf("refused with %v, want a withheld key statement", err)
	}
	r, err := w.client("", serve(t, h)).Fetch(ctx, "a")
	if err != nil || r.Trust.Statement().Version != 2 {
		t.Fatalf("honest mirror: %v", err)
	}
}

// forgedLog serves h's publisher log with edit applied to its leaves,
// under a checkpoint signed anew with the publisher's signing key: what a
// stolen key, or a publisher's bug, could put in a log that no store
// would take.
func (w *world) forgedLog(h http.Handler, edit func([]*catalog.Leaf)) http.Handler {
	w.t.Helper()
	cp, err := catalog.ParseUnverified(w.signedCheckpoint(h))
	if err != nil {
		w.t.Fatal(err)
	}
	if cp.Size > catalog.TileWidth {
		w.t.Fatalf("forgedLog serves logs of one entry bundle, not %d leaves", cp.Size)
	}
	rec := record(h, httptest.NewRequest("GET", fmt.Sprintf("/p/%s/tile/entries/000.p/%d", w.pub.ID(), cp.Size), nil))
	var leaves []*catalog.Leaf
	for b := rec.Body.Bytes(); len(b) > 0; {
		n := int(binary.BigEndian.Uint16(b))
		l, err := catalog.ParseLeaf(b[2 : 2+n])
		if err != nil {
			w.t.Fatal(err)
		}
		leaves = append(leaves, l)
		b = b[2+n:]
	}
	edit(leaves)
	var raw [][]byte
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		raw = append(raw, l.Encode())
		hs, err := tlog.StoredHashes(int64(i), raw[i], hr)
		if err != nil {
			w.t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	cp.Root, err = tlog.TreeHash(int64(len(raw)), hr)
	if err != nil {
		w.t.Fatal(err)
	}
	signed, err := cp.Sign(w.pub.Signer)
	if err != nil {
		w.t.Fatal(err)
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/p/"+w.pub.ID()+"/tile/") {
			w.servingCheckpoint(h, signed).ServeHTTP(rw, r)
			return
		}
		t, err := catalog.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/p/"+w.pub.ID()+"/"))
		if err != nil || t.L != -1 || t.N != 0 || t.W > len(raw) {
			http.Error(rw, "no such tile", http.StatusNotFound)
			return
		}
		rw.Write(catalog.AppendEntryBundle(nil, raw[:t.W]...))
	})
}

// TestBundleMatchesLeaf: the bundle a leaf names must be the article and
// revision the leaf says, though its bytes hash to the leaf's digest and
// the publisher's key signed it.
func TestBundleMatchesLeaf(t *testing.T) {
	w := newWorld(t)
	m := w.honestMirror()
	other := w.digest(m.st, "d") // revision 1 of "d"
	// newest returns the leaf of id's current revision.
	newest := func(leaves []*catalog.Leaf, id string) *catalog.Leaf {
		var a *catalog.Leaf
		for _, l := range leaves {
			if l.Kind == catalog.KindBundle && l.ID == id {
				a = l
			}
		}
		return a
	}
	for _, tc := range []struct {
		name, id string
		edit     func(*catalog.Leaf)
		want     string
	}{
		{"another article's bundle", "b", func(l *catalog.Leaf) { l.Digest = other }, `bundle is "d" revision 1, not "b" revision 1`},
		{"another revision", "a", func(l *catalog.Leaf) { l.Revision = 3 }, `bundle is "a" revision 2, not "a" revision 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged := w.forgedLog(m.h, func(leaves []*catalog.Leaf) { tc.edit(newest(leaves, tc.id)) })
			err := fetchFails(t, w.client("", serve(t, forged)), tc.id)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused with %v, want %q", err, tc.want)
			}
		})
	}
	// Unedited, the forged log is the honest one, and accepted.
	r, err := w.client("", serve(t, w.forgedLog(m.h, func([]*catalog.Leaf) {}))).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.checkArticle(t, r, r.Mirror)
}

// TestStaleMirrorsFork: two mirrors, both stale and both verified, serve
// two logs of one size with different roots. The reader keeps neither
// quietly: the second is a fork, with both checkpoints as evidence.
func TestStaleMirrorsFork(t *testing.T) {
	w := newWorld(t)
	one := serve(t, w.handler(w.store(step0, fork1)))
	other := serve(t, w.handler(w.store(step0, step{t1, []publish.Item{item("b", "<p>Another bee.</p>")}})))
	r, err := w.client("", one, other).Fetch(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stale {
		t.Fatal("the answer is not stale: the test needs two stale mirrors")
	}
	forks := r.Forks()
	if len(forks) != 1 {
		t.Fatalf("forks %v, want one", r.Failures)
	}
	var fe *catalog.ForkError
	if !errors.As(forks[0].Err, &fe) || len(fe.Have) == 0 || len(fe.Got) == 0 || string(fe.Have) == string(fe.Got) {
		t.Errorf("fork %v: want both checkpoints as evidence", forks[0].Err)
	}
}
