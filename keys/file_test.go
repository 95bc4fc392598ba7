package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sealTest seals k with the test passphrase at the cheapest cost.
func sealTest(t testing.TB, k *PrivateKey) []byte {
	t.Helper()
	data, err := Seal(k, testPassphrase, fastSeal)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestKeyFileRoundTrip(t *testing.T) {
	for _, role := range []Role{RoleRoot, RoleSigning} {
		k := testKey(t, "example.org/"+string(role), role)
		data := sealTest(t, k)
		lines := strings.Split(string(data), "\n")
		if len(lines) != 6 || lines[5] != "" || lines[0] != "samizdat secret key v1" || lines[1] != "role "+string(role) ||
			lines[2] != "key "+k.Public().String() || !strings.HasPrefix(lines[3], "kdf scrypt 10 8 1 ") || !strings.HasPrefix(lines[4], "sealed ") {
			t.Errorf("Seal wrote\n%s", data)
		}
		info, err := ParseKeyFile(data)
		if err != nil {
			t.Fatal(err)
		}
		if info.Role != role || !info.Public.Equal(k.Public()) || info.ScryptLogN != MinScryptLogN {
			t.Errorf("ParseKeyFile = %+v", info)
		}
		got, err := OpenKeyFile(data, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		if got.Role() != role || !got.Public().Equal(k.Public()) || !got.Ed25519().Equal(k.Ed25519()) {
			t.Errorf("OpenKeyFile gave %v %v, want %v %v", got.Role(), got.Public(), role, k.Public())
		}
		// Sealing twice uses fresh salt and nonce.
		if again := sealTest(t, k); bytes.Equal(again, data) {
			t.Error("Seal twice gave the same bytes")
		}
	}
}

// TestKeyFileDeterministic seals with a fixed reader and checks that the
// file is exactly the one the format gives for that salt and nonce.
func TestKeyFileDeterministic(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	a, err := Seal(k, testPassphrase, &SealOptions{ScryptLogN: 10, Rand: fixedRand(40)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Seal(k, testPassphrase, &SealOptions{ScryptLogN: 10, Rand: fixedRand(40)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("Seal with the same randomness gave different bytes")
	}
	salt := base64.StdEncoding.EncodeToString(fixedBytes(16))
	if !bytes.Contains(a, []byte("\nkdf scrypt 10 8 1 "+salt+"\n")) {
		t.Errorf("salt is not the first 16 random bytes:\n%s", a)
	}
	info, err := ParseKeyFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if nonce := fixedBytes(40)[16:]; !bytes.Equal(info.sealed[:24], nonce) {
		t.Errorf("nonce %x, want the 24 random bytes after the salt", info.sealed[:24])
	}
	_, err = Seal(k, testPassphrase, &SealOptions{ScryptLogN: 10, Rand: fixedRand(39)})
	mustFail(t, "Seal with 39 random bytes", err, "keys: reading randomness")
}

// TestKeyFileDefaultCost seals once at the default cost, 2^15.
func TestKeyFileDefaultCost(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at the default cost")
	}
	k := testKey(t, "example.org", RoleRoot)
	data, err := Seal(k, testPassphrase, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseKeyFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if info.ScryptLogN != DefaultScryptLogN || DefaultScryptLogN != 15 {
		t.Errorf("default cost 2^%d, want 2^15", info.ScryptLogN)
	}
	if got, err := OpenKeyFile(data, testPassphrase); err != nil || !got.Public().Equal(k.Public()) {
		t.Errorf("OpenKeyFile: %v, %v", got, err)
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	data := sealTest(t, testKey(t, "example.org", RoleRoot))
	for _, pass := range []string{"", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
		k, err := OpenKeyFile(data, []byte(pass))
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("OpenKeyFile with %q = %v, %v; want ErrWrongPassphrase", pass, k, err)
		}
	}
}

// TestKeyFileFlips flips every bit of a key file, one at a time, and
// truncates and extends it: none of the results opens.
func TestKeyFileFlips(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	data := sealTest(t, k)
	type result struct {
		what string
		k    *PrivateKey
		err  error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		work    = make(chan []byte)
	)
	open := func(what string, d []byte) {
		got, err := OpenKeyFile(d, testPassphrase)
		mu.Lock()
		results = append(results, result{what, got, err})
		mu.Unlock()
	}
	// Two workers: the flips that parse cost one scrypt each.
	for range 2 {
		wg.Go(func() {
			for d := range work {
				open(fmt.Sprintf("%q", d), d)
			}
		})
	}
	// Every flip that still parses costs one scrypt; in -short mode and
	// under the race detector (which slows scrypt tenfold) fewer bits of
	// each byte are flipped.
	bits := []int{0, 1, 2, 3, 4, 5, 6, 7}
	switch {
	case raceEnabled:
		bits = []int{0}
	case testing.Short():
		bits = []int{0, 2}
	}
	for i := range data {
		for _, bit := range bits {
			d := bytes.Clone(data)
			d[i] ^= 1 << bit
			work <- d
		}
	}
	for i := 0; i < len(data); i++ {
		work <- bytes.Clone(data[:i])
	}
	for _, extra := range []string{"\n", " ", "x", "\nsealed AAAA\n", "\x00"} {
		work <- append(bytes.Clone(data), extra...)
		work <- append([]byte(extra), data...)
	}
	close(work)
	wg.Wait()

	if want := len(data)*(len(bits)+1) + 10; len(results) != want {
		t.Fatalf("tried %d variants, want %d", len(results), want)
	}
	for _, r := range results {
		switch {
		case r.err == nil && r.k.Public().Equal(k.Public()):
			t.Errorf("altered file %s opened (to the original key)", r.what)
		case r.err == nil:
			t.Errorf("altered file %s opened to a different key %v", r.what, r.k.Public())
		case r.k != nil:
			t.Errorf("altered file %s: OpenKeyFile returned a key and an error", r.what)
		}
	}
}

func TestSealRefuses(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	_, err := Seal(k, []byte("1234567"), fastSeal)
	mustFail(t, "Seal with a 7-byte passphrase", err, "passphrase must be at least 8 bytes")
	if _, err := Seal(k, []byte("12345678"), fastSeal); err != nil {
		t.Errorf("Seal with an 8-byte passphrase: %v", err)
	}
	for _, logN := range []int{-1, 1, MinScryptLogN - 1, MaxScryptLogN + 1, 64} {
		_, err := Seal(k, testPassphrase, &SealOptions{ScryptLogN: logN})
		mustFail(t, fmt.Sprintf("Seal at cost 2^%d", logN), err, "outside 2^10..2^18")
	}
	err = WriteKeyFile(filepath.Join(t.TempDir(), "k"), k, []byte("short"), fastSeal)
	mustFail(t, "WriteKeyFile with a short passphrase", err, "passphrase must be at least")
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// editLine replaces line i (from 0) of a key file.
func editLine(data []byte, i int, line string) []byte {
	lines := strings.Split(string(data), "\n")
	lines[i] = line
	return []byte(strings.Join(lines, "\n"))
}

func TestParseKeyFileRefuses(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	data := sealTest(t, k)
	lines := strings.Split(string(data), "\n")
	kdf := strings.Fields(lines[3])
	setKDF := func(i int, v string) []byte {
		f := append([]string(nil), kdf...)
		f[i] = v
		return editLine(data, 3, strings.Join(f, " "))
	}
	salt := kdf[5]
	sealed := strings.TrimPrefix(lines[4], "sealed ")
	rawSalt, _ := base64.StdEncoding.DecodeString(salt)
	rawSealed, _ := base64.StdEncoding.DecodeString(sealed)
	other := testKey(t, "example.net", RoleRoot).Public()
	for _, tc := range []struct {
		what string
		data []byte
		err  string
	}{
		{"empty", nil, "missing final newline"},
		{"no final newline", data[:len(data)-1], "missing final newline"},
		{"too large", append(bytes.Repeat([]byte("x"), MaxKeyFileSize-len(data)+1), data...), "larger than 4096 bytes"},
		{"extra line", append(bytes.Clone(data), "more\n"...), "want 5 lines"},
		{"blank line at end", append(bytes.Clone(data), '\n'), "want 5 lines"},
		{"CRLF", []byte(strings.ReplaceAll(string(data), "\n", "\r\n")), "want 5 lines"},
		{"magic v2", editLine(data, 0, "samizdat secret key v2"), "not a samizdat secret key file"},
		{"magic with space", editLine(data, 0, "samizdat secret key v1 "), "not a samizdat secret key file"},
		{"role admin", editLine(data, 1, "role admin"), "line 2 must be"},
		{"role with two spaces", editLine(data, 1, "role  root"), "line 2 must be"},
		{"role empty", editLine(data, 1, "role "), "line 2 must be"},
		{"no key prefix", editLine(data, 2, k.Public().String()), "line 3 must be"},
		{"key with trailing space", editLine(data, 2, "key "+k.Public().String()+" "), "public key line"},
		{"key with two spaces", editLine(data, 2, "key  "+k.Public().String()), "public key line"},
		{"key damaged", editLine(data, 2, "key "+strings.Replace(k.Public().String(), "example.org", "example.orh", 1)), "hash does not match"},
		{"kdf argon2", setKDF(1, "argon2id"), "line 4 must be"},
		{"kdf r 16", setKDF(3, "16"), "line 4 must be"},
		{"kdf p 2", setKDF(4, "2"), "line 4 must be"},
		{"kdf 5 fields", editLine(data, 3, strings.Join(kdf[:5], " ")), "line 4 must be"},
		{"kdf 7 fields", editLine(data, 3, lines[3]+" x"), "line 4 must be"},
		{"kdf double space", editLine(data, 3, strings.Replace(lines[3], " ", "  ", 1)), "line 4 must be"},
		{"logN 9", setKDF(2, "9"), "scrypt cost must be a number from 10 to 18"},
		{"logN 19", setKDF(2, "19"), "scrypt cost must be"},
		{"logN 64", setKDF(2, "64"), "scrypt cost must be"},
		{"logN 010", setKDF(2, "010"), "scrypt cost must be"},
		{"logN +10", setKDF(2, "+10"), "scrypt cost must be"},
		{"logN -10", setKDF(2, "-10"), "scrypt cost must be"},
		{"logN 1e1", setKDF(2, "1e1"), "scrypt cost must be"},
		{"logN empty", setKDF(2, ""), "scrypt cost must be"},
		{"logN huge", setKDF(2, "99999999999999999999"), "scrypt cost must be"},
		{"salt short", setKDF(5, base64.StdEncoding.EncodeToString(rawSalt[:15])), "salt must be base64 of 16 bytes"},
		{"salt long", setKDF(5, base64.StdEncoding.EncodeToString(append(rawSalt, 0))), "salt must be base64 of 16 bytes"},
		{"salt unpadded", setKDF(5, strings.TrimRight(salt, "=")), "salt must be base64"},
		{"salt URL alphabet", setKDF(5, base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 16))), "salt must be base64"},
		{"salt padding bits", setKDF(5, salt[:len(salt)-3]+string(b64Alphabet[strings.IndexByte(b64Alphabet, salt[len(salt)-3])+1])+"=="), "salt must be base64"},
		{"salt with CR", setKDF(5, salt[:4]+"\r"+salt[4:]), "salt must be base64"},
		{"no sealed prefix", editLine(data, 4, sealed), "line 5 must be"},
		{"sealed short", editLine(data, 4, "sealed "+base64.StdEncoding.EncodeToString(rawSealed[:71])), "sealed data must be base64 of 72 bytes"},
		{"sealed long", editLine(data, 4, "sealed "+base64.StdEncoding.EncodeToString(append(rawSealed, 0))), "sealed data must be base64 of 72 bytes"},
		{"sealed with CR", editLine(data, 4, "sealed "+sealed+"\r"), "sealed data must be base64"},
		{"sealed with inner CR", editLine(data, 4, "sealed "+sealed[:10]+"\r"+sealed[10:]), "sealed data must be base64"},
		{"sealed trailing space", editLine(data, 4, "sealed "+sealed+" "), "sealed data must be base64"},
		{"other key", editLine(data, 2, "key "+other.String()), ""}, // parses; fails to open
	} {
		info, err := ParseKeyFile(tc.data)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: ParseKeyFile: %v", tc.what, err)
			}
			continue
		}
		mustFail(t, tc.what+": ParseKeyFile", err, tc.err)
		if err == nil {
			t.Errorf("  got %+v", info)
		} else if !strings.HasPrefix(err.Error(), "keys: ") || strings.Contains(err.Error(), "<nil>") {
			t.Errorf("%s: error %q: want a \"keys: \" prefix and no <nil>", tc.what, err)
		}
		if _, err := OpenKeyFile(tc.data, testPassphrase); err == nil {
			t.Errorf("%s: OpenKeyFile succeeded", tc.what)
		}
	}
}

// TestOpenKeyFileMismatch seals a seed under a header naming another key:
// the AEAD opens, and the public key check must catch it.
func TestOpenKeyFileMismatch(t *testing.T) {
	k := testKey(t, "example.org", RoleRoot)
	other := testKey(t, "example.net", RoleRoot)
	forged, err := NewPublicKey(k.Name(), other.Public().Raw())
	if err != nil {
		t.Fatal(err)
	}
	salt := bytes.Repeat([]byte{1}, saltSize)
	nonce := bytes.Repeat([]byte{2}, 24)
	header := fmt.Sprintf("samizdat secret key v1\nrole root\nkey %s\nkdf scrypt 10 8 1 %s\n", forged, base64.StdEncoding.EncodeToString(salt))
	aead, err := fileAEAD(testPassphrase, salt, 10)
	if err != nil {
		t.Fatal(err)
	}
	data := header + "sealed " + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, k.seed(), []byte(header))) + "\n"
	got, err := OpenKeyFile([]byte(data), testPassphrase)
	mustFail(t, "OpenKeyFile of a file whose key line is another key", err, "private key does not match its public key line")
	if got != nil {
		t.Errorf("got key %v", got.Public())
	}
}

func TestWriteReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	k := testKey(t, "example.org", RoleRoot)
	if err := WriteKeyFile(path, k, testPassphrase, fastSeal); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("WriteKeyFile made mode %04o, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(path)

	// O_EXCL: an existing file is never replaced.
	err = WriteKeyFile(path, testKey(t, "example.net", RoleRoot), testPassphrase, fastSeal)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyFile over an existing file: %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("WriteKeyFile changed an existing file")
	}
	// Not even through a symlink to a file that does not exist yet.
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(link, k, testPassphrase, fastSeal); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyFile through a dangling symlink: %v, want fs.ErrExist", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("WriteKeyFile created the symlink's target")
	}

	got, err := ReadKeyFile(path, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().Equal(k.Public()) || got.Role() != RoleRoot {
		t.Errorf("ReadKeyFile = %v %v", got.Role(), got.Public())
	}
	_, err = ReadKeyFile(path, []byte("wrong passphrase"))
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadKeyFile with a wrong passphrase: %v, want ErrWrongPassphrase naming the path", err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o601, 0o610, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadKeyFile(path, testPassphrase)
		mustFail(t, fmt.Sprintf("ReadKeyFile of a mode %04o file", mode), err, "is readable by others")
	}
	for _, mode := range []os.FileMode{0o400, 0o600, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(path, testPassphrase); err != nil {
			t.Errorf("ReadKeyFile of a mode %04o file: %v", mode, err)
		}
	}

	_, err = ReadKeyFile(filepath.Join(dir, "missing"), testPassphrase)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadKeyFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.key")
	if err := WriteNewFile(big, append(before, bytes.Repeat([]byte("x"), MaxKeyFileSize)...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadKeyFile(big, testPassphrase)
	mustFail(t, "ReadKeyFile of a large file", err, "larger than 4096 bytes")
}

func TestWriteNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteNewFile(path, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	err := WriteNewFile(path, []byte("two"), 0o600)
	if !errors.Is(err, fs.ErrExist) || !strings.HasPrefix(err.Error(), "keys: ") {
		t.Errorf("WriteNewFile over an existing file: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one" {
		t.Errorf("file holds %q, want %q", got, "one")
	}
	if err := WriteNewFile(filepath.Join(dir, "no", "such", "dir"), nil, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteNewFile in a missing directory: %v", err)
	}
}
