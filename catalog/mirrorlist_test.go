package catalog_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

var mlTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testMirrorList() *catalog.MirrorList {
	return &catalog.MirrorList{Version: 3, Time: mlTime, URLs: []string{
		"https://mirror.example.org", "h3://203.0.113.7:4433/news/", "http://[2001:db8::1]:8080/",
	}}
}

func mustSignList(t testing.TB, m *catalog.MirrorList, p *testkeys.Publisher) []byte {
	t.Helper()
	b, err := m.Sign(p.Signer, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pages returns the SHA-256 of n made-up verifier pages.
func pages(n int) [][sha256.Size]byte {
	var hs [][sha256.Size]byte
	for i := range n {
		hs = append(hs, sha256.Sum256(fmt.Appendf(nil, "verifier page %d", i)))
	}
	return hs
}

func manyURLs(n int) []string {
	var us []string
	for i := range n {
		us = append(us, fmt.Sprintf("https://m%d.example/", i))
	}
	return us
}

func TestMirrorListRoundTrip(t *testing.T) {
	p := testkeys.New(t, "pub")
	for _, m := range []*catalog.MirrorList{
		testMirrorList(),
		{Version: 1, Time: testkeys.NotBefore},
		{Version: 1<<64 - 1, Time: time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC), URLs: manyURLs(catalog.MaxMirrors), Verifiers: pages(catalog.MaxVerifiers)},
		{Version: 2, Time: mlTime, Verifiers: pages(1)},
	} {
		signed := mustSignList(t, m, p)
		got, err := catalog.OpenMirrorList(signed, p.Trust)
		if err != nil {
			t.Fatalf("OpenMirrorList: %v\n%s", err, signed)
		}
		if got.Version != m.Version || !got.Time.Equal(m.Time) || strings.Join(got.URLs, " ") != strings.Join(m.URLs, " ") ||
			fmt.Sprint(got.Verifiers) != fmt.Sprint(m.Verifiers) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
		}
		if len(signed) > catalog.MaxMirrorListSize {
			t.Errorf("signed list of %d bytes", len(signed))
		}
	}
}

func TestMirrorListText(t *testing.T) {
	p := testkeys.New(t, "pub")
	signed := mustSignList(t, testMirrorList(), p)
	want := "samizdat/" + p.ID() + " mirrors\nversion 3\ntime 1740830400\n" +
		"url https://mirror.example.org\nurl h3://203.0.113.7:4433/news/\nurl http://[2001:db8::1]:8080/\n\n\u2014 pub-signing "
	if !strings.HasPrefix(string(signed), want) {
		t.Errorf("signed list\n%s\ndoes not start with\n%s", signed, want)
	}
	m := testMirrorList()
	m.Verifiers = pages(2)
	signed = mustSignList(t, m, p)
	want = "url http://[2001:db8::1]:8080/\nverifier " + fmt.Sprintf("%x", m.Verifiers[0]) + "\nverifier " + fmt.Sprintf("%x", m.Verifiers[1]) + "\n\n\u2014 pub-signing "
	if !strings.Contains(string(signed), want) {
		t.Errorf("signed list\n%s\ndoes not hold\n%s", signed, want)
	}
	if got := catalog.MirrorListOrigin("abc"); got != "samizdat/abc mirrors" {
		t.Errorf("MirrorListOrigin = %q", got)
	}
}

