package web_test

import (
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// TestIndexSplitRoutes serves split index proofs over loopback HTTP: the
// top part of an id's bucket and the bottom part below its bucket root
// join into a proof that verifies against the mirror's checkpoint, both
// cached for good with CORS; and the routes do not take each other's
// paths, nor the full proof's of ids named "t" or "n".
func TestIndexSplitRoutes(t *testing.T) {
	f := newFixture(t, nil)
	a := f.alpha.ID()
	cp, err := catalog.ParseUnverified([]byte(f.get("/p/" + a + "/checkpoint").body))
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.FormatInt(cp.Size, 10)
	for _, tc := range []struct {
		id      string
		present bool
	}{{"hostile", true}, {"withdrawn", true}, {"never-published", false}, {"t", false}, {"n", false}} {
		b := index.BucketOf(cp.Size, tc.id)
		r := f.get("/p/" + a + "/index/t/" + size + "/" + b.String())
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != ccImmutable || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("%s: top part: %d %q %q %s", tc.id, r.StatusCode, r.Header.Get("Cache-Control"), r.Header.Get("Access-Control-Allow-Origin"), r.body)
		}
		top, err := index.ParseTop([]byte(r.body))
		if err != nil {
			t.Fatal(err)
		}
		var bottom *index.Bottom
		if node, ok := top.Node(); ok {
			r := f.get("/p/" + a + "/index/n/" + hex.EncodeToString(node[:]) + "/" + tc.id)
			if r.StatusCode != 200 || r.Header.Get("Cache-Control") != ccImmutable || r.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: bottom part: %d %q %s", tc.id, r.StatusCode, r.Header.Get("Cache-Control"), r.body)
			}
			if bottom, err = index.ParseBottom([]byte(r.body)); err != nil {
				t.Fatal(err)
			}
		}
		p, err := index.Join(cp.Size, tc.id, top, bottom)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := p.Verify(cp.Index, tc.id); err != nil || ok != tc.present {
			t.Errorf("%s: %v, %v; want present %v", tc.id, ok, err, tc.present)
		}
		// The full proof of the id, even one named t or n, is still the
		// full proof route's.
		if r := f.get("/p/" + a + "/index/" + size + "/" + tc.id); r.StatusCode != 200 {
			t.Errorf("%s: full proof: %d", tc.id, r.StatusCode)
		} else if _, err := index.ParseProof([]byte(r.body)); err != nil {
			t.Errorf("%s: full proof: %v", tc.id, err)
		}
	}
	node := "/p/" + a + "/index/n/" + hex.EncodeToString(make([]byte, 32)) + "/hostile"
	b := index.BucketOf(cp.Size, "hostile").String()
	for path, code := range map[string]int{
		"/p/" + a + "/index/t/1/" + b:                                        404, // never a checkpoint's size
		"/p/" + a + "/index/t/" + strconv.FormatInt(cp.Size+1, 10) + "/" + b: 404,
		"/p/" + a + "/index/t/0" + size + "/" + b:                            404,
		"/p/" + a + "/index/t/" + size + "/" + b + "0":                       404, // not the size's cut depth
		"/p/" + a + "/index/t/" + size + "/G":                                404,
		"/p/" + a + "/index/t/" + size + "/" + b + "?x=1":                    400,
		node: 404, // no such bucket root
		"/p/" + a + "/index/n/" + hex.EncodeToString(make([]byte, 31)) + "/hostile": 404,
		"/p/" + a + "/index/n/" + hex.EncodeToString(make([]byte, 32)) + "/Bad":     404,
		node + "?x=1":                            400,
		"/p/" + f.gamma.ID() + "/index/t/1/0":    404, // not trusted here
		"/p/" + a + "/index/t/" + size:           404, // the full proof route, of size "t": not a size
		"/p/" + a + "/index/n/" + size + "/x/y/": 404,
	} {
		if r := f.get(path); r.StatusCode != code || r.Header.Get("Cache-Control") == ccImmutable {
			t.Errorf("%s: %d (%s), want %d, not cached for good", path, r.StatusCode, r.Header.Get("Cache-Control"), code)
		}
	}
}
