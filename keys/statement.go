package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Limits of key statements, see FORMAT.md.
const (
	// MaxStatementSize bounds a signed key statement.
	MaxStatementSize = 16 << 10
	// MaxDelegations bounds the signing keys one statement lists.
	MaxDelegations = 16
	// MaxRevocations bounds the revoked keys one statement lists.
	MaxRevocations = 64
)

const statementMagic = "samizdat key statement v1"

// Delegation is one signing key in force and the window in which its
// signatures are accepted: NotBefore <= t < NotAfter.
type Delegation struct {
	Key       *PublicKey
	NotBefore time.Time
	NotAfter  time.Time
}

// Statement is the root-signed list of a publisher's signing keys and
// revocations. Every statement is complete: it replaces the one before it,
// and its Version must be higher.
type Statement struct {
	Publisher *PublicKey // the root key
	Version   uint64
	Issued    time.Time
	Keys      []Delegation
	Revoked   []*PublicKey
}

// StatementError reports a malformed or unacceptable key statement.
type StatementError struct {
	Reason string
}

func (e *StatementError) Error() string { return "keys: key statement: " + e.Reason }

func stmtErr(format string, args ...any) error {
	return &StatementError{Reason: fmt.Sprintf(format, args...)}
}

const timeLayout = "2006-01-02T15:04:05Z"

// maxUnix is the last time a statement can hold, 9999-12-31T23:59:59Z: the
// time layout has four digits for the year.
const maxUnix = 253402300799

// inRange reports whether t lies in 1970-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z, the times FORMAT.md allows.
func inRange(t time.Time) bool { return t.Unix() >= 0 && t.Unix() <= maxUnix }

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || formatTime(t) != s {
		return time.Time{}, fmt.Errorf("time %q is not in the form 2006-01-02T15:04:05Z", s)
	}
	return t, nil
}

// Text returns the statement's note text (unsigned), checking it first.
func (s *Statement) Text() (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\npublisher %s\nversion %d\nissued %s\n", statementMagic, s.Publisher, s.Version, formatTime(s.Issued))
	for _, d := range s.Keys {
		fmt.Fprintf(&b, "key %s %s %s\n", d.Key, formatTime(d.NotBefore), formatTime(d.NotAfter))
	}
	for _, k := range s.Revoked {
		fmt.Fprintf(&b, "revoked %s\n", k)
	}
	return b.String(), nil
}

func (s *Statement) check() error {
	if s.Publisher == nil {
		return stmtErr("no publisher key")
	}
	if s.Version == 0 {
		return stmtErr("version must be at least 1")
	}
	if !inRange(s.Issued) {
		return stmtErr("issued time %s outside years 1970 to 9999", s.Issued.UTC().Format(time.RFC3339))
	}
	if len(s.Keys) == 0 || len(s.Keys) > MaxDelegations {
		return stmtErr("must list 1 to %d signing keys, has %d", MaxDelegations, len(s.Keys))
	}
	if len(s.Revoked) > MaxRevocations {
		return stmtErr("more than %d revoked keys", MaxRevocations)
	}
	seen := map[string]string{string(s.Publisher.key): "the root key"}
	for i, d := range s.Keys {
		if d.Key == nil {
			return stmtErr("signing key %d has no key", i+1)
		}
		if prev, dup := seen[string(d.Key.key)]; dup {
			return stmtErr("signing key %s listed twice (also as %s)", d.Key, prev)
		}
		seen[string(d.Key.key)] = "a signing key"
		// Compare the times as Text writes them, to the second, so that
		// what is signed also passes this check when it is opened.
		if !d.NotBefore.Truncate(time.Second).Before(d.NotAfter.Truncate(time.Second)) {
			return stmtErr("signing key %s: validity window is empty", d.Key)
		}
		if !inRange(d.NotBefore) || !inRange(d.NotAfter) {
			return stmtErr("signing key %s: validity window outside years 1970 to 9999", d.Key)
		}
	}
	for i, k := range s.Revoked {
		if k == nil {
			return stmtErr("revoked key %d has no key", i+1)
		}
		if prev, dup := seen[string(k.key)]; dup {
			return stmtErr("revoked key %s is also listed as %s", k, prev)
		}
		seen[string(k.key)] = "a revoked key"
	}
	return nil
}

