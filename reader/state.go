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

	"golang.org/x/mod/sumdb/tlog"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// state is what a reader keeps of one publisher between runs, in
// <StateDir>/<publisher ID>/:
//
//	head        the newest key statement and checkpoint seen, as signed
//	            (headMagic, then each as a u32 length and the bytes)
//	leaves      the log's leaves up to that checkpoint (u16 length, leaf),
//	            and those of a sync in progress after them
//	index.db    the index of the log (see index): each article's state,
//	            the log's size, the right edge of its tree, the versions
//	            it records, and a sync in progress
//	latest      the newest key statement and checkpoint a light fetch
//	            verified, when newer than the head's (the head's format):
//	            a reader that keeps no copy of the log keeps this alone
//	mirrors     mirror URLs learned (JSON)
//	bundles/    verified bundles of current articles, for offline reading
//	forks/      evidence of forks seen: both signed checkpoints (saveFork)
//
// Loading verifies the head (the statement against the root key, the
// checkpoint against the statement) and checks the index against it: the
// right edge must hash to the checkpoint's root (or, for a sync in
// progress, to a size that consistency proofs tie to a checkpoint the
// publisher signed after the head's). That costs O(log n), not O(n): the
// leaves are read, hashed and indexed again only when the index is
// missing or does not match (an older state, a crash between the index
// and the head), and then a damaged leaf is refused. The statement and
// checkpoint are replaced together, in one rename, after the leaves and
// the index are synced: a crash leaves at worst extra bytes after the
// leaves the head covers, which the next commit cuts off, and an index
// ahead of the head, which is rebuilt; never a checkpoint under a
// statement that does not vouch for it.
type state struct {
	dir        string // "" keeps nothing on disk
	trust      *keys.Trust
	checkpoint []byte
	cp         *catalog.Checkpoint
	view       *view
	leafBytes  int64 // bytes of the leaves file that view's leaves take
	mirrors    mirrorState
	// A sync in progress: view goes beyond the head's checkpoint, up to a
	// size that proofs tie to anchor, a checkpoint signed after it.
	anchor    []byte
	anchorCP  *catalog.Checkpoint
	baseProof tlog.TreeProof
	tipProof  tlog.TreeProof
	// The newest checkpoint a light fetch verified, newer than the
	// head's, with the statement it verified under (the file latest):
	// every later checkpoint must extend it.
	light      []byte
	lightCP    *catalog.Checkpoint
	lightTrust *keys.Trust
	lightFile  []byte // what the latest file held when loaded or written
}

// newestTrust returns the newest key statement the state keeps, nil for
// none.
func (s *state) newestTrust() *keys.Trust {
	if s.lightTrust != nil {
		return s.lightTrust
	}
	return s.trust
}

// mirrorState is what a reader has learned of mirrors.
type mirrorState struct {
	// Signed are the URLs of the publisher's newest verified mirror list.
	Signed        []string `json:"signed,omitempty"`
	SignedVersion uint64   `json:"signed_version,omitempty"`
	// Verifiers are the hex SHA-256 of the verifier pages that list
	// vouches for.
	Verifiers []string `json:"verifiers,omitempty"`
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
	n.mirrors.Verifiers = slices.Clone(s.mirrors.Verifiers)
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
	if err != nil || s.trust == nil || !bytes.Equal(b, encodeHead(s.trust.SignedStatement(), s.checkpoint)) {
		return false
	}
	if !s.lightCurrent() {
		return false
	}
	m, err := s.index().readMeta()
	return err == nil && m.size == s.view.size && m.leafBytes == s.leafBytes
}

// lightCurrent reports whether the latest file holds what s does.
func (s *state) lightCurrent() bool {
	b, err := readFileMax(filepath.Join(s.dir, "latest"), int64(maxHead))
	if errors.Is(err, fs.ErrNotExist) {
		return s.lightFile == nil
	}
	return err == nil && s.lightFile != nil && bytes.Equal(b, s.lightFile)
}

