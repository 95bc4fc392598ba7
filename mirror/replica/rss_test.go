package replica

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/session"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
)

// TestRSSLargeBundles measures the peak RSS of a mirror, run as a child
// process, that takes a push of 30 articles of 15 MiB each (random, so
// incompressible): the figure in BENCHMARKS.md. It runs only with
// SAMIZDAT_RSS=1, since it writes 900 MB to disk:
//
//	SAMIZDAT_RSS=1 go test -run TestRSSLargeBundles -v ./mirror/replica/
func TestRSSLargeBundles(t *testing.T) {
	if dir := os.Getenv("SAMIZDAT_RSS_CHILD"); dir != "" {
		rssChild(t, dir)
		return
	}
	if os.Getenv("SAMIZDAT_RSS") == "" {
		t.Skip("set SAMIZDAT_RSS=1 to measure")
	}
	const articles, size = 30, 15 << 20
	pub := testkeys.New(t, "pub")
	root := pub.Root.Public()
	pst, err := store.Open(filepath.Join(t.TempDir(), "publisher"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pst.Close()
	p, err := publish.New(pst, root, pub.Statement, pub.Signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range articles {
		img := make([]byte, size)
		rand.Read(img)
		id := fmt.Sprintf("big-%d", i)
		if _, err := p.Publish([]publish.Item{{Meta: bundle.Metadata{ID: id, Title: id, Language: "en"},
			Files: []bundle.File{{Type: "text/html", Data: []byte("<p>big</p>")}, {Name: "a.png", Type: "image/png", Data: img}}}}); err != nil {
			t.Fatal(err)
		}
	}

	mdir := filepath.Join(t.TempDir(), "mirror")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSLargeBundles$")
	cmd.Env = append(os.Environ(), "SAMIZDAT_RSS_CHILD="+mdir, "SAMIZDAT_RSS_ROOT="+root.String())
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	var addr, key string
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "ADDR %s %s", &addr, &key); err == nil {
			break
		}
	}
	pin, _ := hex.DecodeString(key)
	node := newNode(t, pst, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := session.DialQUIC(ctx, addr, node.Key(), ed25519.PublicKey(pin))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := node.Push(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Logf("push of %d × %d MiB: %v", articles, size>>20, time.Since(start))
	c.Close()
	stdin.Close()
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "HWM") {
			t.Logf("mirror peak RSS: %s", lines.Text())
		}
	}
	cmd.Wait()
}

// rssChild is the mirror of TestRSSLargeBundles: it serves on loopback
// QUIC until its stdin closes, then prints its peak RSS.
func rssChild(t *testing.T, dir string) {
	root, err := keys.ParsePublicKey(os.Getenv("SAMIZDAT_RSS_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := New(st, []*keys.PublicKey{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := session.ListenQUIC("127.0.0.1:0", n.Key())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Serve(ctx, l)
	}()
	fmt.Printf("ADDR %s %x\n", l.Addr(), []byte(n.PublicKey()))
	bufio.NewReader(os.Stdin).ReadString(0)
	cancel()
	<-done
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(status)) {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Printf("HWM %s", strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")))
			fmt.Println()
		}
	}
	if r, err := st.Audit(root, nil); err != nil || len(r.Problems) > 0 || len(r.Pending) > 0 {
		fmt.Fprintf(os.Stderr, "mirror store: %v %+v\n", err, r)
	}
}