// Sign returns the statement as a signed note, signed by root, which must be
// the statement's publisher key.
func (s *Statement) Sign(root *PrivateKey) ([]byte, error) {
	if root.role != RoleRoot {
		return nil, stmtErr("must be signed by a root key, not a %s key", root.role)
	}
	if !root.Public().Equal(s.Publisher) {
		return nil, stmtErr("signed by %s, but the statement names publisher %s", root.Public(), s.Publisher)
	}
	text, err := s.Text()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, root)
}

// OpenStatement verifies a signed key statement against the pinned root key
// and parses it. The signature is checked before the text is parsed.
func OpenStatement(data []byte, root *PublicKey) (*Statement, error) {
	if len(data) > MaxStatementSize {
		return nil, stmtErr("larger than %d bytes", MaxStatementSize)
	}
	n, err := note.Open(data, note.VerifierList(root))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, stmtErr("not signed by the pinned publisher key %s", root)
		}
		return nil, stmtErr("%v", err)
	}
	// The bytes must be exactly what Sign writes: the text, a blank line
	// and the one signature by root. note.Open skips signatures by unknown
	// keys and repeated ones and decodes base64 leniently, so without this
	// one statement could travel as many byte strings, and Update would
	// take a re-encoded copy for equivocation.
	sig, err := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
	if err != nil || string(data) != n.Text+"\n— "+n.Sigs[0].Name+" "+base64.StdEncoding.EncodeToString(sig)+"\n" {
		return nil, stmtErr("not in canonical form: want the text and exactly one signature, by %s", root)
	}
	s, err := parseStatement(n.Text)
	if err != nil {
		return nil, err
	}
	if !s.Publisher.Equal(root) {
		return nil, stmtErr("names publisher %s, not the pinned key %s", s.Publisher, root)
	}
	return s, nil
}

