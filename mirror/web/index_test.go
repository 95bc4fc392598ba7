package web_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"filippo.io/torchwood"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
	"golang.org/x/mod/sumdb/tlog"
)

// TestIndexProofRoute serves index proofs that verify against the
// mirror's checkpoint: a present article (its newest leaf), a withdrawn
// one (its retraction) and one the log never had; and refuses sizes
// other than the checkpoint's, bad ids and queries.
func TestIndexProofRoute(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	cp, err := catalog.ParseUnverified([]byte(f.get("/p/" + a + "/checkpoint").body))
	if err != nil {
		t.Fatal(err)
	}
	base := "/p/" + a + "/index/" + strconv.FormatInt(cp.Size, 10) + "/"
	for _, tc := range []struct {
		id      string
		present bool
		kind    catalog.Kind
	}{
		{"hostile", true, catalog.KindBundle},
		{"withdrawn", true, catalog.KindRetraction},
		{"never-published", false, 0},
	} {
		r := f.get(base + tc.id)
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("%s: %d %q %q", tc.id, r.StatusCode, r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"))
		}
		v, ok, err := index.Verify(cp.Index, tc.id, []byte(r.body))
		if err != nil || ok != tc.present {
			t.Fatalf("%s: proof verifies %v, %v; want present %v", tc.id, ok, err, tc.present)
		}
		if !ok {
			continue
		}
		leaves, err := f.st.Leaves(a, v.Leaf, v.Leaf+1)
		if err != nil {
			t.Fatal(err)
		}
		if l, err := v.CheckLeaf(tc.id, leaves[0]); err != nil || l.Kind != tc.kind {
			t.Errorf("%s: leaf %d: %v, %v; want a %s leaf", tc.id, v.Leaf, l, err, tc.kind)
		}
		if r2 := f.get(base+tc.id, "If-None-Match: "+r.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
			t.Errorf("%s: conditional request: %d", tc.id, r2.StatusCode)
		}
	}
	// The checkpoint before the last update (a cache may still serve it).
	if r := f.get("/p/" + a + "/index/" + strconv.FormatInt(cp.Size-1, 10) + "/hostile"); r.StatusCode != 200 {
		t.Errorf("proof at the size before the last update: %d %s", r.StatusCode, r.body)
	} else if _, err := index.ParseProof([]byte(r.body)); err != nil {
		t.Errorf("proof at the size before the last update: %v", err)
	}
	for path, code := range map[string]int{
		"/p/" + a + "/index/1/hostile":                                        404, // never a checkpoint's size
		"/p/" + a + "/index/" + strconv.FormatInt(cp.Size+1, 10) + "/hostile": 404,
		"/p/" + a + "/index/0" + strconv.FormatInt(cp.Size, 10) + "/hostile":  404, // not canonical
		"/p/" + a + "/index/-1/hostile":                                       404,
		"/p/" + a + "/index/x/hostile":                                        404,
		base + "Not-An-Id":                                                    404,
		base + "hostile?x=1":                                                  400,
		"/p/" + f.gamma.ID() + "/index/1/secret":                              404, // not trusted here
	} {
		if r := f.get(path); r.StatusCode != code || r.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d (%s), want %d, not cached for good", path, r.StatusCode, r.Header.Get("Cache-Control"), code)
		}
	}
}

// TestTilesAndProofsOfAGrownLog reads a log of more than two full tiles
// (so level 1 tiles are used) through torchwood's tlog-tiles client, an
// independent implementation, and checks the index proofs of a sample of
// its articles, present and absent, against the same checkpoint.
func TestTilesAndProofsOfAGrownLog(t *testing.T) {
	f := newFixture(t, nil)
	f.grow(600)
	a := f.alpha.ID()
	cp, err := catalog.OpenCheckpoint([]byte(f.get("/p/"+a+"/checkpoint").body), f.alpha.Trust)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := torchwood.NewTileFetcher(f.srv.URL + "/p/" + a + "/")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := torchwood.NewClient(tf)
	if err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: cp.Size, Hash: cp.Root}
	for _, n := range []int64{0, 255, 256, 511, 512, cp.Size - 1} {
		leaf, proof, err := tc.Entry(context.Background(), tree, n)
		if err != nil {
			t.Fatalf("torchwood: leaf %d: %v", n, err)
		}
		if err := catalog.CheckInclusion(cp, n, leaf, proof); err != nil {
			t.Errorf("leaf %d: %v", n, err)
		}
		l, err := catalog.ParseLeaf(leaf)
		if err != nil || l.Kind != catalog.KindBundle {
			continue // the fixture's first leaves: key statement, articles
		}
		r := f.get("/p/" + a + "/index/" + strconv.FormatInt(cp.Size, 10) + "/" + l.ID)
		v, ok, err := index.Verify(cp.Index, l.ID, []byte(r.body))
		if err != nil || !ok || (v.Leaf != n && l.ID[:6] == "filler") {
			t.Errorf("%s (leaf %d): index proof %d, %v, %v", l.ID, n, v.Leaf, ok, err)
		}
	}
}
