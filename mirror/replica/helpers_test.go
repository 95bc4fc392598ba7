package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// newNode returns New's node, failing the test on an error.
func newNode(t testing.TB, st Store, trusted []*keys.PublicKey, cfg *Config) *Node {
	t.Helper()
	n, err := New(st, trusted, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newStore opens a new empty store.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// pubStore is a publisher's store and its publisher.
type pubStore struct {
	t   testing.TB
	st  *store.Store
	pub *testkeys.Publisher
	p   *publish.Publisher
	now time.Time
	n   int
}

func newPubStore(t testing.TB, pub *testkeys.Publisher) *pubStore {
	t.Helper()
	ps := &pubStore{t: t, st: newStore(t), pub: pub, now: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}
	var err error
	ps.p, err = publish.New(ps.st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return ps.now }})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// publish publishes k new articles whose ids start with prefix.
func (ps *pubStore) publish(prefix string, k int) []string {
	ps.t.Helper()
	ps.now = ps.now.Add(time.Minute)
	var items []publish.Item
	var ids []string
	for range k {
		ps.n++
		id := fmt.Sprintf("%s-%d", prefix, ps.n)
		ids = append(ids, id)
		items = append(items, publish.Item{
			Meta:  bundle.Metadata{ID: id, Title: "About " + id, Language: "en"},
			Files: []bundle.File{{Type: "text/html", Data: []byte("<p>Text of " + id + "</p>")}, {Name: "a.png", Type: "image/png", Data: []byte("png of " + id)}},
		})
	}
	if _, err := ps.p.Publish(items); err != nil {
		ps.t.Fatalf("Publish: %v", err)
	}
	return ids
}

// revise publishes a new revision of the article id.
func (ps *pubStore) revise(id string) {
	ps.t.Helper()
	ps.now = ps.now.Add(time.Minute)
	item := publish.Item{
		Meta:  bundle.Metadata{ID: id, Title: "About " + id + ", revised", Language: "en"},
		Files: []bundle.File{{Type: "text/html", Data: []byte("<p>Revised text of " + id + "</p>")}},
		// A new title without a canonical URL: the id is the publisher's.
		IDGiven: true,
	}
	if _, err := ps.p.Publish([]publish.Item{item}); err != nil {
		ps.t.Fatalf("Publish: %v", err)
	}
}

// publishSized publishes k new articles whose ids start with prefix, each
// with an image of size random (incompressible) bytes.
func (ps *pubStore) publishSized(prefix string, k, size int) []string {
	ps.t.Helper()
	ps.now = ps.now.Add(time.Minute)
	var items []publish.Item
	var ids []string
	for range k {
		ps.n++
		id := fmt.Sprintf("%s-%d", prefix, ps.n)
		ids = append(ids, id)
		img := make([]byte, size)
		rand.Read(img)
		items = append(items, publish.Item{
			Meta:  bundle.Metadata{ID: id, Title: "About " + id, Language: "en"},
			Files: []bundle.File{{Type: "text/html", Data: []byte("<p>Text of " + id + "</p>")}, {Name: "a.png", Type: "image/png", Data: img}},
		})
	}
	if _, err := ps.p.Publish(items); err != nil {
		ps.t.Fatalf("Publish: %v", err)
	}
	return ids
}

// recStore is a Store that records the updates given to Apply, and may
// take its time over each, as a slow disk does.
type recStore struct {
	Store
	delay time.Duration

	mu      sync.Mutex
	applies []applied
}

// applied is one call of recStore.Apply.
type applied struct {
	bundles, bytes int   // bundles given and their bytes
	largest        int   // bytes of the largest bundle
	checkpoint     bool  // a checkpoint came with them
	err            error // what the store returned
}

func (r *recStore) Apply(root *keys.PublicKey, u *store.Update) (*store.Result, error) {
	a := applied{bundles: len(u.Bundles), checkpoint: u.Checkpoint != nil}
	for _, b := range u.Bundles {
		a.bytes += len(b)
		a.largest = max(a.largest, len(b))
	}
	if r.delay > 0 {
		time.Sleep(r.delay) // a slow disk, not an event
	}
	res, err := r.Store.Apply(root, u)
	a.err = err
	r.mu.Lock()
	r.applies = append(r.applies, a)
	r.mu.Unlock()
	return res, err
}

func (r *recStore) calls() []applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applies)
}