func TestMirrorListSignRefuses(t *testing.T) {
	p := testkeys.New(t, "pub")
	long := "https://example.org/" + strings.Repeat("a", catalog.MaxMirrorURLLen-len("https://example.org/")+1)
	for _, tc := range []struct {
		name string
		m    catalog.MirrorList
	}{
		{"version 0", catalog.MirrorList{Version: 0, Time: mlTime}},
		{"time before 1970", catalog.MirrorList{Version: 1, Time: time.Unix(-1, 0)}},
		{"fractional time", catalog.MirrorList{Version: 1, Time: mlTime.Add(time.Millisecond)}},
		{"too many URLs", catalog.MirrorList{Version: 1, Time: mlTime, URLs: manyURLs(catalog.MaxMirrors + 1)}},
		{"duplicate URL", catalog.MirrorList{Version: 1, Time: mlTime, URLs: []string{"https://a.example", "https://a.example"}}},
		{"URL too long", catalog.MirrorList{Version: 1, Time: mlTime, URLs: []string{long}}},
		{"bad URL", catalog.MirrorList{Version: 1, Time: mlTime, URLs: []string{"ftp://a.example"}}},
		{"too many verifiers", catalog.MirrorList{Version: 1, Time: mlTime, Verifiers: pages(catalog.MaxVerifiers + 1)}},
		{"duplicate verifier", catalog.MirrorList{Version: 1, Time: mlTime, Verifiers: append(pages(2), pages(1)...)}},
	} {
		if _, err := tc.m.Sign(p.Signer, p.ID()); err == nil {
			t.Errorf("%s: signed", tc.name)
		} else if !strings.HasPrefix(err.Error(), "catalog: mirror list: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q", tc.name, err)
		}
	}
	if _, err := testMirrorList().Sign(p.Root, p.ID()); err == nil {
		t.Error("a root key signed a mirror list")
	}
	// 64 URLs of the longest kind do not fit in the size limit.
	var us []string
	for i := range catalog.MaxMirrors {
		u := fmt.Sprintf("https://%02d.example/", i)
		us = append(us, u+strings.Repeat("x", catalog.MaxMirrorURLLen-len(u)))
	}
	if _, err := (&catalog.MirrorList{Version: 1, Time: mlTime, URLs: us}).Sign(p.Signer, p.ID()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized list: %v", err)
	}
}

func TestCheckMirrorURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://example.org", true},
		{"https://example.org/", true},
		{"http://example.org:8080/a/b", true},
		{"h3://192.0.2.1:443", true},
		{"https://[2001:db8::1]/", true},
		{"https://xn--80ak6aa92e.com/", true},
		{"", false},
		{"example.org", false},
		{"/relative", false},
		{"ftp://example.org", false},
		{"HTTPS://example.org", false},
		{"https:example.org", false},
		{"https://", false},
		{"https://:80/", false},
		{"https://user@example.org/", false},
		{"https://user:pw@example.org/", false},
		{"https://example.org/?", false},
		{"https://example.org/?a=b", false},
		{"https://example.org/#top", false},
		{"https://example.org/#", false},
		{"https://example.org/a b", false},
		{"https://example.org/\x00", false},
		{"https://example.org/\u00e9", false},
		{"https://example.org:port/", false},
		{"https://example.org/%zz", false},
		{"https://" + strings.Repeat("a", catalog.MaxMirrorURLLen), false},
	} {
		err := catalog.CheckMirrorURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckMirrorURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "catalog: ")) {
			t.Errorf("CheckMirrorURL(%q): error %q", tc.url, err)
		}
	}
}

