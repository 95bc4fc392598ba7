package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func TestStatementRoundTrip(t *testing.T) {
	f := newFixture(t)
	s := f.statement(7)
	text, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	want := "samizdat key statement v1\n" +
		"publisher " + f.root.Public().String() + "\n" +
		"version 7\n" +
		"issued 2026-11-29T12:00:00Z\n" +
		"key " + f.s1.Public().String() + " 2026-11-29T12:00:00Z 2026-11-30T12:00:00Z\n" +
		"key " + f.s2.Public().String() + " 2026-11-29T12:00:00Z 2027-11-29T12:00:00Z\n" +
		"revoked " + f.s3.Public().String() + "\n"
	if text != want {
		t.Errorf("Text() =\n%s\nwant\n%s", text, want)
	}
	signed := f.sign(t, s)
	if !bytes.HasPrefix(signed, []byte(want+"\n— example.org ")) {
		t.Errorf("signed statement:\n%s", signed)
	}
	got, err := OpenStatement(signed, f.root.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Publisher.Equal(s.Publisher) || got.Version != s.Version || !got.Issued.Equal(s.Issued) ||
		len(got.Keys) != len(s.Keys) || len(got.Revoked) != len(s.Revoked) {
		t.Fatalf("OpenStatement = %+v, want %+v", got, s)
	}
	for i, d := range got.Keys {
		w := s.Keys[i]
		if !d.Key.Equal(w.Key) || !d.NotBefore.Equal(w.NotBefore) || !d.NotAfter.Equal(w.NotAfter) {
			t.Errorf("key %d = %+v, want %+v", i, d, w)
		}
	}
	if !got.Revoked[0].Equal(s.Revoked[0]) {
		t.Errorf("revoked %v, want %v", got.Revoked[0], s.Revoked[0])
	}
	// Signing again gives the same bytes: Ed25519 is deterministic.
	if again := f.sign(t, got); !bytes.Equal(again, signed) {
		t.Errorf("re-signing the opened statement gave\n%s\nwant\n%s", again, signed)
	}

	trust, err := NewTrust(f.root.Public(), signed)
	if err != nil {
		t.Fatal(err)
	}
	if !trust.Root().Equal(f.root.Public()) || trust.PublisherID() != f.root.Public().ID() || trust.Statement().Version != 7 {
		t.Errorf("Trust: root %v, ID %s, version %d", trust.Root(), trust.PublisherID(), trust.Statement().Version)
	}
	ss := trust.SignedStatement()
	if !bytes.Equal(ss, signed) {
		t.Error("SignedStatement differs from the bytes given to NewTrust")
	}
	ss[0] ^= 1
	signed[1] ^= 1
	if !bytes.Equal(trust.SignedStatement()[:2], []byte("sa")) {
		t.Error("SignedStatement shares memory with its caller or NewTrust's argument")
	}
}

func TestStatementSignRefuses(t *testing.T) {
	f := newFixture(t)
	other := testKey(t, "example.net", RoleRoot)
	s := f.statement(1)
	_, err := s.Sign(f.s1)
	mustFail(t, "Sign with a signing key", err, "must be signed by a root key, not a signing key")
	_, err = s.Sign(other)
	mustFail(t, "Sign with another root key", err, "but the statement names publisher")
	var se *StatementError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "keys: key statement: ") {
		t.Errorf("error %v: want a *StatementError with the keys: key statement: prefix", err)
	}
}