// watched opens a new empty store and returns it with a channel that
// receives a value (without blocking, so several changes may make one)
// after every Apply that changes it.
func watched(t testing.TB) (*store.Store, <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 1)
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true, OnChange: func(string) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, ch
}

// waitChange returns true once cond holds, checking it at first and after
// each value from changed, or false if d passes first.
func waitChange(d time.Duration, changed <-chan struct{}, cond func() bool) bool {
	deadline := time.After(d)
	for !cond() {
		select {
		case <-changed:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// snapshot is what a store holds, to compare before and after.
type snapshot struct {
	pubs    map[string]store.Publisher
	arts    map[string][]catalog.Article
	bundles []string
}

func snap(t *testing.T, st *store.Store) snapshot {
	t.Helper()
	s := snapshot{pubs: map[string]store.Publisher{}, arts: map[string][]catalog.Article{}}
	ids, err := st.Publishers()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p, err := st.Publisher(id)
		if err != nil {
			t.Fatal(err)
		}
		p.Root = nil
		s.pubs[id] = *p
		if s.arts[id], err = st.Articles(id); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(filepath.Join(st.Dir(), "bundles"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s.bundles = append(s.bundles, d.Name())
		}
		return nil
	})
	slices.Sort(s.bundles)
	return s
}

func (a snapshot) equal(b snapshot) bool {
	if len(a.pubs) != len(b.pubs) || !slices.Equal(a.bundles, b.bundles) {
		return false
	}
	for id, p := range a.pubs {
		q, ok := b.pubs[id]
		if !ok || string(p.Checkpoint) != string(q.Checkpoint) || string(p.Statement) != string(q.Statement) || p.Size != q.Size {
			return false
		}
		if !slices.Equal(a.arts[id], b.arts[id]) {
			return false
		}
	}
	return true
}

// check fails the test unless st holds the publisher's log and every
// current article's bundle, all verifying.
func check(t *testing.T, st *store.Store, root *keys.PublicKey) {
	t.Helper()
	probs, err := st.Check(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Error(p)
	}
}

// sameLog reports whether two stores hold the same checkpoint of a
// publisher and every current bundle of it.
func sameLog(a, b *store.Store, id string) bool {
	pa, err1 := a.Publisher(id)
	pb, err2 := b.Publisher(id)
	if err1 != nil || err2 != nil || string(pa.Checkpoint) != string(pb.Checkpoint) {
		return false
	}
	arts, err := b.Articles(id)
	if err != nil {
		return false
	}
	for _, x := range arts {
		if !x.Retracted && !b.HasBundle(x.Digest) {
			return false
		}
	}
	return true
}

// serve runs n.Serve on a new loopback QUIC listener until the test ends,
// and returns the listener's address.
func serve(t testing.TB, n *Node) string {
	t.Helper()
	l, err := session.ListenQUIC("127.0.0.1:0", n.Key())
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, n, l)
	return l.Addr().String()
}

// serveOn runs n.Serve on l until the test ends.
func serveOn(t testing.TB, n *Node, l session.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Serve(ctx, l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		waitDone(t, "Serve", done)
	})
}

// waitDone fails the test unless done is closed within 5 seconds.
func waitDone(t testing.TB, what string, done chan struct{}) {
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("%s did not return within 5 s of its context's end", what)
	}
}

// run runs n.Run until the test ends.
func run(t *testing.T, n *Node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		waitDone(t, "Run", done)
	})
}

