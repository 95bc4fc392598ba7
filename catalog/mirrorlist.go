package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/keys"
)

// Limits of mirror lists, see FORMAT.md.
const (
	// MaxMirrorListSize bounds a signed mirror list, signature included.
	MaxMirrorListSize = 16 << 10
	// MaxMirrors bounds the URLs of one mirror list.
	MaxMirrors = 64
	// MaxMirrorURLLen bounds one mirror URL, in bytes.
	MaxMirrorURLLen = 256
	// MaxVerifiers bounds the verifier page hashes of one mirror list:
	// enough for the current release's page and a few earlier ones.
	MaxVerifiers = 4
)

// maxUnix is the last second of year 9999, the latest time a format holds.
const maxUnix = 253402300799

// MirrorList is a publisher's signed list of the mirrors where readers can
// try to fetch its articles. Each list carries a version that grows with
// every list the publisher signs; the log records each list's SHA-256 in a
// KindMirrorList leaf, so a reader can tell the latest list from an old one.
type MirrorList struct {
	Version uint64    // grows with each list, >= 1
	Time    time.Time // when signed, whole seconds
	URLs    []string  // absolute http://, https:// or h3:// URLs, in the publisher's order
	// Verifiers are the SHA-256 of the verifier pages (package verifier)
	// the publisher vouches for, at most MaxVerifiers, none twice: a
	// reader who got a page by messenger compares its sha256sum with
	// these. The publisher's order, newest release first by convention.
	Verifiers [][sha256.Size]byte
}

// MirrorListOrigin returns the first line of a publisher's mirror lists,
// which keeps a mirror list from being taken for a checkpoint or for another
// publisher's list.
func MirrorListOrigin(publisherID string) string { return "samizdat/" + publisherID + " mirrors" }

// MirrorListError reports a mirror list that is malformed, not signed by a
// key the publisher delegated, or not the publisher's.
type MirrorListError struct {
	Reason string
}

func (e *MirrorListError) Error() string { return "catalog: mirror list: " + e.Reason }

func mlErr(format string, args ...any) error {
	return &MirrorListError{Reason: fmt.Sprintf(format, args...)}
}