// index returns the state's index.
func (s *state) index() *index { return &index{filepath.Join(s.dir, "index.db")} }

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
		// A first sync may have been cut short.
		s.openFirstSync(root) // none, or not usable: start afresh
		if err := s.openLight(root); err != nil {
			return nil, damaged(err)
		}
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
	if err := s.openIndex(); err != nil {
		// No index, or not the head's: read the whole log again.
		if err := s.rebuild(); err != nil {
			return nil, damaged(err)
		}
	}
	if err := s.openLight(root); err != nil {
		return nil, damaged(err)
	}
	return s, nil
}

// openLight reads the latest file, if any: the newest checkpoint a light
// fetch verified, and its statement. One that is not newer than the
// head's (a full sync went past it) is ignored.
func (s *state) openLight(root *keys.PublicKey) error {
	b, err := readFileMax(filepath.Join(s.dir, "latest"), int64(maxHead))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	s.lightFile = b
	stmt, cpb, err := decodeHead(b)
	if err != nil {
		return fmt.Errorf("latest: %v", err)
	}
	var trust *keys.Trust
	if s.trust != nil {
		trust, err = s.trust.Update(stmt)
	} else {
		trust, err = keys.NewTrust(root, stmt)
	}
	if err != nil {
		return fmt.Errorf("latest: %v", err)
	}
	cp, err := catalog.OpenCheckpoint(cpb, trust)
	if err != nil {
		return fmt.Errorf("latest: %v", err)
	}
	if s.cp != nil && (catalog.Judge(s.cp, cp) != nil || bytes.Equal(cpb, s.checkpoint)) {
		return nil
	}
	s.light, s.lightCP, s.lightTrust = cpb, cp, trust
	return nil
}

// noHead is the index's checkpoint while the state has no head: a first
// sync in progress.
var noHead = []byte("-")

// openFirstSync takes the state's view from the index of a first sync cut
// short, checked against the checkpoint and statement it was verified
// with.
func (s *state) openFirstSync(root *keys.PublicKey) error {
	x := s.index()
	m, err := x.readMeta()
	if err != nil {
		return err
	}
	if !bytes.Equal(m.checkpoint, noHead) || m.anchor == nil || len(m.baseProof) != 0 {
		return errors.New("index: not a first sync")
	}
	trust, err := keys.NewTrust(root, m.statement)
	if err != nil {
		return err
	}
	a, err := catalog.OpenCheckpoint(m.anchor, trust)
	if err != nil || m.size >= a.Size || tlog.CheckTree(m.tipProof, a.Size, a.Root, m.size, edgeRoot(m.edge)) != nil {
		return errors.New("index: the sync in progress does not check")
	}
	if fi, err := os.Stat(filepath.Join(s.dir, "leaves")); err != nil || fi.Size() < m.leafBytes {
		return errors.New("index: the leaves file is shorter than it says")
	}
	s.trust, s.anchor, s.anchorCP, s.tipProof = trust, m.anchor, a, m.tipProof
	s.view = &view{
		size: m.size, edge: m.edge, base: x, baseSize: m.size,
		keyVersion: m.keyVersion, mirrorVersion: m.mirrorVer, mirrorDigest: m.mirrorDig,
	}
	s.leafBytes = m.leafBytes
	return nil
}

// openIndex takes the state's view from its index, after checking the
// index against the head: O(log n).
func (s *state) openIndex() error {
	x := s.index()
	m, err := x.readMeta()
	if err != nil {
		return err
	}
	if !bytes.Equal(m.checkpoint, s.checkpoint) {
		return errors.New("index: not the head's")
	}
	switch root := edgeRoot(m.edge); {
	case m.anchor == nil && m.size == s.cp.Size && root == s.cp.Root:
	case m.anchor != nil && m.size > s.cp.Size:
		a, err := catalog.OpenCheckpoint(m.anchor, s.trust)
		if err != nil || catalog.Judge(s.cp, a) != nil || m.size >= a.Size ||
			tlog.CheckTree(m.baseProof, a.Size, a.Root, s.cp.Size, s.cp.Root) != nil ||
			tlog.CheckTree(m.tipProof, a.Size, a.Root, m.size, root) != nil {
			return errors.New("index: the sync in progress does not check")
		}
		s.anchor, s.anchorCP, s.baseProof, s.tipProof = m.anchor, a, m.baseProof, m.tipProof
	default:
		return errors.New("index: does not hash to the head's checkpoint")
	}
	if fi, err := os.Stat(filepath.Join(s.dir, "leaves")); err != nil || fi.Size() < m.leafBytes {
		return errors.New("index: the leaves file is shorter than it says")
	}
	s.view = &view{
		size: m.size, edge: m.edge, base: x, baseSize: m.size,
		keyVersion: m.keyVersion, mirrorVersion: m.mirrorVer, mirrorDigest: m.mirrorDig,
	}
	s.leafBytes = m.leafBytes
	return nil
}

