package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLocateFindsSharedCorpus(t *testing.T) {
	c, err := Locate()
	if err != nil {
		Missing(t, err.Error())
	}
	if filepath.Base(c) != "corpus" || filepath.Base(filepath.Dir(c)) != "shared" {
		t.Fatalf("Locate() = %s, want .../shared/corpus", c)
	}
	if _, err := os.Stat(filepath.Join(c, "SOURCES.md")); err != nil {
		t.Errorf("corpus at %s has no SOURCES.md: %v", c, err)
	}
}

// TestMissingFailsWhenRequired checks the one behaviour CI relies on: a
// missing corpus fails the test when required, and skips it otherwise.
func TestMissingFailsWhenRequired(t *testing.T) {
	for _, req := range []string{"1", ""} {
		t.Setenv(RequireEnv, req)
		r := &recorder{}
		func() {
			defer func() { recover() }() // Fatalf and Skipf end the goroutine in a real T
			Missing(r, "gone")
		}()
		if req == "1" && (!r.failed || r.skipped) {
			t.Errorf("required: failed=%v skipped=%v, want a failure", r.failed, r.skipped)
		}
		if req == "" && (r.failed || !r.skipped) {
			t.Errorf("not required: failed=%v skipped=%v, want a skip", r.failed, r.skipped)
		}
	}
}

type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic("fatal") }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true; panic("skip") }
