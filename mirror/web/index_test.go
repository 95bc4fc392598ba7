package web_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
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
	for path, code := range map[string]int{
		"/p/" + a + "/index/" + strconv.FormatInt(cp.Size-1, 10) + "/hostile": 404, // an older size
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
