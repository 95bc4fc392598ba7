package notes_test

import (
	"testing"

	"github.com/samizdat-news/samizdat/internal/notes"
)

func TestCheckCanonical(t *testing.T) {
	// 68 bytes (4 of key hash, 64 of signature) encode to 91 digits and
	// one '='; the last digit carries two padding bits.
	sig := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	loose := sig[:len(sig)-2] + "B="
	other := "AAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	for _, tt := range []struct {
		msg string
		ok  bool
	}{
		{"text\n\n— key " + sig + "\n", true},
		{"text\n\n— key " + sig + "\n— other " + sig + "\n", true},
		{"text\n\n— key " + sig + "\n— key " + other + "\n", true}, // another key hash
		{"text\n\n— key " + loose + "\n", false},
		{"text\n\n— key " + sig + "\n— key " + sig + "\n", false},
		{"text\n\n— key " + sig + "\n— key " + loose + "\n", false},
		{"text\n\n— key " + sig, false},
		{"text\n\n- key " + sig + "\n", false},
		{"text\n\n— key AAA\n", false},
		{"text\n", false},
		{"", false},
	} {
		if err := notes.CheckCanonical([]byte(tt.msg)); (err == nil) != tt.ok {
			t.Errorf("CheckCanonical(%q) = %v, want ok=%v", tt.msg, err, tt.ok)
		}
	}
}
