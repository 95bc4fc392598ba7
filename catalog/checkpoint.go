package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/keys"
)

// MaxCheckpointSize bounds a signed checkpoint.
const MaxCheckpointSize = 4096

// Checkpoint is a signed statement of a log's size and root hash at a time.
type Checkpoint struct {
	Origin string // "samizdat/" + publisher ID
	Size   int64
	Root   tlog.Hash
	Time   time.Time
	// Index is the root hash of the article index of the log's first Size
	// leaves (package catalog/index, FORMAT.md "Article index"). Zero means
	// the checkpoint carries none: one signed before the index existed,
	// which light readers cannot use.
	Index tlog.Hash
}

// Origin returns the checkpoint origin of a publisher's log.
func Origin(publisherID string) string { return "samizdat/" + publisherID }

// Text returns the checkpoint's note text:
//
//	samizdat/<publisher id>
//	<size>
//	<base64 root hash>
//	time <unix seconds>
//	index <base64 article index root>
//
// The last line is left out when Index is zero.
func (c *Checkpoint) Text() string {
	if c.Index == (tlog.Hash{}) {
		return fmt.Sprintf("%s\n%d\n%s\ntime %d\n", c.Origin, c.Size, c.Root, c.Time.Unix())
	}
	return fmt.Sprintf("%s\n%d\n%s\ntime %d\nindex %s\n", c.Origin, c.Size, c.Root, c.Time.Unix(), c.Index)
}

// CheckpointError reports a checkpoint that is malformed, not signed by a
// key the publisher delegated, or not for the expected log.
type CheckpointError struct {
	Reason string
}

func (e *CheckpointError) Error() string { return "catalog: checkpoint: " + e.Reason }

func cpErr(format string, args ...any) error {
	return &CheckpointError{Reason: fmt.Sprintf(format, args...)}
}

// Sign returns the checkpoint as a note signed by a signing key.
func (c *Checkpoint) Sign(signer *keys.PrivateKey) ([]byte, error) {
	if signer.Role() != keys.RoleSigning {
		return nil, cpErr("must be signed by a signing key")
	}
	return note.Sign(&note.Note{Text: c.Text()}, signer)
}

// OpenCheckpoint verifies a signed checkpoint against a publisher's trust
// and parses it: the signature must be by a delegated, unrevoked signing key
// that was valid at the checkpoint's time, and the origin must be the
// publisher's.
func OpenCheckpoint(data []byte, trust *keys.Trust) (*Checkpoint, error) {
	n, err := openNote(data, MaxCheckpointSize, trust)
	if err != nil {
		return nil, cpErr("%v", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if want := Origin(trust.PublisherID()); c.Origin != want {
		return nil, cpErr("origin %q is not this publisher's log %q", c.Origin, want)
	}
	if err := authorizeNote(n, trust, c.Time); err != nil {
		return nil, cpErr("%v", err)
	}
	return c, nil
}

// ParseCheckpoint parses checkpoint text (without signatures). Use
// OpenCheckpoint for anything received.
func ParseCheckpoint(text string) (*Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, cpErr("text must end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4 && len(lines) != 5 {
		return nil, cpErr("want 5 lines (origin, size, root hash, time, index), got %d", len(lines))
	}
	c := &Checkpoint{Origin: lines[0]}
	if !strings.HasPrefix(c.Origin, "samizdat/") {
		return nil, cpErr("origin %q does not start with samizdat/", c.Origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, cpErr("size %q is not a decimal number", lines[1])
	}
	c.Size = size
	if c.Root, err = tlog.ParseHash(lines[2]); err != nil || c.Root.String() != lines[2] {
		return nil, cpErr("root hash %q is not base64 of 32 bytes", lines[2])
	}
	ts, ok := strings.CutPrefix(lines[3], "time ")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || t < 0 || t > 253402300799 || strconv.FormatInt(t, 10) != ts {
		return nil, cpErr("fourth line must be \"time UNIXSECONDS\"")
	}
	c.Time = time.Unix(t, 0).UTC()
	if len(lines) == 5 {
		hs, ok := strings.CutPrefix(lines[4], "index ")
		if c.Index, err = tlog.ParseHash(hs); !ok || err != nil || c.Index == (tlog.Hash{}) {
			return nil, cpErr("fifth line must be \"index BASE64\", the article index's root hash")
		}
	}
	if c.Text() != text {
		return nil, cpErr("not in canonical form")
	}
	return c, nil
}

// LeafHash returns the log's hash of an encoded leaf.
func LeafHash(leaf []byte) tlog.Hash { return tlog.RecordHash(leaf) }

// CheckInclusion verifies that leaf is record n of the log c commits to.
func CheckInclusion(c *Checkpoint, n int64, leaf []byte, proof tlog.RecordProof) error {
	if n < 0 || n >= c.Size {
		return fmt.Errorf("catalog: leaf %d is not in a log of size %d", n, c.Size)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Root, n, LeafHash(leaf)); err != nil {
		return fmt.Errorf("catalog: inclusion proof of leaf %d: %w", n, err)
	}
	return nil
}

// CheckConsistency verifies that the log newer commits to extends the log
// older commits to. When it does not, the publisher signed two histories
// (a fork) or the proof is wrong. From an empty log, or between two logs of
// one size, there is nothing to prove and the proof must be empty.
func CheckConsistency(older, newer *Checkpoint, proof tlog.TreeProof) error {
	if newer.Size < older.Size {
		return fmt.Errorf("catalog: checkpoint of size %d is older than size %d already seen (rollback)", newer.Size, older.Size)
	}
	if (older.Size == 0 || older.Size == newer.Size) && len(proof) != 0 {
		return fmt.Errorf("catalog: consistency proof of %d hashes from size %d to %d, where none is needed", len(proof), older.Size, newer.Size)
	}
	if older.Size == 0 {
		return nil
	}
	if older.Size == newer.Size {
		if older.Root != newer.Root {
			return fmt.Errorf("catalog: two checkpoints of size %d with different roots (fork)", older.Size)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return fmt.Errorf("catalog: checkpoints of size %d and %d are not consistent (fork): %w", older.Size, newer.Size, err)
	}
	return nil
}
