package reader

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// state is what a reader keeps of one publisher between runs, in
// <StateDir>/<publisher ID>/:
//
//	head        the newest key statement and checkpoint seen, as signed
//	            (headMagic, then each as a u32 length and the bytes)
//	leaves      the log's leaves up to that checkpoint (u16 length, leaf)
//	mirrors     mirror URLs learned (JSON)
//	bundles/    verified bundles of current articles, for offline reading
//	forks/      evidence of forks seen: both signed checkpoints (saveFork)
//
// Everything is verified again when it is loaded, so a damaged or edited
// state is refused rather than trusted. The statement and checkpoint are
// replaced together, in one rename, after the leaves are synced: a crash
// leaves at worst extra bytes after the leaves the head covers, which the
// next commit cuts off, and never a checkpoint under a statement that
// does not vouch for it.
type state struct {
	dir        string // "" keeps nothing on disk
	trust      *keys.Trust
	checkpoint []byte
	cp         *catalog.Checkpoint
	view       *view
	leafBytes  int64 // bytes of the leaves file that view's leaves take
	mirrors    mirrorState
}

// mirrorState is what a reader has learned of mirrors.
type mirrorState struct {
	// Signed are the URLs of the publisher's newest verified mirror list.
	Signed        []string `json:"signed,omitempty"`
	SignedVersion uint64   `json:"signed_version,omitempty"`
	// Hints are URLs mirrors offered (unsigned; everything fetched from
	// them is verified like anything else).
	Hints []string `json:"hints,omitempty"`
	// Good is when each mirror last gave a verified answer.
	Good map[string]time.Time `json:"good,omitempty"`
}

// maxHints bounds the unsigned mirror hints a reader keeps.
const maxHints = 64

func emptyState(dir string) *state {
	return &state{dir: dir, view: &view{}}
}

// clone returns a copy of s that commit may change while s is in use.
func (s *state) clone() *state {
	n := *s
	n.mirrors.Signed = slices.Clone(s.mirrors.Signed)
	n.mirrors.Hints = slices.Clone(s.mirrors.Hints)
	n.mirrors.Good = maps.Clone(s.mirrors.Good)
	return &n
}

// current reports whether s is what its directory holds: no other
// process committed since s was loaded or committed.
func (s *state) current() bool {
	if s.dir == "" {
		return true
	}
	b, err := readFileMax(filepath.Join(s.dir, "head"), int64(maxHead))
	if errors.Is(err, fs.ErrNotExist) {
		return s.trust == nil
	}
	return err == nil && s.trust != nil && bytes.Equal(b, encodeHead(s.trust.SignedStatement(), s.checkpoint))
}

// headMagic starts a state's head file.
const headMagic = "samizdat reader head 1\n"

// maxHead bounds a head file.
const maxHead = len(headMagic) + 4 + keys.MaxStatementSize + 4 + catalog.MaxCheckpointSize

func encodeHead(statement, checkpoint []byte) []byte {
	b := []byte(headMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(statement)))
	b = append(b, statement...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(checkpoint)))
	return append(b, checkpoint...)
}

// decodeHead splits a head file into the statement and the checkpoint.
func decodeHead(b []byte) (statement, checkpoint []byte, err error) {
	rest, ok := bytes.CutPrefix(b, []byte(headMagic))
	if !ok {
		return nil, nil, errors.New("head: not a reader state head")
	}
	next := func(max int) ([]byte, bool) {
		if len(rest) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		if n == 0 || n > uint32(max) || int64(n) > int64(len(rest)-4) {
			return nil, false
		}
		v := rest[4 : 4+n]
		rest = rest[4+n:]
		return v, true
	}
	if statement, ok = next(keys.MaxStatementSize); !ok {
		return nil, nil, errors.New("head: damaged key statement")
	}
	if checkpoint, ok = next(catalog.MaxCheckpointSize); !ok || len(rest) != 0 {
		return nil, nil, errors.New("head: damaged checkpoint")
	}
	return statement, checkpoint, nil
}