// TestStatementWrongRoot opens statements with a root key other than the
// one that signed them, or whose text names another publisher.
func TestStatementWrongRoot(t *testing.T) {
	f := newFixture(t)
	other := testKey(t, "example.net", RoleRoot)
	// The same name as the fixture's root, another key: a different hash.
	sameName, err := NewPrivateKey("example.org", RoleRoot, testSeed("impostor"))
	if err != nil {
		t.Fatal(err)
	}
	signed := f.sign(t, f.statement(1))

	for _, root := range []*PublicKey{other.Public(), sameName.Public()} {
		s, err := OpenStatement(signed, root)
		mustFail(t, "OpenStatement with root "+root.String(), err, "not signed by the pinned publisher key")
		if s != nil {
			t.Errorf("got %+v", s)
		}
		if _, err := NewTrust(root, signed); err == nil {
			t.Errorf("NewTrust with root %v succeeded", root)
		}
	}

	// Another root signs a statement naming the fixture's publisher.
	text := rawText(f.statement(1))
	forged := signText(t, text, other)
	_, err = OpenStatement(forged, f.root.Public())
	mustFail(t, "statement signed by another root", err, "not signed by the pinned publisher key")
	forged = signText(t, text, sameName)
	_, err = OpenStatement(forged, f.root.Public())
	mustFail(t, "statement signed by a same-named root", err, "not signed by the pinned publisher key")

	// The pinned root signs a statement naming another publisher.
	s := f.statement(1)
	s.Publisher = other.Public()
	_, err = OpenStatement(signText(t, rawText(s), f.root), f.root.Public())
	mustFail(t, "statement naming another publisher", err, "names publisher example.net")

	// A signing key of the publisher signs a statement.
	_, err = OpenStatement(signText(t, text, f.s1), f.root.Public())
	mustFail(t, "statement signed by a signing key", err, "not signed by the pinned publisher key")

	// A bad signature by the root is an error, not "unsigned".
	bad := bytes.Clone(signed)
	bad[len(bad)-10] ^= 1
	_, err = OpenStatement(bad, f.root.Public())
	mustFail(t, "statement with a damaged signature", err, "keys: key statement: ")
}