// rebuild reads, checks and indexes the whole log the leaves file keeps
// up to the head's checkpoint, and writes the index afresh.
func (s *state) rebuild() error {
	f, err := os.Open(filepath.Join(s.dir, "leaves"))
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && s.cp.Size == 0) {
		return err
	}
	var leaves [][]byte
	s.leafBytes = 0
	if f != nil {
		defer f.Close()
		leaves, s.leafBytes, err = readLeaves(f, s.cp.Size)
		if err != nil {
			return err
		}
	}
	v, err := (&view{}).extend(leaves, s.cp.Root)
	if err != nil {
		return err
	}
	if err := os.Remove(s.index().path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.index().write(v, s.meta(v, s.checkpoint, nil)); err != nil {
		return err
	}
	s.view = v.committed(s.index())
	return nil
}

// meta is the index meta of v, committed with the head's checkpoint cp
// and, for a sync in progress, its anchor and proofs.
func (s *state) meta(v *view, cp []byte, p *progress) *indexMeta {
	m := &indexMeta{
		checkpoint: cp, size: v.size, edge: v.edge, leafBytes: s.leafBytes,
		keyVersion: v.keyVersion, mirrorVer: v.mirrorVersion, mirrorDig: v.mirrorDigest,
	}
	if cp == nil {
		m.checkpoint = noHead
	}
	if p != nil {
		m.anchor, m.baseProof, m.tipProof = p.anchor, p.baseProof, p.tipProof
		m.statement = p.trust.SignedStatement()
	}
	return m
}