// stateError says a reader's state directory is damaged.
type stateError struct {
	dir string
	err error
}

func (e *stateError) Error() string {
	return fmt.Sprintf("reader: state %s is damaged (%v); move it away to start afresh, losing the protection against rollback it gave", e.dir, e.err)
}

func (e *stateError) Unwrap() error { return e.err }

// loadState reads and verifies the state of the publisher whose root key
// is root. A missing directory is an empty state.
func loadState(dir string, root *keys.PublicKey) (*state, error) {
	s := emptyState(dir)
	if dir == "" {
		return s, nil
	}
	damaged := func(err error) error { return &stateError{dir, err} }
	if m, err := readFileMax(filepath.Join(dir, "mirrors"), 1<<20); err == nil {
		if err := json.Unmarshal(m, &s.mirrors); err != nil {
			return nil, damaged(fmt.Errorf("mirrors: %v", err))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, damaged(err)
	}
	head, err := readFileMax(filepath.Join(dir, "head"), int64(maxHead))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	} else if err != nil {
		return nil, damaged(err)
	}
	stmt, cpb, err := decodeHead(head)
	if err != nil {
		return nil, damaged(err)
	}
	if s.trust, err = keys.NewTrust(root, stmt); err != nil {
		return nil, damaged(err)
	}
	if s.cp, err = catalog.OpenCheckpoint(cpb, s.trust); err != nil {
		return nil, damaged(err)
	}
	s.checkpoint = cpb
	f, err := os.Open(filepath.Join(dir, "leaves"))
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && s.cp.Size == 0) {
		return nil, damaged(err)
	}
	var leaves [][]byte
	if f != nil {
		defer f.Close()
		leaves, s.leafBytes, err = readLeaves(f, s.cp.Size)
		if err != nil {
			return nil, damaged(err)
		}
	}
	if s.view, err = s.view.extend(leaves, s.cp.Root); err != nil {
		return nil, damaged(err)
	}
	return s, nil
}

// readLeaves reads n leaves of a leaves file, ignoring what follows them.
func readLeaves(f *os.File, n int64) ([][]byte, int64, error) {
	data, err := io.ReadAll(io.LimitReader(f, n*(2+catalog.MaxLeafSize)))
	if err != nil {
		return nil, 0, err
	}
	leaves, used, err := splitLeaves(data, int(n))
	if err != nil {
		return nil, 0, fmt.Errorf("leaves: %v", err)
	}
	return leaves, int64(used), nil
}

func readFileMax(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", filepath.Base(name), max)
	}
	return b, nil
}

