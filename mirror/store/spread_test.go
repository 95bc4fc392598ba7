package store

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBundlesDirSpread: where the file system takes ext4's
// top-of-hierarchy flag, a new store's bundles/ has it.
func TestBundlesDirSpread(t *testing.T) {
	flags := func(dir string) (uint32, error) {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	}
	probe := t.TempDir()
	spreadSubdirs(probe)
	if fl, err := flags(probe); err != nil || fl&fsTopdirFlag == 0 {
		t.Skipf("the file system does not keep FS_TOPDIR_FL (%#x, %v)", fl, err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	st, err := Open(dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fl, err := flags(filepath.Join(dir, bundlesDir)); err != nil || fl&fsTopdirFlag == 0 {
		t.Errorf("bundles/ of a new store has flags %#x (%v), want FS_TOPDIR_FL", fl, err)
	}
}
