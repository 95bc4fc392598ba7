package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/store"
)

// runCmd runs a samizdat command in process and fails the test unless it
// exits 0. It returns stdout.
func runCmd(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SAMIZDAT_PASSPHRASE" {
			return testPassphrase
		}
		return ""
	}}
	if code := run(e, args); code != exitOK {
		t.Fatalf("samizdat %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestMirrorListAndRefreshEndToEnd pushes a publisher's store, with a
// mirror list, to a mirror on loopback QUIC; the mirror serves the list
// and its peers over HTTP. A refresh (a checkpoint of the same size,
// signed later) pushed again reaches the mirror's checkpoint route.
func TestMirrorListAndRefreshEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	keyDir, pubStore := filepath.Join(dir, "keys"), filepath.Join(dir, "store")
	runCmd(t, ctx, "keygen", "-o", keyDir)
	article := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(article, []byte("Article A\n\nBody.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, ctx, "publish", "-k", keyDir, "-s", pubStore, article)
	runCmd(t, ctx, "mirrors", "add", "-k", keyDir, "-s", pubStore, "https://mirror-one.example/", "h3://192.0.2.7:4433")

	c := &mirror.Config{Store: filepath.Join(dir, "mirror"), Trust: []string{filepath.Join(keyDir, "publisher.pub")},
		HTTP: "127.0.0.1:0", QUIC: "127.0.0.1:0", PublicURL: "https://this-mirror.example/",
		PeerURLs: []string{"https://friend.example/"}}
	m, err := mirror.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer stopMirror(m)
	base := "http://" + m.HTTPAddr()

	runCmd(t, ctx, "push", "-s", pubStore, "quic://"+m.QUICAddr())
	ps, err := store.Open(pubStore, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := ps.Publishers()
	id := ids[0]
	want, err := ps.MirrorList(id)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ps.Trust(mustPub(t, ps, id))
	if err != nil {
		t.Fatal(err)
	}
	ps.Close()

	checkpoint := func() *catalog.Checkpoint {
		t.Helper()
		code, b := httpGet(t, base+"/p/"+id+"/checkpoint")
		if code != http.StatusOK {
			t.Fatalf("GET checkpoint: %d %s", code, b)
		}
		cp, err := catalog.OpenCheckpoint(b, trust)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	before := checkpoint()

	// The mirror list travelled with the log.
	if code, b := httpGet(t, base+"/p/"+id+"/mirrors"); code != http.StatusOK || !bytes.Equal(b, want) {
		t.Errorf("GET mirrors: %d\n%s\nwant\n%s", code, b, want)
	}
	code, b := httpGet(t, base+"/api/peers")
	var peers struct{ Peers []string }
	if code != http.StatusOK || json.Unmarshal(b, &peers) != nil || strings.Join(peers.Peers, " ") != "https://this-mirror.example/ https://friend.example/" {
		t.Errorf("GET /api/peers: %d %s", code, b)
	}

	// A second mirror syncing from the first gets the list, and each
	// lists the other's public URL from the sync protocol's hello.
	cb := &mirror.Config{Store: filepath.Join(dir, "mirror-b"), Trust: c.Trust, HTTP: "127.0.0.1:0",
		Peers: []string{"quic://" + m.QUICAddr()}, PublicURL: "h3://mirror-b.example:4433"}
	mb, err := mirror.Start(ctx, cb)
	if err != nil {
		t.Fatal(err)
	}
	defer stopMirror(mb)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, pa := httpGet(t, base+"/api/peers")
		_, pb := httpGet(t, "http://"+mb.HTTPAddr()+"/api/peers")
		code, ml := httpGet(t, "http://"+mb.HTTPAddr()+"/p/"+id+"/mirrors")
		if strings.Contains(string(pa), "h3://mirror-b.example:4433") && strings.Contains(string(pb), "https://this-mirror.example/") && code == http.StatusOK && bytes.Equal(ml, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: A's peers %s; B's peers %s; B's mirror list %d %s", pa, pb, code, ml)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A refresh a second later, pushed, is a newer checkpoint of the same log.
	time.Sleep(time.Until(before.Time.Add(time.Second + 50*time.Millisecond)))
	runCmd(t, ctx, "refresh", "-k", keyDir, "-s", pubStore)
	runCmd(t, ctx, "push", "-s", pubStore, "quic://"+m.QUICAddr())
	after := checkpoint()
	if after.Size != before.Size || after.Root != before.Root || !after.Time.After(before.Time) {
		t.Errorf("after refresh the mirror serves size %d at %s; before size %d at %s", after.Size, after.Time, before.Size, before.Time)
	}
}

func mustPub(t *testing.T, st *store.Store, id string) *keys.PublicKey {
	t.Helper()
	p, err := st.Publisher(id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Root
}