// commit makes r the reader's state, on disk first. r must extend s (the
// race checked that). s is left unchanged if writing fails.
func (s *state) commit(r *attempt) error {
	if s.dir == "" {
		s.apply(r, 0)
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "bundles"), 0o700); err != nil {
		return err
	}
	if r.rebased {
		// The whole log was checked afresh: rewrite it from the start.
		s.view, s.leafBytes = &view{}, 0
	}
	newLeaves := r.view.leaves[s.view.size():]
	var added int64
	if len(newLeaves) > 0 {
		f, err := os.OpenFile(filepath.Join(s.dir, "leaves"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		for _, l := range newLeaves {
			buf.Write(binary.BigEndian.AppendUint16(nil, uint16(len(l))))
			buf.Write(l)
		}
		added = int64(buf.Len())
		_, err = f.WriteAt(buf.Bytes(), s.leafBytes)
		if err == nil {
			err = f.Truncate(s.leafBytes + added)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if head := encodeHead(r.trust.SignedStatement(), r.checkpoint); s.trust == nil || !bytes.Equal(head, encodeHead(s.trust.SignedStatement(), s.checkpoint)) {
		if err := writeAtomic(s.dir, "head", head); err != nil {
			return err
		}
	}
	if r.bundle != nil {
		d := r.bundle.Digest.String()
		if _, err := os.Stat(filepath.Join(s.dir, "bundles", d)); err != nil {
			if err := writeAtomic(filepath.Join(s.dir, "bundles"), d, r.bundle.Raw()); err != nil {
				return err
			}
		}
	}
	s.apply(r, added)
	if err := s.saveMirrors(); err != nil {
		return err
	}
	s.collect()
	return nil
}

// apply takes r's verified log into s.
func (s *state) apply(r *attempt, added int64) {
	s.trust, s.checkpoint, s.cp, s.view = r.trust, r.checkpoint, r.cp, r.view
	s.leafBytes += added
	if r.mirrorList != nil && r.mirrorList.Version > s.mirrors.SignedVersion {
		s.mirrors.Signed, s.mirrors.SignedVersion = r.mirrorList.URLs, r.mirrorList.Version
	}
	for _, h := range r.hints {
		if len(s.mirrors.Hints) >= maxHints {
			break
		}
		if !slices.Contains(s.mirrors.Hints, h) {
			s.mirrors.Hints = append(s.mirrors.Hints, h)
		}
	}
	if s.mirrors.Good == nil {
		s.mirrors.Good = map[string]time.Time{}
	}
	s.mirrors.Good[r.mirror] = r.at
	if len(s.mirrors.Good) > 4*maxHints {
		// Forget the longest-silent mirrors.
		var oldest string
		for m, t := range s.mirrors.Good {
			if oldest == "" || t.Before(s.mirrors.Good[oldest]) {
				oldest = m
			}
		}
		delete(s.mirrors.Good, oldest)
	}
}

func (s *state) saveMirrors() error {
	if s.dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(&s.mirrors, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.dir, "mirrors", append(b, '\n'))
}

// collect removes cached bundles that are no longer an article's current
// revision. Failures only leave files behind.
func (s *state) collect() {
	des, err := os.ReadDir(filepath.Join(s.dir, "bundles"))
	if err != nil {
		return
	}
	current := map[string]bool{}
	for _, a := range s.view.list() {
		if !a.Retracted {
			current[a.Digest.String()] = true
		}
	}
	for _, de := range des {
		if !current[de.Name()] {
			os.Remove(filepath.Join(s.dir, "bundles", de.Name()))
		}
	}
}

// cached returns the cached bundle of a, if any, verified under trust
// (the newest statement: a bundle saved before its key was revoked is no
// longer good).
func (s *state) cached(a *catalog.Article, trust *keys.Trust) *bundle.Bundle {
	if s.dir == "" || a == nil || a.Retracted || trust == nil {
		return nil
	}
	data, err := readFileMax(filepath.Join(s.dir, "bundles", a.Digest.String()), bundle.DefaultLimits.BundleSize)
	if err != nil {
		return nil
	}
	b, err := verifyBundle(data, trust, a)
	if err != nil {
		return nil
	}
	return b
}

// writeAtomic writes dir/name through a temporary file, fsync and rename.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// lockDir takes an exclusive lock on dir, so two readers sharing a state
// do not interleave their writes. It waits up to wait.
func lockDir(dir string, wait time.Duration) (unlock func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("reader: state %s is in use by another samizdat: %v", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saveFork keeps the evidence of a fork in dir/forks/: the two signed
// checkpoints and the mirror that served the second, named by the
// second's SHA-256 so a fork seen again is kept once.
func saveFork(dir, mirror string, fe *catalog.ForkError) error {
	if dir == "" {
		return nil
	}
	fdir := filepath.Join(dir, "forks")
	if err := os.MkdirAll(fdir, 0o700); err != nil {
		return err
	}
	sum := sha256.Sum256(fe.Got)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Two checkpoints of %d leaves, both signed by the publisher's keys, with different roots.\n", fe.Size)
	fmt.Fprintf(&b, "The second came from %s. Send this file to the publisher.\n\nThe checkpoint kept before:\n\n%s\nThe checkpoint the mirror served:\n\n%s", mirror, fe.Have, fe.Got)
	return writeAtomic(fdir, hex.EncodeToString(sum[:8])+".txt", b.Bytes())
}