// parseStatement parses verified statement text.
func parseStatement(text string) (*Statement, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, stmtErr("text must end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 5 || lines[0] != statementMagic {
		return nil, stmtErr("first line must be %q, and at least one key must follow", statementMagic)
	}
	s := &Statement{}
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok {
			return "", stmtErr("line %d must start with %q", i+1, name)
		}
		return v, nil
	}
	v, err := field(1, "publisher")
	if err != nil {
		return nil, err
	}
	if s.Publisher, err = parseKey(v); err != nil {
		return nil, stmtErr("publisher: %v", err)
	}
	if v, err = field(2, "version"); err != nil {
		return nil, err
	}
	if s.Version, err = strconv.ParseUint(v, 10, 64); err != nil || strconv.FormatUint(s.Version, 10) != v {
		return nil, stmtErr("version %q is not a decimal number", v)
	}
	if v, err = field(3, "issued"); err != nil {
		return nil, err
	}
	if s.Issued, err = parseTime(v); err != nil {
		return nil, stmtErr("issued: %v", err)
	}
	for i := 4; i < len(lines); i++ {
		kind, rest, _ := strings.Cut(lines[i], " ")
		f := strings.Split(rest, " ")
		switch {
		case kind == "key" && len(f) == 3 && len(s.Revoked) == 0:
			d := Delegation{}
			if d.Key, err = parseKey(f[0]); err != nil {
				return nil, stmtErr("line %d: %v", i+1, err)
			}
			if d.NotBefore, err = parseTime(f[1]); err != nil {
				return nil, stmtErr("line %d: %v", i+1, err)
			}
			if d.NotAfter, err = parseTime(f[2]); err != nil {
				return nil, stmtErr("line %d: %v", i+1, err)
			}
			s.Keys = append(s.Keys, d)
		case kind == "revoked" && len(f) == 1:
			k, err := parseKey(f[0])
			if err != nil {
				return nil, stmtErr("line %d: %v", i+1, err)
			}
			s.Revoked = append(s.Revoked, k)
		default:
			return nil, stmtErr("line %d: want \"key KEY FROM UNTIL\" lines, then \"revoked KEY\" lines", i+1)
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if t, _ := s.Text(); t != text {
		return nil, stmtErr("not in canonical form")
	}
	return s, nil
}

// Trust is what a reader or mirror believes about one publisher: its pinned
// root key and the newest key statement verified against it. It answers
// whether a signing key may sign at a given time. A Trust is immutable and
// safe for concurrent use.
type Trust struct {
	root      *PublicKey
	statement *Statement
	signed    []byte
	byKey     map[string]*Delegation
	revoked   map[string]bool
}

// NewTrust verifies statement against the pinned root key.
func NewTrust(root *PublicKey, statement []byte) (*Trust, error) {
	s, err := OpenStatement(statement, root)
	if err != nil {
		return nil, err
	}
	t := &Trust{root: root, statement: s, signed: bytes.Clone(statement), byKey: map[string]*Delegation{}, revoked: map[string]bool{}}
	for i := range s.Keys {
		t.byKey[string(s.Keys[i].Key.key)] = &s.Keys[i]
	}
	for _, k := range s.Revoked {
		t.revoked[string(k.key)] = true
	}
	return t, nil
}

// Root returns the pinned root key.
func (t *Trust) Root() *PublicKey { return t.root }

// PublisherID returns the publisher's identifier, its root key's ID.
func (t *Trust) PublisherID() string { return t.root.ID() }

// Statement returns the verified key statement. Callers must not modify it.
func (t *Trust) Statement() *Statement { return t.statement }

// SignedStatement returns the statement's signed bytes.
func (t *Trust) SignedStatement() []byte { return bytes.Clone(t.signed) }

// Update returns the trust that follows from a newer statement. A statement
// with a lower version than the current one is refused (rollback); the
// same version is accepted only if it is byte-for-byte the same statement.
func (t *Trust) Update(statement []byte) (*Trust, error) {
	n, err := NewTrust(t.root, statement)
	if err != nil {
		return nil, err
	}
	switch {
	case n.statement.Version < t.statement.Version:
		return nil, stmtErr("version %d is older than version %d already seen (rollback)", n.statement.Version, t.statement.Version)
	case n.statement.Version == t.statement.Version && !bytes.Equal(n.signed, t.signed):
		return nil, stmtErr("two different statements carry version %d (equivocation)", n.statement.Version)
	}
	return n, nil
}

// UntrustedKeyError says why a signing key's signature is not accepted.
type UntrustedKeyError struct {
	Key    string // the key, in text form when known, else hex
	Reason string
}

func (e *UntrustedKeyError) Error() string {
	return "keys: signing key " + e.Key + " " + e.Reason
}

// SigningKey returns the signing key whose raw ed25519 bytes are raw, if
// the statement delegates it and does not revoke it. It does not look at
// time; see Authorize.
func (t *Trust) SigningKey(raw []byte) (*PublicKey, error) {
	if t.revoked[string(raw)] {
		return nil, &UntrustedKeyError{Key: fmt.Sprintf("%x", raw), Reason: "was revoked by the publisher"}
	}
	d := t.byKey[string(raw)]
	if d == nil {
		return nil, &UntrustedKeyError{Key: fmt.Sprintf("%x", raw), Reason: fmt.Sprintf("is not delegated by publisher %s (key statement version %d)", t.root.Name(), t.statement.Version)}
	}
	return d.Key, nil
}

// Authorize returns the signing key whose raw ed25519 bytes are raw, if a
// signature it made at time at is to be accepted: the key is delegated, not
// revoked, and at lies in its validity window.
func (t *Trust) Authorize(raw []byte, at time.Time) (*PublicKey, error) {
	k, err := t.SigningKey(raw)
	if err != nil {
		return nil, err
	}
	d := t.byKey[string(raw)]
	if at.Before(d.NotBefore) || !at.Before(d.NotAfter) {
		return nil, &UntrustedKeyError{Key: k.String(), Reason: fmt.Sprintf("was not valid at %s (valid %s to %s)", formatTime(at), formatTime(d.NotBefore), formatTime(d.NotAfter))}
	}
	return k, nil
}

// Verifiers returns the delegated, unrevoked signing keys as note
// verifiers, for opening notes (checkpoints, mirror lists) signed by them.
// The caller must still Authorize the signing key at the note's time.
func (t *Trust) Verifiers() note.Verifiers {
	var vs []note.Verifier
	for _, d := range t.statement.Keys {
		vs = append(vs, d.Key)
	}
	return note.VerifierList(vs...)
}