// dial opens a session to addr with a new key; the session is closed when
// the test ends.
func dial(t testing.TB, addr string, pin ed25519.PublicKey) session.Conn {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := session.DialQUIC(ctx, addr, key, pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 5 ms until it holds or d passes. It is for
// state that signals no event, such as a session count; a store's changes
// are waited for with watched and waitChange.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logRecorder is a slog handler that keeps the records at or above a level.
type logRecorder struct {
	level slog.Level
	mu    sync.Mutex
	recs  []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) records() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// logOnly copies into dst the publisher's whole log from src (statement,
// leaves, checkpoint), without its bundles: a mirror that took the log
// from a peer and has yet to fetch the bundles.
func logOnly(t testing.TB, dst, src *store.Store, root *keys.PublicKey) {
	t.Helper()
	p, err := src.Publisher(root.ID())
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := src.Leaves(root.ID(), 0, p.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Apply(root, &store.Update{Statement: p.Statement, Leaves: leaves, Checkpoint: p.Checkpoint}); err != nil {
		t.Fatal(err)
	}
}

// fake is the model of a peer that answers as honest does, but for the
// answers a test replaces; with no honest model, what is not replaced is
// not found. It runs no replication of its own.
type fake struct {
	honest     session.Model
	list       func() ([]session.Entry, error)
	leaves     func(pub string, from, to int64) ([][]byte, error)
	bundle     func(d bundle.Digest) ([]byte, error)
	mirrorList func(pub string) ([]byte, error)
	announce   func(x *session.Entry) error
}

var errFake = session.NotFound(errors.New("fake: not found"))

func (f *fake) List() ([]session.Entry, error) {
	switch {
	case f.list != nil:
		return f.list()
	case f.honest != nil:
		return f.honest.List()
	}
	return nil, nil
}

func (f *fake) Statement(pub string) ([]byte, error) {
	if f.honest != nil {
		return f.honest.Statement(pub)
	}
	return nil, errFake
}

func (f *fake) Leaves(pub string, from, to int64) ([][]byte, error) {
	switch {
	case f.leaves != nil:
		return f.leaves(pub, from, to)
	case f.honest != nil:
		return f.honest.Leaves(pub, from, to)
	}
	return nil, errFake
}

func (f *fake) BundleSize(d bundle.Digest) (int64, bool) {
	if f.honest != nil {
		return f.honest.BundleSize(d)
	}
	return 0, false
}

func (f *fake) Bundle(d bundle.Digest) ([]byte, error) {
	switch {
	case f.bundle != nil:
		return f.bundle(d)
	case f.honest != nil:
		return f.honest.Bundle(d)
	}
	return nil, errFake
}

func (f *fake) MirrorList(pub string) ([]byte, error) {
	switch {
	case f.mirrorList != nil:
		return f.mirrorList(pub)
	case f.honest != nil:
		return f.honest.MirrorList(pub)
	}
	return nil, errFake
}

func (f *fake) Hello(c session.Conn, url string) string { return "" }

func (f *fake) Announce(ctx context.Context, c session.Conn, x *session.Entry) error {
	switch {
	case f.announce != nil:
		return f.announce(x)
	case f.honest != nil:
		return f.honest.Announce(ctx, c, x)
	}
	return session.Refused(errors.New("fake: announce refused"))
}

func (f *fake) Connected(ctx context.Context, c session.Conn) { <-ctx.Done() }
func (f *fake) Closed(c session.Conn)                         {}

// honest returns the model of a node over st, as a peer would answer.
func honest(t testing.TB, st Store) session.Model {
	return &model{newNode(t, st, nil, nil)}
}

// fakePeer serves sessions on a loopback QUIC listener, answering each
// request from m, until the test ends, and returns its address.
func fakePeer(t testing.TB, m session.Model) string {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := session.ListenQUIC("127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	h := session.New(m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		cancel()
		waitDone(t, "the fake peer", done)
	})
	return l.Addr().String()
}

// FuzzCurrentDigests feeds arbitrary leaves to currentDigests: it may not
// panic.
func FuzzCurrentDigests(f *testing.F) {
	f.Add([]byte("samizdat leaf"))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		currentDigests([][]byte{leaf})
	})
}

// stOf returns the store of a node the test opened over a *store.Store.
func stOf(n *Node) *store.Store { return n.st.(*store.Store) }
