package publish_test

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

func (f *fixture) setMirrors(urls ...string) *catalog.MirrorList {
	f.t.Helper()
	f.clock.t = f.clock.t.Add(time.Minute)
	m, err := f.p.SetMirrors(urls)
	if err != nil {
		f.t.Fatalf("SetMirrors: %v", err)
	}
	return m
}

// storedList opens the store's mirror list and checks that the log's last
// leaf records it.
func (f *fixture) storedList() *catalog.MirrorList {
	f.t.Helper()
	signed, err := f.st.MirrorList(f.pub.ID())
	if err != nil {
		f.t.Fatal(err)
	}
	tr, err := f.st.Trust(f.pub.Root.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := catalog.OpenMirrorList(signed, tr)
	if err != nil {
		f.t.Fatal(err)
	}
	l, err := f.st.MirrorListLeaf(f.pub.ID())
	if err != nil || l.Version != m.Version || l.Digest != sha256.Sum256(signed) {
		f.t.Fatalf("newest mirror-list leaf %+v (%v) does not record the stored list version %d", l, err, m.Version)
	}
	return m
}

func TestSetMirrors(t *testing.T) {
	f := newFixture(t)
	// A new publisher's first list also carries the key statement.
	m := f.setMirrors("https://a.example/", "h3://b.example:4433")
	if m.Version != 1 || f.size() != 2 || f.leaf(0).Kind != catalog.KindKeyStatement || f.leaf(1).Kind != catalog.KindMirrorList {
		t.Fatalf("first list: version %d, log of %d leaves", m.Version, f.size())
	}
	if got := f.storedList(); !slices.Equal(got.URLs, m.URLs) || !got.Time.Equal(f.clock.t) {
		t.Errorf("stored %+v, want %+v", got, m)
	}
	f.checkClean()

	// The same URLs again: nothing is signed.
	if again := f.setMirrors("https://a.example/", "h3://b.example:4433"); again.Version != 1 || f.size() != 2 {
		t.Errorf("unchanged list: version %d, log of %d leaves", again.Version, f.size())
	}
	// A new list after articles.
	f.publish(item("a", "<p>a</p>"))
	m = f.setMirrors("https://c.example/")
	if m.Version != 2 || f.storedList().Version != 2 || f.leaf(f.size()-1).Kind != catalog.KindMirrorList {
		t.Errorf("second list: version %d", m.Version)
	}
	// An empty list says "no mirrors".
	if m = f.setMirrors(); m.Version != 3 || len(f.storedList().URLs) != 0 {
		t.Errorf("empty list: %+v", m)
	}
	got, err := f.p.Mirrors()
	if err != nil || got.Version != 3 {
		t.Errorf("Mirrors() = %+v, %v", got, err)
	}
	f.checkClean()

	for _, bad := range [][]string{{"ftp://x.example"}, {"https://x.example", "https://x.example"}, {"https://u@x.example"}} {
		size := f.size()
		if _, err := f.p.SetMirrors(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("SetMirrors(%q) = %v", bad, err)
		}
		if f.size() != size {
			t.Errorf("SetMirrors(%q) changed the log", bad)
		}
	}
}

// TestSetMirrorList checks that a list's verifier page hashes are signed,
// kept by SetMirrors and by re-signing after a revocation, and that a
// change of them alone signs a new version.
func TestSetMirrorList(t *testing.T) {
	f := newFixture(t)
	v1, v2 := sha256.Sum256([]byte("page 1")), sha256.Sum256([]byte("page 2"))
	f.clock.t = f.clock.t.Add(time.Minute)
	m, err := f.p.SetMirrorList([]string{"https://a.example/"}, [][sha256.Size]byte{v2, v1})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.storedList(); got.Version != 1 || !slices.Equal(got.Verifiers, [][sha256.Size]byte{v2, v1}) {
		t.Fatalf("stored %+v", got)
	}
	// The same list again: nothing is signed.
	if again, err := f.p.SetMirrorList([]string{"https://a.example/"}, [][sha256.Size]byte{v2, v1}); err != nil || again.Version != m.Version {
		t.Errorf("unchanged list: %+v, %v", again, err)
	}
	// Only the hashes change: a new version.
	f.clock.t = f.clock.t.Add(time.Minute)
	if m, err = f.p.SetMirrorList([]string{"https://a.example/"}, [][sha256.Size]byte{v2}); err != nil || m.Version != 2 || len(f.storedList().Verifiers) != 1 {
		t.Errorf("new hashes: %+v, %v", m, err)
	}
	// SetMirrors keeps them.
	if m = f.setMirrors("https://b.example/"); m.Version != 3 || !slices.Equal(f.storedList().Verifiers, [][sha256.Size]byte{v2}) {
		t.Errorf("SetMirrors dropped the hashes: %+v", f.storedList())
	}
	// Re-signed after a revocation, the list keeps them.
	newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	f.p = f.publisher(f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public()), newKey)
	f.publish()
	if got := f.storedList(); got.Version != 4 || !slices.Equal(got.Verifiers, [][sha256.Size]byte{v2}) {
		t.Errorf("re-signed list %+v", got)
	}
	size := f.size()
	if _, err := f.p.SetMirrorList(nil, [][sha256.Size]byte{v1, v1}); err == nil || f.size() != size {
		t.Errorf("a hash listed twice: %v, log %d -> %d", err, size, f.size())
	}
	f.checkClean()
}

// TestMirrorsResignedOnRevocation revokes the key that signed the list:
// the next update signs it again with the new key.
func TestMirrorsResignedOnRevocation(t *testing.T) {
	f := newFixture(t)
	f.publish(item("a", "<p>a</p>"))
	f.setMirrors("https://a.example/")
	newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public())
	f.p = f.publisher(stmt2, newKey)
	f.publish()
	m := f.storedList()
	if m.Version != 2 || !slices.Equal(m.URLs, []string{"https://a.example/"}) {
		t.Errorf("after revocation the list is %+v, want version 2 with the same URLs", m)
	}
	f.checkClean()
}

func TestRefresh(t *testing.T) {
	f := newFixture(t)
	// In an empty store, the key statement makes the first log.
	if cp, err := f.p.Refresh(); err != nil || cp.Size != 1 {
		t.Fatalf("Refresh of an empty store: %+v, %v", cp, err)
	}
	f.publish(item("a", "<p>a</p>"))
	before, err := f.st.Publisher(f.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.t = f.clock.t.Add(10 * time.Minute)
	cp, err := f.p.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	after, err := f.st.Publisher(f.pub.ID())
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := f.st.Trust(f.pub.Root.Public())
	stored, err := catalog.OpenCheckpoint(after.Checkpoint, tr)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size != before.Size || *stored != *cp || !stored.Time.Equal(f.clock.t) {
		t.Errorf("refreshed checkpoint %+v, size %d -> %d; want time %s", stored, before.Size, after.Size, f.clock.t)
	}
	// A clock that went back refreshes nothing.
	f.clock.t = f.clock.t.Add(-time.Hour)
	if again, err := f.p.Refresh(); err != nil || *again != *stored {
		t.Errorf("Refresh with a clock behind: %+v, %v; want the stored %+v", again, err, stored)
	}
	f.checkClean()
}