// signText signs arbitrary text as a note, to test what OpenMirrorList does
// with well-signed nonsense.
func signText(t *testing.T, text string, k *keys.PrivateKey) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenMirrorListRefuses(t *testing.T) {
	p := testkeys.New(t, "pub")
	other := testkeys.New(t, "other")
	good := mustSignList(t, testMirrorList(), p)
	head := catalog.MirrorListOrigin(p.ID()) + "\nversion 1\ntime 1740830400\n"
	hx0 := fmt.Sprintf("%x", pages(1)[0])

	// A statement whose key window ends before the list's time.
	expired := testkeys.New(t, "expired")
	stmt := expired.Sign(t, 2, []keys.Delegation{{Key: expired.Signer.Public(), NotBefore: testkeys.NotBefore, NotAfter: mlTime}})
	expiredTrust, err := keys.NewTrust(expired.Root.Public(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	revoked := testkeys.New(t, "revoked")
	newSigner := testkeys.Key(t, "revoked-new", keys.RoleSigning)
	stmt = revoked.Sign(t, 2, []keys.Delegation{testkeys.Delegate(newSigner)}, revoked.Signer.Public())
	revokedTrust, err := keys.NewTrust(revoked.Root.Public(), stmt)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		data  []byte
		trust *keys.Trust
		want  string
	}{
		{"empty", nil, p.Trust, "malformed"},
		{"other publisher's list", mustSignList(t, testMirrorList(), other), p.Trust, "not signed by any signing key"},
		{"signed for another publisher", func() []byte {
			b, _ := testMirrorList().Sign(p.Signer, other.ID())
			return b
		}(), p.Trust, "origin"},
		{"checkpoint", mustSign(t, testCheckpoint(p), p.Signer), p.Trust, "origin"},
		{"root-signed", signText(t, head, p.Root), p.Trust, "not signed by any signing key"},
		{"too large", append(bytes.Repeat([]byte("x"), catalog.MaxMirrorListSize), good...), p.Trust, "larger than"},
		{"flipped byte in text", bytes.Replace(good, []byte("version 3"), []byte("version 4"), 1), p.Trust, "invalid signature"},
		{"expired key", mustSignList(t, testMirrorList(), expired), expiredTrust, "was not valid"},
		{"revoked key", mustSignList(t, testMirrorList(), revoked), revokedTrust, "not signed by any signing key"},
		{"version 0", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 0\ntime 1\n", p.Signer), p.Trust, "version"},
		{"version 01", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 01\ntime 1\n", p.Signer), p.Trust, "version"},
		{"version too big", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 18446744073709551616\ntime 1\n", p.Signer), p.Trust, "version"},
		{"no time", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 1\n", p.Signer), p.Trust, "lines"},
		{"negative time", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 1\ntime -1\n", p.Signer), p.Trust, "time"},
		{"time after 9999", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 1\ntime 253402300800\n", p.Signer), p.Trust, "time"},
		{"time before key window", signText(t, catalog.MirrorListOrigin(p.ID())+"\nversion 1\ntime 0\n", p.Signer), p.Trust, "was not valid"},
		{"other line", signText(t, head+"mirror https://a.example\n", p.Signer), p.Trust, "line 4"},
		{"bad URL", signText(t, head+"url ftp://a.example\n", p.Signer), p.Trust, "scheme"},
		{"duplicate URL", signText(t, head+"url https://a.example\nurl https://a.example\n", p.Signer), p.Trust, "twice"},
		{"two spaces", signText(t, head+"url  https://a.example\n", p.Signer), p.Trust, "space"},
		{"too many URLs", signText(t, head+strings.Repeat("url https://a.example\n", catalog.MaxMirrors+1), p.Signer), p.Trust, "at most"},
		{"blank URL line", signText(t, head+"url \n", p.Signer), p.Trust, "bytes"},
		{"verifier upper case", signText(t, head+"verifier "+strings.ToUpper(hx0)+"\n", p.Signer), p.Trust, "lowercase hex"},
		{"verifier short", signText(t, head+"verifier "+hx0[:62]+"\n", p.Signer), p.Trust, "line 4: verifier hash"},
		{"verifier long", signText(t, head+"verifier "+hx0+"00\n", p.Signer), p.Trust, "64 lowercase hex"},
		{"verifier not hex", signText(t, head+"verifier "+strings.Repeat("g", 64)+"\n", p.Signer), p.Trust, "64 lowercase hex"},
		{"verifier blank", signText(t, head+"verifier \n", p.Signer), p.Trust, "64 lowercase hex"},
		{"verifier two spaces", signText(t, head+"verifier  "+hx0[1:]+"\n", p.Signer), p.Trust, "64 lowercase hex"},
		{"verifier twice", signText(t, head+"verifier "+hx0+"\nverifier "+hx0+"\n", p.Signer), p.Trust, "listed twice"},
		{"too many verifiers", signText(t, head+strings.Repeat("verifier "+hx0+"\n", catalog.MaxVerifiers+1), p.Signer), p.Trust, "too many verifier hashes: at most 4"},
		{"url after verifier", signText(t, head+"verifier "+hx0+"\nurl https://a.example\n", p.Signer), p.Trust, "before verifier"},
		{"verifier without hash", signText(t, head+"verifier\n", p.Signer), p.Trust, "line 4"},
		{"signed twice", append(bytes.Clone(good), good[bytes.LastIndex(good, []byte("\n\n"))+2:]...), p.Trust, "more than once"},
	} {
		m, err := catalog.OpenMirrorList(tc.data, tc.trust)
		if err == nil {
			t.Errorf("%s: opened %+v", tc.name, m)
			continue
		}
		var mle *catalog.MirrorListError
		if !errors.As(err, &mle) {
			t.Errorf("%s: error %T %v is not a *MirrorListError", tc.name, err, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "catalog: mirror list: ") {
			t.Errorf("%s: error %q, want one line with %q", tc.name, msg, tc.want)
		}
	}
}

// TestOpenMirrorListMutations flips every byte of a signed list and
// refuses every truncation: none may open to a list.
func TestOpenMirrorListMutations(t *testing.T) {
	p := testkeys.New(t, "pub")
	m := testMirrorList()
	m.Verifiers = pages(2)
	good := mustSignList(t, m, p)
	for i := range good {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= x
			if m, err := catalog.OpenMirrorList(b, p.Trust); err == nil {
				t.Fatalf("byte %d ^ %#x: opened %+v", i, x, m)
			}
		}
	}
	for i := range len(good) - 1 {
		if m, err := catalog.OpenMirrorList(good[:i], p.Trust); err == nil {
			t.Fatalf("prefix of %d bytes opened %+v", i, m)
		}
	}
}

func FuzzOpenMirrorList(f *testing.F) {
	p := testkeys.New(f, "fuzz")
	f.Add(mustSignList(f, testMirrorList(), p))
	f.Add(mustSignList(f, &catalog.MirrorList{Version: 1, Time: mlTime}, p))
	f.Add(mustSignList(f, &catalog.MirrorList{Version: 9, Time: mlTime, URLs: manyURLs(catalog.MaxMirrors)}, p))
	f.Add(mustSignList(f, &catalog.MirrorList{Version: 4, Time: mlTime, URLs: manyURLs(2), Verifiers: pages(catalog.MaxVerifiers)}, p))
	other := testkeys.New(f, "other")
	f.Add(mustSignList(f, testMirrorList(), other))
	f.Add([]byte(catalog.MirrorListOrigin(p.ID()) + "\nversion 1\ntime 1\n\n\u2014 fuzz-signing AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := catalog.OpenMirrorList(data, p.Trust)
		if err != nil {
			if m != nil {
				t.Fatal("OpenMirrorList returned a list and an error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if len(data) > catalog.MaxMirrorListSize || m.Version == 0 || len(m.URLs) > catalog.MaxMirrors || len(m.Verifiers) > catalog.MaxVerifiers {
			t.Fatalf("accepted %+v from %d bytes", m, len(data))
		}
		seen := map[string]bool{}
		for _, u := range m.URLs {
			if err := catalog.CheckMirrorURL(u); err != nil || seen[u] {
				t.Fatalf("accepted URL %q: %v", u, err)
			}
			seen[u] = true
		}
		for i, v := range m.Verifiers {
			if slices.Contains(m.Verifiers[:i], v) {
				t.Fatalf("accepted verifier %x twice", v)
			}
		}
		// Signing is deterministic and the form canonical: signing the
		// parsed list again gives the same bytes.
		resigned, err := m.Sign(p.Signer, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resigned, data) {
			t.Fatalf("accepted\n%s\nwhich signs again as\n%s", data, resigned)
		}
	})
}

func TestParseVerifierHash(t *testing.T) {
	good := fmt.Sprintf("%x", pages(1)[0])
	if h, err := catalog.ParseVerifierHash(good); err != nil || fmt.Sprintf("%x", h) != good {
		t.Errorf("ParseVerifierHash(%q) = %x, %v", good, h, err)
	}
	for _, bad := range []string{"", good[:63], good + "0", strings.ToUpper(good), " " + good[1:], good[:63] + "g", strings.Repeat("\u00e9", 32)} {
		if _, err := catalog.ParseVerifierHash(bad); err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "catalog: verifier hash ") {
			t.Errorf("ParseVerifierHash(%q): %v", bad, err)
		}
	}
}
