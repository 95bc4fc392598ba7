package verifier

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/catalog/index"
)

// TestLimitsMatchGo checks that the page's limits on index proofs and
// checkpoints are the Go constants they name, so that a format change
// in Go (a longer proof) cannot leave the page refusing valid input.
func TestLimitsMatchGo(t *testing.T) {
	js, err := os.ReadFile("verifier.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{
		"indexProof": index.MaxProofSize,
		"indexSteps": index.MaxProofSteps,
		"checkpoint": catalog.MaxCheckpointSize,
	} {
		m := regexp.MustCompile(`\n  ` + name + `: (\d+),`).FindSubmatch(js)
		if m == nil {
			t.Errorf("LIMITS.%s is not in verifier.js as a number", name)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); got != want {
			t.Errorf("LIMITS.%s is %d, the Go constant %d", name, got, want)
		}
	}
}