// TestStatementSignatureBlock checks that a statement's bytes are exactly
// what Sign writes: no extra or repeated signature lines, no alternative
// base64 for the signature. Otherwise a mirror could change a statement's
// bytes without changing the statement and make Update cry equivocation.
func TestStatementSignatureBlock(t *testing.T) {
	f := newFixture(t)
	s := f.statement(1)
	signed := f.sign(t, s)
	text := rawText(s)
	sigLine := string(signed[len(text)+1:])
	other := testKey(t, "example.net", RoleRoot)
	otherLine := string(signText(t, text, other)[len(text)+1:])
	name, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(sigLine, "— "), "\n"), " ")
	raw, _ := base64.StdEncoding.DecodeString(b64)
	// The 68 bytes of hash and signature end in "X=", where X carries two
	// padding bits; setting one gives another encoding of the same
	// signature that base64 decoders outside strict mode accept.
	i := strings.IndexByte(b64Alphabet, b64[len(b64)-2])
	padded := "— " + name + " " + b64[:len(b64)-2] + string(b64Alphabet[i^1]) + "=\n"
	if raw2, err := base64.StdEncoding.DecodeString(strings.Fields(padded)[2]); err != nil || !bytes.Equal(raw, raw2) {
		t.Fatalf("padding-bit variant does not decode to the same signature: %v", err)
	}
	for _, tc := range []struct{ what, data string }{
		{"signature twice", text + "\n" + sigLine + sigLine},
		{"another signature after", text + "\n" + sigLine + otherLine},
		{"another signature before", text + "\n" + otherLine + sigLine},
		{"padding bits set", text + "\n" + padded},
		{"junk root-named line after", text + "\n" + sigLine + "— example.org AAAAAAAA\n"},
	} {
		if _, err := note.Open([]byte(tc.data), note.VerifierList(f.root.Public())); err != nil {
			t.Errorf("%s: note.Open: %v (the test expects note to accept it)", tc.what, err)
		}
		_, err := OpenStatement([]byte(tc.data), f.root.Public())
		mustFail(t, tc.what, err, "not in canonical form")
	}

	// Update must not take a re-encoded statement for another statement.
	trust, err := NewTrust(f.root.Public(), signed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = trust.Update([]byte(text + "\n" + sigLine + otherLine))
	if err == nil || strings.Contains(err.Error(), "equivocation") {
		t.Errorf("Update with an extra signature: %v; want a refusal that is not an equivocation alarm", err)
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	v1 := f.sign(t, f.statement(1))
	s2 := f.statement(2)
	s2.Keys = s2.Keys[1:]
	v2 := f.sign(t, s2)
	s2b := f.statement(2)
	s2b.Issued = t0.Add(time.Second)
	v2b := f.sign(t, s2b)
	v3 := f.sign(t, f.statement(3))
	big := f.statement(1 << 63)
	vBig := f.sign(t, big)

	trust1, err := NewTrust(f.root.Public(), v1)
	if err != nil {
		t.Fatal(err)
	}
	trust2, err := trust1.Update(v2)
	if err != nil {
		t.Fatalf("Update 1 -> 2: %v", err)
	}
	if trust2.Statement().Version != 2 || !bytes.Equal(trust2.SignedStatement(), v2) || len(trust2.Statement().Keys) != 1 {
		t.Errorf("after Update: version %d", trust2.Statement().Version)
	}
	if trust1.Statement().Version != 1 {
		t.Error("Update changed the old Trust")
	}
	if _, err := trust2.SigningKey(f.s1.Public().Raw()); err == nil {
		t.Error("key dropped by version 2 still trusted")
	}
	if same, err := trust2.Update(v2); err != nil || same.Statement().Version != 2 {
		t.Errorf("Update with the same statement: %v", err)
	}
	if _, err := trust2.Update(v3); err != nil {
		t.Errorf("Update 2 -> 3: %v", err)
	}
	if _, err := trust1.Update(v3); err != nil {
		t.Errorf("Update 1 -> 3 (skipping 2): %v", err)
	}
	if tb, err := trust1.Update(vBig); err != nil || tb.Statement().Version != 1<<63 {
		t.Errorf("Update to version 2^63: %v", err)
	}

	_, err = trust2.Update(v1)
	mustFail(t, "Update 2 -> 1", err, "version 1 is older than version 2 already seen (rollback)")
	var se *StatementError
	if !errors.As(err, &se) {
		t.Errorf("rollback error %T, want *StatementError", err)
	}
	_, err = trust2.Update(v2b)
	mustFail(t, "Update with another version 2", err, "two different statements carry version 2 (equivocation)")

	other := testKey(t, "example.net", RoleRoot)
	alien := f.statement(5)
	alien.Publisher = other.Public()
	ov, err := alien.Sign(other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = trust2.Update(ov)
	mustFail(t, "Update with another publisher's statement", err, "not signed by the pinned publisher key")
	_, err = trust2.Update(nil)
	mustFail(t, "Update with nothing", err, "keys: key statement: ")
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	trust, err := NewTrust(f.root.Public(), f.sign(t, f.statement(1)))
	if err != nil {
		t.Fatal(err)
	}
	s1, s3 := f.s1.Public().Raw(), f.s3.Public().Raw()
	day := t0.Add(24 * time.Hour)
	for _, at := range []time.Time{t0, t0.Add(time.Nanosecond), day.Add(-time.Nanosecond), day.Add(-time.Second), t0.In(time.FixedZone("x", 3600))} {
		k, err := trust.Authorize(s1, at)
		if err != nil || !k.Equal(f.s1.Public()) {
			t.Errorf("Authorize(s1, %v) = %v, %v", at, k, err)
		}
	}
	for _, at := range []time.Time{t0.Add(-time.Nanosecond), t0.Add(-time.Hour), day, day.Add(time.Hour), {}} {
		k, err := trust.Authorize(s1, at)
		mustFail(t, fmt.Sprintf("Authorize(s1, %v)", at), err, "was not valid at")
		var ue *UntrustedKeyError
		if !errors.As(err, &ue) || ue.Key != f.s1.Public().String() || k != nil {
			t.Errorf("Authorize(s1, %v): %#v, want *UntrustedKeyError naming the key", at, err)
		}
	}
	// Revoked keys are refused whatever the time.
	for _, at := range []time.Time{t0, t0.Add(time.Hour), t0.AddDate(-1, 0, 0)} {
		_, err := trust.Authorize(s3, at)
		mustFail(t, "Authorize(revoked s3)", err, "was revoked by the publisher")
	}
	_, err = trust.SigningKey(s3)
	mustFail(t, "SigningKey(revoked s3)", err, "was revoked by the publisher")
	for _, raw := range [][]byte{f.root.Public().Raw(), testKey(t, "stranger", RoleSigning).Public().Raw(), nil, []byte("short")} {
		_, err := trust.Authorize(raw, t0.Add(time.Hour))
		mustFail(t, fmt.Sprintf("Authorize(%x)", raw), err, "is not delegated by publisher example.org (key statement version 1)")
		var ue *UntrustedKeyError
		if !errors.As(err, &ue) || ue.Key != fmt.Sprintf("%x", raw) {
			t.Errorf("Authorize(%x): %#v", raw, err)
		}
	}
	if k, err := trust.SigningKey(s1); err != nil || !k.Equal(f.s1.Public()) {
		t.Errorf("SigningKey(s1) = %v, %v", k, err)
	}

	// Verifiers open notes of the delegated keys and not the revoked one.
	for _, tc := range []struct {
		k  *PrivateKey
		ok bool
	}{{f.s1, true}, {f.s2, true}, {f.s3, false}, {f.root, false}} {
		_, err := note.Open(signText(t, "checkpoint\n", tc.k), trust.Verifiers())
		if (err == nil) != tc.ok {
			t.Errorf("note by %s opened by Verifiers(): %v, want ok=%v", tc.k.Name(), err, tc.ok)
		}
	}
}

// TestTrustConcurrent reads a Trust from many goroutines (run with -race).
func TestTrustConcurrent(t *testing.T) {
	f := newFixture(t)
	trust, err := NewTrust(f.root.Public(), f.sign(t, f.statement(1)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := trust.Authorize(f.s1.Public().Raw(), t0.Add(time.Hour)); err != nil {
					errs <- err
					return
				}
				trust.Verifiers()
				trust.SignedStatement()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStatementCanonical signs altered statement texts with the right root
// key: every one is refused because of its text, not its signature.
func TestStatementCanonical(t *testing.T) {
	f := newFixture(t)
	text := rawText(f.statement(1))
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // SplitAfter leaves an empty last element
	swap := func(i, j int) string {
		l := append([]string(nil), lines...)
		l[i], l[j] = l[j], l[i]
		return strings.Join(l, "")
	}
	pubText := f.root.Public().String()
	s1 := f.s1.Public().String()
	for _, tc := range []struct{ what, text, err string }{
		{"no final newline", strings.TrimSuffix(text, "\n"), ""},
		{"trailing garbage line", text + "garbage\n", "line 8: want"},
		{"trailing empty key line", text + "key\n", "line 8: want"},
		{"trailing space", strings.TrimSuffix(text, "\n") + " \n", "line 7: "},
		{"CR before newline", strings.ReplaceAll(text, "\n", "\r\n"), "malformed"},
		{"magic v2", strings.Replace(text, "statement v1", "statement v2", 1), "first line must be"},
		{"magic capitalised", strings.Replace(text, "samizdat", "Samizdat", 1), "first line must be"},
		{"leading space", " " + text, "first line must be"},
		{"publisher and version swapped", swap(1, 2), "line 2 must start with \"publisher\""},
		{"version and issued swapped", swap(2, 3), "line 3 must start with \"version\""},
		{"revoked before key", swap(5, 6), "line 7: want \"key KEY FROM UNTIL\" lines, then \"revoked KEY\" lines"},
		{"publisher with two spaces", strings.Replace(text, "publisher ", "publisher  ", 1), "publisher: "},
		{"publisher with trailing space", strings.Replace(text, pubText+"\n", pubText+" \n", 1), "publisher: "},
		{"publisher damaged", strings.Replace(text, "publisher example.org", "publisher example.orh", 1), "hash does not match"},
		{"version 01", strings.Replace(text, "version 1\n", "version 01\n", 1), "version \"01\" is not a decimal number"},
		{"version +1", strings.Replace(text, "version 1\n", "version +1\n", 1), "is not a decimal number"},
		{"version 0x1", strings.Replace(text, "version 1\n", "version 0x1\n", 1), "is not a decimal number"},
		{"version 2^64", strings.Replace(text, "version 1\n", "version 18446744073709551616\n", 1), "is not a decimal number"},
		{"version 0", strings.Replace(text, "version 1\n", "version 0\n", 1), "version must be at least 1"},
		{"version with two spaces", strings.Replace(text, "version 1", "version  1", 1), "is not a decimal number"},
		{"issued with offset", strings.Replace(text, "issued 2026-11-29T12:00:00Z", "issued 2026-11-29T13:00:00+01:00", 1), "issued: time"},
		{"issued with fraction", strings.Replace(text, "issued 2026-11-29T12:00:00Z", "issued 2026-11-29T12:00:00.5Z", 1), "issued: time"},
		{"issued lowercase z", strings.Replace(text, "issued 2026-11-29T12:00:00Z", "issued 2026-11-29T12:00:00z", 1), "issued: time"},
		{"issued without zero padding", strings.Replace(text, "issued 2026-11-29T12:00:00Z", "issued 2026-11-29T2:00:00Z", 1), "issued: time"},
		{"issued 24:00", strings.Replace(text, "issued 2026-11-29T12:00:00Z", "issued 2026-11-29T24:00:00Z", 1), "issued: time"},
		{"key with two spaces", strings.Replace(text, "key "+s1+" ", "key "+s1+"  ", 1), "line 5: want"},
		{"key with tab", strings.Replace(text, "key "+s1+" ", "key\t"+s1+" ", 1), "malformed"},
		{"key with trailing space", strings.Replace(text, "key "+s1, "key "+s1+" ", 1), "line 5: want"},
		{"key time not UTC", strings.Replace(text, "2026-11-30T12:00:00Z", "2026-11-30T12:00:00+00:00", 1), "line 5: time"},
		{"key damaged", strings.Replace(text, "key example.org/signing-1", "key example.org/signing-9", 1), "line 5: keys: invalid public key: hash does not match"},
		{"key line missing time", strings.Replace(text, " 2026-11-30T12:00:00Z", "", 1), "line 5: want"},
		{"no keys", strings.Join(append(lines[:4:4], lines[6]), ""), "must list 1 to 16 signing keys, has 0"},
		{"only header", strings.Join(lines[:4], ""), "at least one key must follow"},
		{"key listed twice", strings.Join(append(lines[:5:5], lines[4:]...), ""), "listed twice"},
		{"key also revoked", text + "revoked " + s1 + "\n", "is also listed as a signing key"},
		{"root revoked", text + "revoked " + pubText + "\n", "is also listed as the root key"},
		{"root as signing key", strings.Replace(text, "key "+s1, "key "+pubText, 1), "listed twice (also as the root key)"},
		{"empty window", strings.Replace(text, "2026-11-30T12:00:00Z", "2026-11-29T12:00:00Z", 1), "validity window is empty"},
		{"reversed window", strings.Replace(text, "2026-11-30T12:00:00Z", "2026-11-28T12:00:00Z", 1), "validity window is empty"},
		{"window before 1970", strings.Replace(text, "key "+s1+" 2026-11-29T12:00:00Z", "key "+s1+" 1969-12-31T23:59:59Z", 1), "outside years 1970 to 9999"},
		{"blank line inside", strings.Replace(text, "issued", "\nissued", 1), ""},
	} {
		signed, err := note.Sign(&note.Note{Text: tc.text}, f.root)
		if err != nil {
			// note refuses to sign it; the statement parser never sees it.
			continue
		}
		if _, err := note.Open(signed, note.VerifierList(f.root.Public())); err != nil {
			if tc.err == "malformed" || tc.err == "" {
				_, err := OpenStatement(signed, f.root.Public())
				mustFail(t, tc.what, err, "keys: key statement: ")
				continue
			}
			t.Errorf("%s: note.Open: %v", tc.what, err)
			continue
		}
		s, err := OpenStatement(signed, f.root.Public())
		mustFail(t, tc.what, err, tc.err)
		if err == nil {
			t.Errorf("  got %+v", s)
		} else if strings.Contains(err.Error(), "<nil>") || !strings.HasPrefix(err.Error(), "keys: key statement: ") {
			t.Errorf("%s: error %q", tc.what, err)
		}
		if _, err := NewTrust(f.root.Public(), signed); err == nil {
			t.Errorf("%s: NewTrust succeeded", tc.what)
		}
	}
}

// TestStatementCheck covers the rules Text and Sign enforce on a Statement
// built in memory.
func TestStatementCheck(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		what   string
		change func(s *Statement)
		err    string
	}{
		{"no publisher", func(s *Statement) { s.Publisher = nil }, "no publisher key"},
		{"version 0", func(s *Statement) { s.Version = 0 }, "version must be at least 1"},
		{"no keys", func(s *Statement) { s.Keys = nil }, "must list 1 to 16 signing keys, has 0"},
		{"nil key", func(s *Statement) { s.Keys[0].Key = nil }, "no key"},
		{"nil revoked key", func(s *Statement) { s.Revoked[0] = nil }, "no key"},
		{"key twice", func(s *Statement) { s.Keys = append(s.Keys, s.Keys[0]) }, "listed twice"},
		{"renamed key twice", func(s *Statement) {
			k, _ := NewPublicKey("renamed", s.Keys[0].Key.Raw())
			s.Keys = append(s.Keys, Delegation{Key: k, NotBefore: t0, NotAfter: t0.Add(time.Hour)})
		}, "listed twice"},
		{"root as key", func(s *Statement) { s.Keys[0].Key = s.Publisher }, "also as the root key"},
		{"key revoked", func(s *Statement) { s.Revoked = append(s.Revoked, s.Keys[1].Key) }, "also listed as a signing key"},
		{"revoked twice", func(s *Statement) { s.Revoked = append(s.Revoked, s.Revoked[0]) }, "also listed as a revoked key"},
		{"empty window", func(s *Statement) { s.Keys[0].NotAfter = s.Keys[0].NotBefore }, "validity window is empty"},
		{"sub-second window", func(s *Statement) { s.Keys[0].NotAfter = s.Keys[0].NotBefore.Add(time.Millisecond) }, "validity window is empty"},
		{"window before 1970", func(s *Statement) { s.Keys[0].NotBefore = time.Unix(-1, 0) }, "outside years 1970 to 9999"},
		{"window after 9999", func(s *Statement) { s.Keys[0].NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside years 1970 to 9999"},
		{"window after 9999 in UTC", func(s *Statement) {
			s.Keys[0].NotAfter = time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("EST", -5*3600))
		}, "outside years 1970 to 9999"},
		{"issued zero", func(s *Statement) { s.Issued = time.Time{} }, "issued"},
		{"issued after 9999", func(s *Statement) { s.Issued = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "issued"},
	} {
		s := f.statement(1)
		tc.change(s)
		_, err := s.Text()
		mustFail(t, tc.what+": Text", err, tc.err)
		signed, err := s.Sign(f.root)
		if tc.what == "no publisher" {
			mustFail(t, tc.what+": Sign", err, "statement names publisher")
		} else {
			mustFail(t, tc.what+": Sign", err, tc.err)
		}
		if err == nil {
			// What Sign made must at least open.
			if _, err := OpenStatement(signed, f.root.Public()); err != nil {
				t.Errorf("%s: Sign made a statement that does not open: %v", tc.what, err)
			}
		}
	}
	// Times are written to the second; what is signed is what opens.
	s := f.statement(1)
	s.Issued = t0.Add(999 * time.Millisecond).In(time.FixedZone("x", -3600))
	s.Keys[0].NotBefore = t0.Add(500 * time.Millisecond)
	s.Keys[0].NotAfter = t0.Add(1500 * time.Millisecond)
	got, err := OpenStatement(f.sign(t, s), f.root.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Issued.Equal(t0) || !got.Keys[0].NotBefore.Equal(t0) || !got.Keys[0].NotAfter.Equal(t0.Add(time.Second)) {
		t.Errorf("times %v %v %v, want them truncated to the second", got.Issued, got.Keys[0].NotBefore, got.Keys[0].NotAfter)
	}
	// The widest window: 1970 to the last second of 9999.
	s = f.statement(1)
	s.Issued = time.Unix(0, 0)
	s.Keys[0].NotBefore = time.Unix(0, 0)
	s.Keys[0].NotAfter = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	if _, err := OpenStatement(f.sign(t, s), f.root.Public()); err != nil {
		t.Errorf("statement with the widest window: %v", err)
	}
}

// maxStatement is a statement at every limit: 16 keys, 64 revocations, all
// with 64-byte names, the largest version.
func maxStatement(t testing.TB, root *PrivateKey, keys, revoked int) *Statement {
	s := &Statement{Publisher: root.Public(), Version: 1<<64 - 1, Issued: time.Date(9999, 12, 31, 23, 59, 58, 0, time.UTC)}
	name := func(kind string, i int) string {
		n := fmt.Sprintf("%s-%d.", kind, i)
		return n + strings.Repeat("x", MaxNameLen-len(n))
	}
	for i := range keys {
		s.Keys = append(s.Keys, Delegation{
			Key:       testKey(t, name("k", i), RoleSigning).Public(),
			NotBefore: time.Date(9999, 12, 31, 23, 59, 58, 0, time.UTC),
			NotAfter:  time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		})
	}
	for i := range revoked {
		s.Revoked = append(s.Revoked, testKey(t, name("r", i), RoleSigning).Public())
	}
	return s
}

func TestStatementLimits(t *testing.T) {
	root := testKey(t, strings.Repeat("r", MaxNameLen), RoleRoot)
	s := maxStatement(t, root, MaxDelegations, MaxRevocations)
	signed, err := s.Sign(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(signed) > MaxStatementSize {
		t.Fatalf("a statement at every limit is %d bytes, more than MaxStatementSize %d", len(signed), MaxStatementSize)
	}
	got, err := OpenStatement(signed, root.Public())
	if err != nil {
		t.Fatalf("statement at every limit: %v", err)
	}
	if len(got.Keys) != MaxDelegations || len(got.Revoked) != MaxRevocations || got.Version != 1<<64-1 {
		t.Errorf("opened %d keys, %d revoked, version %d", len(got.Keys), len(got.Revoked), got.Version)
	}

	for _, tc := range []struct {
		keys, revoked int
		err           string
	}{
		{MaxDelegations + 1, 0, "must list 1 to 16 signing keys, has 17"},
		{1, MaxRevocations + 1, "more than 64 revoked keys"},
	} {
		s := maxStatement(t, root, tc.keys, tc.revoked)
		_, err := s.Sign(root)
		mustFail(t, "Sign", err, tc.err)
		_, err = OpenStatement(signText(t, rawText(s), root), root.Public())
		mustFail(t, "OpenStatement", err, tc.err)
	}

	// Size is checked before anything else.
	huge := append(bytes.Clone(signed), bytes.Repeat([]byte("x"), MaxStatementSize+1-len(signed))...)
	_, err = OpenStatement(huge, root.Public())
	mustFail(t, "OpenStatement of MaxStatementSize+1 bytes", err, "larger than 16384 bytes")
	at := bytes.Repeat([]byte("x"), MaxStatementSize)
	_, err = OpenStatement(at, root.Public())
	if err == nil || strings.Contains(err.Error(), "larger than") {
		t.Errorf("OpenStatement of MaxStatementSize bytes: %v, want a refusal for another reason", err)
	}
}
