//go:build linux

package verifier

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/catalog"
)

// TestNewestLeaves checks newestLeaves, the page's check of a log's
// newest entry tile against a checkpoint's size and root through the
// tiles on the tree's right edge, on prefixes of one log of 65,850
// leaves served by a tile server built on golang.org/x/mod/sumdb/tlog:
// sizes at and around every tile boundary, up to a log whose newest tile
// hangs from full tiles on two levels. A tile with one byte changed, or
// the root of another size, must be refused.
func TestNewestLeaves(t *testing.T) {
	const max = 65536 + 314
	var leaves [][]byte
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i := range max {
		l := (&catalog.Leaf{Kind: catalog.KindBundle, ID: fmt.Sprintf("a-%d", i), Revision: 1}).Encode()
		hs, err := tlog.StoredHashes(int64(i), l, hr)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
		hashes = append(hashes, hs...)
	}
	// /good/SIZE/tile/... serves the log of that size's tiles; /bad/...
	// the same with the last byte changed, /badentries/... only entry
	// tiles changed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		path := strings.TrimPrefix(r.URL.Path, "/")
		mode, path, _ := strings.Cut(path, "/") // "good", "bad" or "badentries"
		sz, rest, _ := strings.Cut(path, "/")
		size, err := strconv.ParseInt(sz, 10, 64)
		tile, terr := catalog.ParseTilePath(rest)
		if err != nil || terr != nil || !catalog.TileInTree(tile, size) {
			http.NotFound(w, r)
			return
		}
		var b []byte
		if tile.L < 0 {
			b = catalog.AppendEntryBundle(nil, leaves[tile.N*256:tile.N*256+int64(tile.W)]...)
		} else if b, err = tlog.ReadTileData(tile, hr); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if mode == "bad" || mode == "badentries" && tile.L < 0 {
			b[len(b)-1] ^= 1
		}
		w.Write(b)
	}))
	defer srv.Close()
	type sizeCase struct {
		Size  int64
		Root  string
		First int64
		Last  string // the newest leaf, hex
	}
	var cases []sizeCase
	for _, n := range []int64{1, 2, 3, 5, 255, 256, 257, 300, 511, 512, 513, 768, 1000, 65535, 65536, 65537, 65536 + 256, max} {
		root, err := tlog.TreeHash(n, hr)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, sizeCase{n, base64.StdEncoding.EncodeToString(root[:]), (n - 1) / 256 * 256, fmt.Sprintf("%x", leaves[n-1])})
	}
	p := openPage(t)
	var errs []string
	call(t, p, "webcrypto", `
const errs = [];
const get = (prefix) => async (path) => { const r = await fetch(a.url + prefix + path); if (r.status !== 200) throw new s.VerifyError(path + ': ' + r.status); return new Uint8Array(await r.arrayBuffer()); };
for (const c of a.cases) {
  const root = s.b64decode(c.Root);
  const r = await s.newestLeaves(c.Size, root, get('/good/' + c.Size + '/'));
  if (r.first !== BigInt(c.First) || hex(r.leaves[r.leaves.length - 1]) !== c.Last) errs.push(c.Size + ': first ' + r.first + ', newest ' + hex(r.leaves[r.leaves.length - 1]));
  for (const [what, g, size] of [['changed tiles', get('/bad/' + c.Size + '/'), c.Size], ['a changed entry tile', get('/badentries/' + c.Size + '/'), c.Size], ['the root of another size', get('/good/' + (c.Size + 1) + '/'), c.Size + 1]]) {
    if (c.Size + 1 > a.max) continue;
    const m = await refused(() => s.newestLeaves(size, root, g));
    if (!m || m.startsWith('not a')) errs.push(c.Size + ': ' + what + ': ' + (m || 'not refused'));
  }
}
return errs;`, map[string]any{"url": srv.URL, "cases": cases, "max": max}, &errs)
	for _, m := range errs {
		t.Error(m)
	}
}