// committed returns v as it reads once x holds it: nothing in memory.
func (v *view) committed(x *index) *view {
	return &view{
		size: v.size, edge: v.edge, base: x, baseSize: v.size,
		keyVersion: v.keyVersion, mirrorVersion: v.mirrorVersion, mirrorDigest: v.mirrorDigest,
	}
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
		s.light, s.lightCP, s.lightTrust = nil, nil, nil
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "bundles"), 0o700); err != nil {
		return err
	}
	if r.rebased {
		// The whole log was checked afresh: rewrite it from the start.
		s.leafBytes = 0
	}
	added, err := s.writeLeaves(r.view.leaves)
	if err != nil {
		return err
	}
	old := s.leafBytes
	s.leafBytes += added
	err = s.index().write(r.view, s.meta(r.view, r.checkpoint, nil))
	s.leafBytes = old
	if err != nil {
		return err
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
	if s.light != nil || s.lightFile != nil {
		// The race checked that r's checkpoint extends it.
		if err := os.Remove(filepath.Join(s.dir, "latest")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		s.light, s.lightCP, s.lightTrust, s.lightFile = nil, nil, nil, nil
	}
	superseded := r.view.superseded
	s.apply(r, added)
	s.anchor, s.anchorCP, s.baseProof, s.tipProof = nil, nil, nil, nil
	s.view = r.view.committed(s.index())
	if err := s.saveMirrors(); err != nil {
		return err
	}
	s.collect(superseded)
	return nil
}

// commitLight keeps what a light fetch r verified: its checkpoint and
// statement as the newest (the file latest), and its bundle. The head,
// the leaves and the index are unchanged. s is left unchanged if writing
// fails.
func (s *state) commitLight(r *attempt) error {
	if s.dir != "" {
		if err := os.MkdirAll(filepath.Join(s.dir, "bundles"), 0o700); err != nil {
			return err
		}
		if f := encodeHead(r.trust.SignedStatement(), r.checkpoint); !bytes.Equal(f, s.lightFile) {
			if err := writeAtomic(s.dir, "latest", f); err != nil {
				return err
			}
			s.lightFile = f
		}
		if r.bundle != nil {
			d := r.bundle.Digest.String()
			if _, err := os.Stat(filepath.Join(s.dir, "bundles", d)); err != nil {
				if err := writeAtomic(filepath.Join(s.dir, "bundles"), d, r.bundle.Raw()); err != nil {
					return err
				}
			}
		}
	}
	s.light, s.lightCP, s.lightTrust = r.checkpoint, r.cp, r.trust
	s.applyMirrors(r)
	return s.saveMirrors()
}

// progress is a sync cut short whose leaves were checked against a
// checkpoint (anchor) the publisher signed after the kept one: baseProof
// ties the kept checkpoint's tree to it, tipProof the view's.
type progress struct {
	view      *view
	trust     *keys.Trust // the statement anchor verifies under
	anchor    []byte
	anchorCP  *catalog.Checkpoint
	baseProof tlog.TreeProof
	tipProof  tlog.TreeProof
}

// keep saves the leaves of a sync cut short, so that the next sync goes
// on from there. The head is unchanged.
func (s *state) keep(p *progress) error {
	if s.dir == "" {
		return nil
	}
	added, err := s.writeLeaves(p.view.leaves)
	if err != nil {
		return err
	}
	old := s.leafBytes
	s.leafBytes += added
	if err := s.index().write(p.view, s.meta(p.view, s.checkpoint, p)); err != nil {
		s.leafBytes = old
		return err
	}
	s.view = p.view.committed(s.index())
	s.anchor, s.anchorCP, s.baseProof, s.tipProof = p.anchor, p.anchorCP, p.baseProof, p.tipProof
	return nil
}

// writeLeaves writes leaves at s.leafBytes in the leaves file, cuts what
// follows, syncs, and returns the bytes written.
func (s *state) writeLeaves(leaves [][]byte) (int64, error) {
	if len(leaves) == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "leaves"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	buf := catalog.AppendEntryBundle(nil, leaves...)
	_, err = f.WriteAt(buf, s.leafBytes)
	if err == nil {
		err = f.Truncate(s.leafBytes + int64(len(buf)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return int64(len(buf)), err
}

// apply takes r's verified log into s.
func (s *state) apply(r *attempt, added int64) {
	s.trust, s.checkpoint, s.cp, s.view = r.trust, r.checkpoint, r.cp, r.view
	s.leafBytes += added
	s.applyMirrors(r)
}

// applyMirrors takes what r learned of mirrors into s.
func (s *state) applyMirrors(r *attempt) {
	if r.mirrorList != nil && r.mirrorList.Version > s.mirrors.SignedVersion {
		s.mirrors.Signed, s.mirrors.SignedVersion = r.mirrorList.URLs, r.mirrorList.Version
		s.mirrors.Verifiers = nil
		for _, h := range r.mirrorList.Verifiers {
			s.mirrors.Verifiers = append(s.mirrors.Verifiers, hex.EncodeToString(h[:]))
		}
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

// collect removes the saved bundles of revisions that the new leaves
// superseded or withdrew. Failures only leave files behind.
func (s *state) collect(superseded []bundle.Digest) {
	for _, d := range superseded {
		os.Remove(filepath.Join(s.dir, "bundles", d.String()))
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
	if fe.Reason != "" {
		fmt.Fprintf(&b, "Two checkpoints, both signed by the publisher's keys, for two histories of its log: %s.\n", fe.Reason)
	} else {
		fmt.Fprintf(&b, "Two checkpoints of %d leaves, both signed by the publisher's keys, with different roots.\n", fe.Size)
	}
	fmt.Fprintf(&b, "The second came from %s. Send this file to the publisher.\n\nThe checkpoint kept before:\n\n%s\nThe checkpoint the mirror served:\n\n%s", mirror, fe.Have, fe.Got)
	return writeAtomic(fdir, hex.EncodeToString(sum[:8])+".txt", b.Bytes())
}
