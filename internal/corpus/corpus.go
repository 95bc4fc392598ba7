// Package corpus finds the shared test corpus (real articles, feeds and
// edge-case vectors) that lives beside the repository, at ../shared/corpus
// from the module root, for tests in any package.
//
// A test that needs the corpus calls Dir or Path. When the corpus is
// absent they skip the test, unless SAMIZDAT_REQUIRE_CORPUS=1 (as in CI),
// when they fail it: a CI run must not pass by skipping its real-data tests.
package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RequireEnv names the environment variable that turns a missing corpus
// from a skip into a failure when set to "1".
const RequireEnv = "SAMIZDAT_REQUIRE_CORPUS"

// Locate returns the corpus directory: shared/corpus beside the directory
// holding the module's go.mod, found by walking up from the working
// directory (a package's directory, under go test). It returns an error if
// there is no go.mod above or the corpus directory does not exist.
func Locate() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("corpus: no go.mod above the working directory")
		}
		dir = up
	}
	c := filepath.Join(filepath.Dir(dir), "shared", "corpus")
	fi, err := os.Stat(c)
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("corpus: %s is not a directory", c)
	}
	return c, nil
}

// Required reports whether the environment demands the corpus.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Dir returns the corpus directory, or ends the test: with a skip when the
// corpus is absent, with a failure when it is absent and required.
func Dir(t testing.TB) string {
	t.Helper()
	c, err := Locate()
	if err != nil {
		Missing(t, err.Error())
	}
	return c
}

// Path returns the path of a file or directory inside the corpus, which
// must exist; if it does not, the test ends as Dir says.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(t, err.Error())
	}
	return p
}

// Read returns the contents of a file inside the corpus; if it is absent,
// the test ends as Dir says, and if it cannot be read, it fails.
func Read(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Missing ends the test because corpus material is absent: a failure if
// the corpus is required, else a skip.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("corpus material absent and %s=1: %s", RequireEnv, why)
	}
	t.Skipf("corpus material absent (set %s=1 to require it): %s", RequireEnv, why)
}
