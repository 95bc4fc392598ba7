package catalog

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/internal/notes"
	"github.com/samizdat-news/samizdat/keys"
)

// openNote verifies a signed note of at most max bytes by the publisher's
// keys and checks that it is in canonical form. Whether the signing key
// was in force when the note says it was signed is authorizeNote's.
func openNote(data []byte, max int, trust *keys.Trust) (*note.Note, error) {
	if len(data) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	n, err := note.Open(data, trust.Verifiers())
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, fmt.Errorf("not signed by any signing key of publisher %s", trust.PublisherID())
		}
		return nil, err
	}
	if err := notes.CheckCanonical(data); err != nil {
		return nil, err
	}
	return n, nil
}

// authorizeNote checks that one of the note's verified signatures is by a
// signing key that was valid at time at.
func authorizeNote(n *note.Note, trust *keys.Trust, at time.Time) error {
	lastErr := errors.New("no signature by a signing key")
	for _, sig := range n.Sigs {
		for _, d := range trust.Statement().Keys {
			if d.Key.Name() == sig.Name && d.Key.KeyHash() == sig.Hash {
				_, err := trust.Authorize(d.Key.Ed25519(), at)
				if err == nil {
					return nil
				}
				lastErr = err
			}
		}
	}
	return lastErr
}