// CheckMirrorURL reports whether s may appear in a mirror list: an absolute
// http://, https:// or h3:// URL of at most MaxMirrorURLLen bytes of
// printable ASCII, with a host, without user information, query or
// fragment, and in the canonical form net/url writes it in.
func CheckMirrorURL(s string) error {
	if s == "" || len(s) > MaxMirrorURLLen {
		return fmt.Errorf("catalog: mirror URL must be 1 to %d bytes, not %d", MaxMirrorURLLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("catalog: mirror URL %q has a space, control or non-ASCII byte", s)
		}
	}
	if !strings.Contains(s, "://") {
		return fmt.Errorf("catalog: mirror URL %q has no scheme: give https://%s, or http://%s if the mirror has no TLS", s, s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("catalog: mirror URL %q: %v", s, errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h3":
		return fmt.Errorf("catalog: mirror URL %q: scheme must be http, https or h3", s)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("catalog: mirror URL %q has no host", s)
	case u.User != nil:
		return fmt.Errorf("catalog: mirror URL %q has user information", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("catalog: mirror URL %q has a query", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("catalog: mirror URL %q has a fragment", s)
	case u.String() != s:
		return fmt.Errorf("catalog: mirror URL %q is not in canonical form (%q)", s, u.String())
	}
	return nil
}

// text returns the list's note text, checking its fields first.
func (m *MirrorList) text(publisherID string) (string, error) {
	if m.Version == 0 {
		return "", mlErr("version 0")
	}
	if t := m.Time.Unix(); t < 0 || t > maxUnix || m.Time.Nanosecond() != 0 {
		return "", mlErr("time %s is not a whole second between 1970 and 9999", m.Time)
	}
	if len(m.URLs) > MaxMirrors {
		return "", mlErr("%d URLs, at most %d", len(m.URLs), MaxMirrors)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nversion %d\ntime %d\n", MirrorListOrigin(publisherID), m.Version, m.Time.Unix())
	seen := map[string]bool{}
	for _, u := range m.URLs {
		if err := CheckMirrorURL(u); err != nil {
			return "", &MirrorListError{Reason: strings.TrimPrefix(err.Error(), "catalog: ")}
		}
		if seen[u] {
			return "", mlErr("URL %q listed twice", u)
		}
		seen[u] = true
		fmt.Fprintf(&b, "url %s\n", u)
	}
	if len(m.Verifiers) > MaxVerifiers {
		return "", mlErr("%d verifier hashes, at most %d", len(m.Verifiers), MaxVerifiers)
	}
	for i, v := range m.Verifiers {
		for _, w := range m.Verifiers[:i] {
			if v == w {
				return "", mlErr("verifier %x listed twice", v)
			}
		}
		fmt.Fprintf(&b, "verifier %x\n", v)
	}
	return b.String(), nil
}

// Sign returns the list as a note signed by signer, one of the publisher's
// signing keys, which must be valid at m.Time. It fails if the list breaks
// a rule of the format, or if the signed note would be larger than
// MaxMirrorListSize.
func (m *MirrorList) Sign(signer *keys.PrivateKey, publisherID string) ([]byte, error) {
	if signer.Role() != keys.RoleSigning {
		return nil, mlErr("must be signed by a signing key")
	}
	text, err := m.text(publisherID)
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, mlErr("%v", err)
	}
	if len(signed) > MaxMirrorListSize {
		return nil, mlErr("signed list is %d bytes, larger than %d", len(signed), MaxMirrorListSize)
	}
	return signed, nil
}

// OpenMirrorList verifies a signed mirror list against a publisher's trust
// and parses it: the note must be at most MaxMirrorListSize bytes, in
// canonical form, signed by a delegated, unrevoked signing key that was
// valid at the list's time, and carry the publisher's mirror list origin.
// It does not say whether the list is the latest: compare its SHA-256 and
// version with the log's newest KindMirrorList leaf for that.
func OpenMirrorList(data []byte, trust *keys.Trust) (*MirrorList, error) {
	n, err := openNote(data, MaxMirrorListSize, trust)
	if err != nil {
		return nil, mlErr("%v", err)
	}
	m, err := parseMirrorList(n.Text, trust.PublisherID())
	if err != nil {
		return nil, err
	}
	if err := authorizeNote(n, trust, m.Time); err != nil {
		return nil, mlErr("%v", err)
	}
	return m, nil
}

// parseMirrorList parses the text of a mirror list of the given publisher.
func parseMirrorList(text, publisherID string) (*MirrorList, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, mlErr("text must end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, mlErr("want origin, version and time lines, got %d lines", len(lines))
	}
	if want := MirrorListOrigin(publisherID); lines[0] != want {
		return nil, mlErr("origin %.80q is not this publisher's %q", lines[0], want)
	}
	m := &MirrorList{}
	vs, ok := strings.CutPrefix(lines[1], "version ")
	v, err := strconv.ParseUint(vs, 10, 64)
	if !ok || err != nil || v == 0 || strconv.FormatUint(v, 10) != vs {
		return nil, mlErr("second line must be \"version N\", N at least 1")
	}
	m.Version = v
	ts, ok := strings.CutPrefix(lines[2], "time ")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || t < 0 || t > maxUnix || strconv.FormatInt(t, 10) != ts {
		return nil, mlErr("third line must be \"time UNIXSECONDS\"")
	}
	m.Time = time.Unix(t, 0).UTC()
	for i, line := range lines[3:] {
		if v, ok := strings.CutPrefix(line, "verifier "); ok {
			if len(m.Verifiers) == MaxVerifiers {
				return nil, mlErr("too many verifier hashes: at most %d", MaxVerifiers)
			}
			h, err := ParseVerifierHash(v)
			if err != nil {
				return nil, &MirrorListError{Reason: fmt.Sprintf("line %d: %s", i+4, strings.TrimPrefix(err.Error(), "catalog: "))}
			}
			m.Verifiers = append(m.Verifiers, h)
			continue
		}
		u, ok := strings.CutPrefix(line, "url ")
		switch {
		case !ok:
			return nil, mlErr("line %d must be \"url URL\" or \"verifier SHA256\"", i+4)
		case len(m.Verifiers) > 0:
			return nil, mlErr("line %d: url lines must come before verifier lines", i+4)
		case len(m.URLs) == MaxMirrors:
			return nil, mlErr("too many URLs: at most %d", MaxMirrors)
		}
		m.URLs = append(m.URLs, u)
	}
	again, err := m.text(publisherID)
	if err != nil {
		return nil, err
	}
	if again != text {
		return nil, mlErr("not in canonical form")
	}
	return m, nil
}

// ParseVerifierHash parses the SHA-256 of a verifier page as a mirror
// list writes it: 64 lowercase hex digits.
func ParseVerifierHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if len(s) != 2*sha256.Size || strings.ToLower(s) != s {
		return h, fmt.Errorf("catalog: verifier hash %.80q is not %d lowercase hex digits", s, 2*sha256.Size)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("catalog: verifier hash %.80q is not %d lowercase hex digits", s, 2*sha256.Size)
	}
	return h, nil
}
