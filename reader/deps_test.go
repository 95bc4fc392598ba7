package reader_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDependencies: the reader and the local reader pull in nothing of the
// node (its store, replication, web handler) and no metrics library. The
// reader's own state keeps its index in bbolt: that is the reader's file,
// not the node's store.
func TestDependencies(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "github.com/samizdat-news/samizdat/reader/...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/samizdat-news/samizdat/mirror") || strings.HasPrefix(pkg, "github.com/prometheus/") {
			t.Errorf("the reader depends on %s", pkg)
		}
	}
}
