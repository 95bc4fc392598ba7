package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAtMost(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAtMost(p, 5); err != nil || string(got) != "12345" {
		t.Errorf("ReadAtMost(5) = %q, %v", got, err)
	}
	if _, err := ReadAtMost(p, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("ReadAtMost(4) = %v, want a size error", err)
	}
	if _, err := ReadAtMost(filepath.Join(dir, "missing"), 4); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}
