// Package golden writes the JSON test-vector files that tests compare
// with what the code makes (go test -update).
package golden

import (
	"encoding/json"
	"os"
	"testing"
)

// Write writes v to file as indented JSON with a final newline, the form
// of the project's test-vector files, or fails the test.
func Write(t testing.TB, file string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
