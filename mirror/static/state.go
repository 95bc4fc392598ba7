package static

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
	"time"
)

// StateName is the file in which an export records, for the next one,
// what each page was made from and what each article's list entry shows,
// so that re-exporting does not read every bundle again, and which bucket
// roots its split index proofs name, so that the next one keeps them. It
// holds nothing that the export's pages do not show. The pages' and
// articles' records are in shard files under StateShards, 256 of them by
// the first byte of the SHA-256 of each record's name, which StateName
// names by their SHA-256: a re-export rewrites only the shards whose
// records changed, not a file that grows with the export (about 280 bytes
// an article). Deleting the state makes the next export write every page
// again; a shard missing or changed, the pages it recorded.
const StateName = "samizdat-export.json"

// StateShards is the directory of the state's shard files, each
// StateShards + two hex digits + ".json".
const StateShards = "samizdat-export/"

// stateVersion is the version of the state file's format: 1 held every
// record in StateName itself, 2 in shards.
const stateVersion = 2

// state is what the state holds.
type state struct {
	raw    []byte            // StateName as read or written, or nil
	shards map[string]string // shard name -> SHA-256 (hex) of its file, as read or written

	Version   int                 `json:"version"`
	Pages     map[string]string   `json:"pages,omitempty"`     // page name -> key of its inputs
	Summaries map[string]*Summary `json:"summaries,omitempty"` // bundle digest -> what lists show of it
	// IndexNodes is, per publisher, the bucket roots that the top parts
	// of the split index proofs of the export's size name: the next
	// export keeps their bottom parts for readers of this checkpoint.
	IndexNodes map[string]*nodeSet `json:"index_nodes,omitempty"`
	// Shards names each shard file by its SHA-256 (version 2).
	Shards map[string]string `json:"shards,omitempty"`
}

// stateShard is one shard file: the records whose names' SHA-256 starts
// with its byte.
type stateShard struct {
	Pages     map[string]string   `json:"pages,omitempty"`
	Summaries map[string]*Summary `json:"summaries,omitempty"`
}

// shardOf returns the name of the shard that holds the record of name.
func shardOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:1])
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
	return &state{Version: stateVersion, Pages: map[string]string{}, Summaries: map[string]*Summary{}, IndexNodes: map[string]*nodeSet{}, shards: map[string]string{}}
}

// readState reads the state an earlier export left; a missing, damaged
// or unknown one is an empty state (every page is written again), and a
// missing or changed shard loses only its records.
func (e *exporter) readState(ctx context.Context) *state {
	b, err := e.sink.Get(ctx, StateName, MaxStateSize)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("static: reading the export state; writing every page again", "err", err)
		}
		return newState()
	}
	s := newState()
	if err := json.Unmarshal(b, s); err != nil || (s.Version != stateVersion && s.Version != 1) || s.Version == 1 && (s.Pages == nil || s.Summaries == nil) {
		e.log.Warn("static: the export state is damaged or of another version; writing every page again")
		return newState()
	}
	if s.Pages == nil {
		s.Pages = map[string]string{}
	}
	if s.Summaries == nil {
		s.Summaries = map[string]*Summary{}
	}
	if s.IndexNodes == nil {
		s.IndexNodes = map[string]*nodeSet{} // a state written before split proofs
	}
	for name, sum := range s.Shards {
		if b, err := hex.DecodeString(name); err != nil || len(b) != 1 || hex.EncodeToString(b) != name {
			continue // not a shard's name
		}
		data, err := e.sink.Get(ctx, StateShards+name+".json", MaxStateSize)
		got := sha256.Sum256(data)
		var sh stateShard
		if err != nil || hex.EncodeToString(got[:]) != sum || json.Unmarshal(data, &sh) != nil {
			e.log.Warn("static: a shard of the export state is missing or changed; writing its pages again", "shard", name, "err", err)
			continue
		}
		for k, v := range sh.Pages {
			if shardOf(k) == name {
				s.Pages[k] = v
			}
		}
		for k, v := range sh.Summaries {
			if shardOf(k) == name && v != nil {
				s.Summaries[k] = v
			}
		}
		s.shards[name] = sum
	}
	s.Shards = nil
	s.raw = b
	return s
}

// writeState records the pages this export left: the shards whose records
// changed, then StateName naming them, unless that is what it says
// already.
func (e *exporter) writeState(ctx context.Context) error {
	shards := map[string]*stateShard{}
	shard := func(name string) *stateShard {
		sh := shards[shardOf(name)]
		if sh == nil {
			sh = &stateShard{Pages: map[string]string{}, Summaries: map[string]*Summary{}}
			shards[shardOf(name)] = sh
		}
		return sh
	}
	for k, v := range e.next.Pages {
		shard(k).Pages[k] = v
	}
	for k, v := range e.next.Summaries {
		shard(k).Summaries[k] = v
	}
	root := &state{Version: stateVersion, IndexNodes: e.next.IndexNodes, Shards: map[string]string{}}
	for name, sh := range shards {
		data, err := json.Marshal(sh)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		root.Shards[name] = hex.EncodeToString(sum[:])
		if e.state.shards[name] == root.Shards[name] {
			continue
		}
		if err := e.sink.Put(ctx, Object{Name: StateShards + name + ".json", Type: "application/json", Cache: "no-store"}, data); err != nil {
			return err
		}
	}
	var gone []string
	for name := range e.state.shards {
		if root.Shards[name] == "" {
			gone = append(gone, StateShards+name+".json")
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		if err := e.sink.Delete(ctx, gone); err != nil {
			return err
		}
	}
	b, err := json.Marshal(root)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, e.state.raw) {
		if err := e.sink.Put(ctx, Object{Name: StateName, Type: "application/json", Cache: "no-store"}, b); err != nil {
			return err
		}
	}
	// For an export that starts from this one's Memo.
	e.next.raw, e.next.shards = b, root.Shards
	return nil
}
