package publish_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	t     *testing.T
	st    *store.Store
	pub   *testkeys.Publisher
	clock *clock
	p     *publish.Publisher
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, pub: testkeys.New(t, "pub"), clock: &clock{time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}}
	var err error
	if f.st, err = store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	f.p = f.publisher(f.pub.Statement, f.pub.Signer)
	return f
}

func (f *fixture) publisher(stmt []byte, signer *keys.PrivateKey) *publish.Publisher {
	f.t.Helper()
	p, err := publish.New(f.st, f.pub.Root.Public(), stmt, signer, &publish.Options{Now: f.clock.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func item(id, body string) publish.Item {
	return publish.Item{
		Meta:  bundle.Metadata{ID: id, Title: "About " + id, Language: "en"},
		Files: []bundle.File{{Type: "text/html", Data: []byte(body)}, {Name: "a.png", Type: "image/png", Data: []byte("png of " + id)}},
	}
}

func (f *fixture) publish(items ...publish.Item) []publish.Result {
	f.t.Helper()
	f.clock.t = f.clock.t.Add(time.Hour)
	res, err := f.p.Publish(items)
	if err != nil {
		f.t.Fatalf("Publish: %v", err)
	}
	return res
}

func (f *fixture) manifest(id string) *bundle.Manifest {
	f.t.Helper()
	a, err := f.st.Article(f.pub.ID(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	data, err := f.st.Bundle(a.Digest)
	if err != nil {
		f.t.Fatal(err)
	}
	tr, err := f.st.Trust(f.pub.Root.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := bundle.Verify(data, tr, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.Manifest
}

func (f *fixture) size() int64 {
	f.t.Helper()
	p, err := f.st.Publisher(f.pub.ID())
	if err != nil {
		f.t.Fatal(err)
	}
	return p.Size
}

func (f *fixture) leaf(n int64) *catalog.Leaf {
	f.t.Helper()
	raw, err := f.st.Leaves(f.pub.ID(), n, n+1)
	if err != nil {
		f.t.Fatal(err)
	}
	l, err := catalog.ParseLeaf(raw[0])
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func (f *fixture) checkClean() {
	f.t.Helper()
	probs, err := f.st.Check(f.pub.Root.Public(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range probs {
		f.t.Errorf("Check: %s", p)
	}
}

func TestPublishRevisions(t *testing.T) {
	f := newFixture(t)
	res := f.publish(item("a", "<p>a1</p>"), item("b", "<p>b1</p>"))
	for i, id := range []string{"a", "b"} {
		if r := res[i]; r.ID != id || r.Revision != 1 || r.Unchanged {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	// The first update records the key statement, then the two articles.
	if got := f.size(); got != 3 {
		t.Fatalf("log size %d, want 3", got)
	}
	if l := f.leaf(0); l.Kind != catalog.KindKeyStatement || l.Version != 1 || l.Digest != sha256.Sum256(f.pub.Statement) {
		t.Errorf("leaf 0 = %+v, want the key statement", l)
	}
	if l := f.leaf(2); l.Kind != catalog.KindBundle || l.ID != "b" || l.Revision != 1 || l.Digest != res[1].Digest {
		t.Errorf("leaf 2 = %+v, want b revision 1", l)
	}
	created := f.manifest("a").Created
	f.checkClean()

	for rev := uint64(2); rev <= 4; rev++ {
		res = f.publish(item("a", "<p>a"+string(rune('0'+rev))+"</p>"))
		if r := res[0]; r.Revision != rev || r.Unchanged {
			t.Errorf("revision %d: result %+v", rev, r)
		}
		m := f.manifest("a")
		if m.Revision != rev || !m.Created.Equal(created) || !m.Updated.Equal(f.clock.t) {
			t.Errorf("revision %d: manifest revision %d created %s updated %s; want created %s updated %s", rev, m.Revision, m.Created, m.Updated, created, f.clock.t)
		}
		if a, _ := f.st.Article(f.pub.ID(), "a"); a.Revision != rev || a.Digest != res[0].Digest {
			t.Errorf("revision %d: article %+v", rev, a)
		}
	}
	if got := f.size(); got != 6 {
		t.Errorf("log size %d, want 6", got)
	}
	f.checkClean()
}

func TestPublishUnchanged(t *testing.T) {
	f := newFixture(t)
	first := f.publish(item("a", "<p>a</p>"), item("b", "<p>b</p>"))
	p, _ := f.st.Publisher(f.pub.ID())
	res := f.publish(item("a", "<p>a</p>"), item("b", "<p>b</p>"))
	for i, r := range res {
		if !r.Unchanged || r.Revision != 1 || r.Digest != first[i].Digest {
			t.Errorf("result %d = %+v, want unchanged revision 1", i, r)
		}
	}
	after, _ := f.st.Publisher(f.pub.ID())
	if after.Size != p.Size || !bytes.Equal(after.Checkpoint, p.Checkpoint) {
		t.Errorf("unchanged articles were published again: size %d -> %d", p.Size, after.Size)
	}
	// One changed, one not: only the changed one is published.
	res = f.publish(item("a", "<p>a</p>"), item("b", "<p>b, edited</p>"))
	if !res[0].Unchanged || res[1].Unchanged || res[1].Revision != 2 {
		t.Errorf("results %+v", res)
	}
	if got := f.size(); got != p.Size+1 {
		t.Errorf("log size %d, want %d", got, p.Size+1)
	}
	// A metadata change is a change. (A new title for an article without
	// a canonical URL needs its id given: see TestPublishIDTaken.)
	it := item("a", "<p>a</p>")
	it.Meta.Title = "A new title"
	it.IDGiven = true
	if res = f.publish(it); res[0].Unchanged || res[0].Revision != 2 {
		t.Errorf("title change: %+v", res[0])
	}
	// So is an image.
	it.Files[1].Data = []byte("another png")
	if res = f.publish(it); res[0].Unchanged || res[0].Revision != 3 {
		t.Errorf("image change: %+v", res[0])
	}
	f.checkClean()
}

func TestPublishCreated(t *testing.T) {
	f := newFixture(t)
	given := time.Date(2020, 2, 2, 0, 0, 0, 0, time.UTC)
	it := item("a", "<p>a</p>")
	it.Meta.Created = given
	f.publish(it)
	if m := f.manifest("a"); !m.Created.Equal(given) {
		t.Errorf("Created = %s, want %s", m.Created, given)
	}
	f.publish(item("a", "<p>a2</p>"))
	if m := f.manifest("a"); !m.Created.Equal(given) || m.Revision != 2 {
		t.Errorf("revision 2: Created = %s, want %s", m.Created, given)
	}
	// A new article without a date is created now.
	f.publish(item("b", "<p>b</p>"))
	if m := f.manifest("b"); !m.Created.Equal(f.clock.t) {
		t.Errorf("b: Created = %s, want %s", m.Created, f.clock.t)
	}
	// A date after the signing time is refused.
	it = item("c", "<p>c</p>")
	it.Meta.Created = f.clock.t.Add(48 * time.Hour)
	if _, err := f.p.Publish([]publish.Item{it}); err == nil {
		t.Error("a publication date in the future was accepted")
	}
}

func TestPublishRefuses(t *testing.T) {
	f := newFixture(t)
	f.publish(item("a", "<p>a</p>"))
	size := f.size()
	for name, items := range map[string][]publish.Item{
		"bad id":                      {item("Not An ID", "x")},
		"empty id":                    {item("", "x")},
		"same article twice":          {item("b", "x"), item("b", "y")},
		"unchanged article twice":     {item("a", "<p>a</p>"), item("a", "<p>a, edited</p>")},
		"no body":                     {{Meta: bundle.Metadata{ID: "c"}}},
		"body of an unknown type":     {{Meta: bundle.Metadata{ID: "c"}, Files: []bundle.File{{Type: "application/pdf", Data: []byte("%PDF")}}}},
		"image with an unusable name": {{Meta: bundle.Metadata{ID: "c"}, Files: []bundle.File{{Type: "text/plain", Data: []byte("x")}, {Name: "../x.png", Type: "image/png"}}}},
	} {
		if _, err := f.p.Publish(items); err == nil {
			t.Errorf("%s: published", name)
		}
		if got := f.size(); got != size {
			t.Fatalf("%s: the log grew to %d leaves", name, got)
		}
	}
	f.checkClean()
}

func TestRetract(t *testing.T) {
	f := newFixture(t)
	res := f.publish(item("a", "<p>a</p>"), item("b", "<p>b</p>"))
	size := f.size()
	f.clock.t = f.clock.t.Add(time.Hour)
	if err := f.p.Retract("a"); err != nil {
		t.Fatal(err)
	}
	a, err := f.st.Article(f.pub.ID(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Retracted || a.Revision != 1 || !a.Time.Equal(f.clock.t) || a.Leaf != size {
		t.Errorf("Article(a) = %+v", a)
	}
	if f.st.HasBundle(res[0].Digest) {
		t.Error("the retracted bundle is still stored")
	}
	if l := f.leaf(size); l.Kind != catalog.KindRetraction || l.ID != "a" || l.Revision != 1 {
		t.Errorf("leaf %d = %+v", size, l)
	}
	if l := f.leaf(1); l.Kind != catalog.KindBundle || l.ID != "a" {
		t.Errorf("the bundle leaf of a is gone: leaf 1 = %+v", l)
	}
	f.checkClean()
	if err := f.p.Retract("a"); err == nil {
		t.Error("retracted twice")
	}
	if err := f.p.Retract("zz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Retract(unknown) = %v", err)
	}
	// Publishing it again makes revision 2.
	res = f.publish(item("a", "<p>a</p>"))
	if res[0].Revision != 2 || res[0].Unchanged {
		t.Errorf("after retraction: %+v", res[0])
	}
	f.checkClean()
}

func TestKeyStatements(t *testing.T) {
	f := newFixture(t)
	f.publish(item("a", "<p>a</p>"))
	size := f.size()
	// A newer statement, delegating the same key and one more.
	extra := testkeys.Key(t, "pub-extra", keys.RoleSigning)
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(f.pub.Signer), testkeys.Delegate(extra)})
	f.p = f.publisher(stmt2, f.pub.Signer)
	f.publish(item("b", "<p>b</p>"))
	if l := f.leaf(size); l.Kind != catalog.KindKeyStatement || l.Version != 2 || l.Digest != sha256.Sum256(stmt2) {
		t.Errorf("leaf %d = %+v, want key statement version 2", size, l)
	}
	if p, _ := f.st.Publisher(f.pub.ID()); !bytes.Equal(p.Statement, stmt2) {
		t.Error("the store does not hold statement version 2")
	}
	if got := f.size(); got != size+2 {
		t.Errorf("log size %d, want %d", got, size+2)
	}
	// The same statement again adds no leaf.
	f.publish(item("c", "<p>c</p>"))
	if got := f.size(); got != size+3 {
		t.Errorf("log size %d, want %d", got, size+3)
	}
	f.checkClean()

	// The older statement is refused, and nothing is stored.
	old := f.publisher(f.pub.Statement, f.pub.Signer)
	f.clock.t = f.clock.t.Add(time.Hour)
	if _, err := old.Publish([]publish.Item{item("d", "<p>d</p>")}); err == nil {
		t.Error("published with an older key statement")
	}
	if err := old.Retract("a"); err == nil {
		t.Error("retracted with an older key statement")
	}
	// Another statement of the same version is refused too.
	other := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(f.pub.Signer)})
	if _, err := f.publisher(other, f.pub.Signer).Publish([]publish.Item{item("d", "<p>d</p>")}); err == nil {
		t.Error("published with a second statement of version 2")
	}
	if got := f.size(); got != size+3 {
		t.Errorf("refused updates changed the log: size %d", got)
	}
	f.checkClean()
}

func TestNewRefusesUndelegatedKey(t *testing.T) {
	f := newFixture(t)
	if _, err := publish.New(f.st, f.pub.Root.Public(), f.pub.Statement, testkeys.Key(t, "stranger", keys.RoleSigning), nil); err == nil {
		t.Error("New accepted a signing key the statement does not delegate")
	}
	other := testkeys.New(t, "other")
	if _, err := publish.New(f.st, f.pub.Root.Public(), other.Statement, other.Signer, nil); err == nil {
		t.Error("New accepted another publisher's statement")
	}
}

// TestKeyRevocation revokes the signing key and publishes on with a new
// one: the articles are signed again, keeping their publication dates.
func TestKeyRevocation(t *testing.T) {
	f := newFixture(t)
	f.publish(item("a", "<p>a</p>"), item("b", "<p>b</p>"))
	created := f.manifest("a").Created
	f.publish(item("c", "<p>c</p>"))
	newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
	stmt2 := f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public())
	f.p = f.publisher(stmt2, newKey)
	// The clock of the new machine is behind the last checkpoint.
	f.clock.t = created.Add(30 * time.Minute)
	res, err := f.p.Publish([]publish.Item{item("a", "<p>a</p>"), item("b", "<p>b</p>")})
	if err != nil {
		t.Fatal(err)
	}
	// a and b, asked for, and c, which the revoked key signed and nobody
	// asked for, are all signed again with the new key in the same update.
	if len(res) != 3 {
		t.Fatalf("results = %+v, want a, b and the re-signed c", res)
	}
	for i, r := range res {
		if r.Unchanged || r.Revision != 2 || r.Resigned != (i == 2) || i == 2 && r.ID != "c" {
			t.Errorf("%s: %+v, want revision 2 signed with the new key (re-signed: %v)", r.ID, r, i == 2)
		}
	}
	if m := f.manifest("a"); !m.Created.Equal(created) {
		t.Errorf("Created = %s, want %s", m.Created, created)
	}
	if m := f.manifest("c"); m.Revision != 2 || m.Entries[0].SHA256 != sha256.Sum256([]byte("<p>c</p>")) {
		t.Errorf("c: revision %d, body hash %x; want revision 2 with the same body", m.Revision, m.Entries[0].SHA256)
	}
	f.checkClean()
	// Publishing c now changes nothing: its content is as it was.
	res, err = f.p.Publish([]publish.Item{item("c", "<p>c</p>")})
	if err != nil || len(res) != 1 || !res[0].Unchanged {
		t.Errorf("republishing c = %+v, %v; want unchanged", res, err)
	}
	f.checkClean()
}

// TestCheckpointTimeNeverGoesBack publishes with a clock that runs
// backwards.
func TestCheckpointTimeNeverGoesBack(t *testing.T) {
	f := newFixture(t)
	f.publish(item("a", "<p>a</p>"))
	f.clock.t = f.clock.t.Add(-24 * time.Hour)
	it := item("b", "<p>b</p>")
	it.Meta.Created = f.clock.t.Add(-time.Hour)
	if _, err := f.p.Publish([]publish.Item{it}); err != nil {
		t.Fatalf("Publish with a clock that went back: %v", err)
	}
	f.checkClean()
}

// TestPublishIDTaken publishes a new source whose derived id an article
// already has: it is refused when the two look like different articles,
// unless the id was given.
func TestPublishIDTaken(t *testing.T) {
	withURL := func(it publish.Item, url string) publish.Item {
		it.Meta.CanonicalURL = url
		return it
	}
	withTitle := func(it publish.Item, title string) publish.Item {
		it.Meta.Title = title
		return it
	}
	given := func(it publish.Item) publish.Item {
		it.IDGiven = true
		return it
	}
	const url1, url2 = "https://a.example/news/source", "https://b.example/news/source"
	for _, tt := range []struct {
		name     string
		existing publish.Item
		retract  bool
		revoke   bool // a new statement revokes the key that signed existing
		item     publish.Item
		want     string // the refusal; "" means a new revision
	}{
		{"same URL, new text and title", withURL(item("source", "<p>1</p>"), url1), false, false,
			withTitle(withURL(item("source", "<p>2</p>"), url1), "Edited"), ""},
		{"another URL", withURL(item("source", "<p>1</p>"), url1), false, false,
			withURL(item("source", "<p>2</p>"), url2),
			`publish: article id "source" already belongs to ` + url1 + `; give --id source to replace it, or a different --id`},
		{"no URL over one with a URL", withURL(item("source", "<p>1</p>"), url1), false, false,
			item("source", "<p>2</p>"),
			`publish: article id "source" already belongs to ` + url1 + `; give --id source to replace it, or a different --id`},
		{"a URL over one without", item("source", "<p>1</p>"), false, false,
			withURL(item("source", "<p>2</p>"), url2),
			`publish: article id "source" already belongs to "About source" (no canonical URL); give --id source to replace it, or a different --id`},
		{"neither has a URL, same title", item("source", "<p>1</p>"), false, false,
			item("source", "<p>2</p>"), ""},
		{"neither has a URL, another title", item("source", "<p>1</p>"), false, false,
			withTitle(item("source", "<p>2</p>"), "Another story"),
			`publish: article id "source" already belongs to "About source" (no canonical URL); give --id source to replace it, or a different --id`},
		{"another URL, id given", withURL(item("source", "<p>1</p>"), url1), false, false,
			given(withURL(item("source", "<p>2</p>"), url2)), ""},
		{"another title, id given", item("source", "<p>1</p>"), false, false,
			given(withTitle(item("source", "<p>2</p>"), "Another story")), ""},
		{"retracted article", withURL(item("source", "<p>1</p>"), url1), true, false,
			withURL(item("source", "<p>2</p>"), url2), ""},
		{"signed by a revoked key, another URL", withURL(item("source", "<p>1</p>"), url1), false, true,
			withURL(item("source", "<p>2</p>"), url2),
			`publish: article id "source" already belongs to ` + url1 + `; give --id source to replace it, or a different --id`},
		{"signed by a revoked key, same URL", withURL(item("source", "<p>1</p>"), url1), false, true,
			withURL(item("source", "<p>2</p>"), url1), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.publish(tt.existing)
			if tt.retract {
				if err := f.p.Retract("source"); err != nil {
					t.Fatal(err)
				}
			}
			if tt.revoke {
				newKey := testkeys.Key(t, "pub-signing-2", keys.RoleSigning)
				f.p = f.publisher(f.pub.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newKey)}, f.pub.Signer.Public()), newKey)
			}
			size := f.size()
			f.clock.t = f.clock.t.Add(time.Hour)
			res, err := f.p.Publish([]publish.Item{tt.item})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				if res[0].Revision != 2 || res[0].Unchanged {
					t.Errorf("result %+v, want revision 2", res[0])
				}
				if m := f.manifest("source"); m.CanonicalURL != tt.item.Meta.CanonicalURL || m.Title != tt.item.Meta.Title {
					t.Errorf("manifest %q %q, want the new item's", m.CanonicalURL, m.Title)
				}
				f.checkClean()
				return
			}
			var taken *publish.IDTakenError
			if !errors.As(err, &taken) || err.Error() != tt.want {
				t.Fatalf("Publish = %v\nwant %s", err, tt.want)
			}
			if taken.ID != "source" || taken.CanonicalURL != tt.existing.Meta.CanonicalURL || taken.Title != tt.existing.Meta.Title {
				t.Errorf("IDTakenError = %+v", taken)
			}
			if got := f.size(); got != size {
				t.Errorf("the log grew from %d to %d leaves", size, got)
			}
			if m := f.manifest("source"); m.Revision != 1 || m.CanonicalURL != tt.existing.Meta.CanonicalURL {
				t.Errorf("the existing article changed: %+v", m)
			}
		})
	}
}
