package static

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"time"
)

// StateName is the file in which an export records, for the next one,
// what each page was made from and what each article's list entry shows,
// so that re-exporting does not read every bundle again, and which bucket
// roots its split index proofs name, so that the next one keeps them. It holds nothing
// that the export's pages do not show. Deleting it makes the next export
// write every page again.
const StateName = "samizdat-export.json"

// stateVersion is the version of the state file's format.
const stateVersion = 1

// state is what the state file holds.
type state struct {
	raw []byte // the file as read, or nil

	Version   int                 `json:"version"`
	Pages     map[string]string   `json:"pages"`     // page name -> key of its inputs
	Summaries map[string]*Summary `json:"summaries"` // bundle digest -> what lists show of it
	// IndexNodes is, per publisher, the bucket roots that the top parts
	// of the split index proofs of the export's size name: the next
	// export keeps their bottom parts for readers of this checkpoint.
	IndexNodes map[string]*nodeSet `json:"index_nodes,omitempty"`
}

// Summary is what lists show of an article's bundle.
type Summary struct {
	Title    string    `json:"title,omitempty"`
	Language string    `json:"lang,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Authors  []string  `json:"authors,omitempty"`
}

func newState() *state {
	return &state{Version: stateVersion, Pages: map[string]string{}, Summaries: map[string]*Summary{}, IndexNodes: map[string]*nodeSet{}}
}

// readState reads the state an earlier export left; a missing, damaged
// or unknown one is an empty state (every page is written again).
func (e *exporter) readState(ctx context.Context) *state {
	b, err := e.sink.Get(ctx, StateName, MaxStateSize)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("static: reading the export state; writing every page again", "err", err)
		}
		return newState()
	}
	s := newState()
	if err := json.Unmarshal(b, s); err != nil || s.Version != stateVersion || s.Pages == nil || s.Summaries == nil {
		e.log.Warn("static: the export state is damaged or of another version; writing every page again")
		return newState()
	}
	if s.IndexNodes == nil {
		s.IndexNodes = map[string]*nodeSet{} // a state written before split proofs
	}
	s.raw = b
	return s
}

// writeState records the pages this export left, unless that is what
// the state file says already.
func (e *exporter) writeState(ctx context.Context) error {
	b, err := json.Marshal(e.next)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, e.state.raw) {
		if err := e.sink.Put(ctx, Object{Name: StateName, Type: "application/json", Cache: "no-store"}, b); err != nil {
			return err
		}
	}
	e.next.raw = b // for an export that starts from this one's Memo
	return nil
}
