package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// This file is the one judge of checkpoints: every part of samizdat that
// holds a checkpoint (the store, replication, the reader, the web pages)
// reads a stored one with ParseUnverified and compares a new one with the
// one it holds with Judge, so that "newer", "rollback" and "fork" mean the
// same thing everywhere.

// ErrRollback is wrapped by Judge's error when a checkpoint is older than
// the one held: fewer leaves, or an earlier time.
var ErrRollback = errors.New("catalog: checkpoint is older than the one held (rollback)")

// ErrIndexDropped is Judge's error for a checkpoint that carries no
// article index after one that did: light readers could not use it, so a
// stolen key could use such checkpoints to keep mirrors from auditing the
// index.
var ErrIndexDropped = errors.New("catalog: checkpoint carries no article index, though the one held does")

// ForkError reports two checkpoints that the publisher's keys signed for
// two different histories of its log. Have and Got, when set, are the two
// signed notes: the evidence to keep and to show the publisher.
type ForkError struct {
	Size   int64  // the size at which the logs differ, or the held log's size
	Have   []byte // the held signed checkpoint
	Got    []byte // the contradicting signed checkpoint
	Reason string // what contradicts what, for people
}

func (e *ForkError) Error() string {
	if e.Reason != "" {
		return "catalog: fork: " + e.Reason
	}
	return fmt.Sprintf("catalog: fork: two checkpoints of size %d with different roots", e.Size)
}

// ParseUnverified parses the checkpoint in a signed note without checking
// any signature: the text up to the blank line that starts the signatures.
// Use it only on a checkpoint that was verified when it was stored (a
// newer key statement may have revoked its signer since) or to route a
// note before verifying it; use OpenCheckpoint for anything received.
func ParseUnverified(signed []byte) (*Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return nil, cpErr("signed note of %d bytes, more than %d", len(signed), MaxCheckpointSize)
	}
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, cpErr("not a signed note (no blank line before the signatures)")
	}
	return ParseCheckpoint(string(signed[:i+1]))
}

// Judge compares got, a checkpoint just received and verified, with have,
// the newest checkpoint held for the same log (nil if none). It returns:
//   - nil if got may extend have: the same tree, or more leaves at the same
//     time or later. A larger tree is proven consistent only by a
//     consistency proof or the leaves themselves, which Judge does not see.
//   - an error wrapping ErrRollback if got has fewer leaves or an earlier
//     time than have;
//   - a *ForkError if both have the same size and different roots, or the
//     same root and two different article index roots (the index is a
//     function of the log, so one of them is false);
//   - ErrIndexDropped if have carries an article index and got does not.
//
// Size is judged before time: a smaller log is a rollback whatever its
// time, and a same-size log with another root is a fork whatever its time.
func Judge(have, got *Checkpoint) error {
	if have == nil {
		return nil
	}
	switch {
	case got.Size < have.Size:
		return fmt.Errorf("%w: %d leaves, %d already seen", ErrRollback, got.Size, have.Size)
	case got.Size == have.Size && got.Root != have.Root:
		return &ForkError{Size: got.Size}
	case got.Size == have.Size && got.Index != have.Index && got.Index != (tlog.Hash{}) && have.Index != (tlog.Hash{}):
		return &ForkError{Size: got.Size, Reason: fmt.Sprintf("two checkpoints of size %d with one root and different article index roots", got.Size)}
	case have.Index != (tlog.Hash{}) && got.Index == (tlog.Hash{}):
		return ErrIndexDropped
	case got.Time.Before(have.Time):
		return fmt.Errorf("%w: dated %s, one dated %s already seen", ErrRollback, got.Time.UTC().Format(time.RFC3339), have.Time.UTC().Format(time.RFC3339))
	}
	return nil
}
