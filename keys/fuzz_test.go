package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// The fuzz targets check, for every parser, that it never panics and that
// whatever it accepts is in canonical form: encoding the parsed value again
// gives back the input. They start from the test vectors.

func FuzzParsePublicKey(f *testing.F) {
	v := loadVectors(f)
	for _, pv := range v.PublicKeys {
		f.Add(pv.PublicKey)
	}
	for _, iv := range v.InvalidPublicKeys {
		f.Add(iv.PublicKey)
	}
	f.Add(" " + v.PublicKeys[0].PublicKey + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParsePublicKey(text)
		if err != nil {
			if k != nil {
				t.Fatal("key and error both returned")
			}
			if !errors.Is(err, ErrInvalidKey) || !strings.HasPrefix(err.Error(), "keys: ") {
				t.Fatalf("error %v: want ErrInvalidKey", err)
			}
			return
		}
		if k.String() != strings.TrimSpace(text) {
			t.Fatalf("ParsePublicKey(%q) accepted a key whose text form is %q", text, k)
		}
		if err := CheckPoint(k.Raw()); err != nil {
			t.Fatalf("accepted a key CheckPoint refuses: %v", err)
		}
		k2, err := NewPublicKey(k.Name(), k.Raw())
		if err != nil || !k2.Equal(k) || k2.KeyHash() != k.KeyHash() {
			t.Fatalf("NewPublicKey of the parsed key: %v", err)
		}
		nv, err := note.NewVerifier(k.String())
		if err != nil || nv.Name() != k.Name() || nv.KeyHash() != k.KeyHash() {
			t.Fatalf("note disagrees about %q: %v", k, err)
		}
	})
}

// fuzzKeyFile re-encodes a parsed key file's header and sealed data.
func fuzzKeyFile(info *KeyFileInfo) []byte {
	return fmt.Appendf(nil, "%s\nrole %s\nkey %s\nkdf scrypt %d %d %d %s\nsealed %s\n",
		keyFileMagic, info.Role, info.Public, info.ScryptLogN, scryptR, scryptP,
		base64.StdEncoding.EncodeToString(info.salt), base64.StdEncoding.EncodeToString(info.sealed))
}

// FuzzParseKeyFile parses key files and opens those at the cheapest scrypt
// cost with the vectors' passphrase. An opened file must seal back to the
// same bytes with its own salt and nonce.
func FuzzParseKeyFile(f *testing.F) {
	v := loadVectors(f)
	for _, kv := range v.KeyFiles {
		f.Add([]byte(kv.File))
	}
	for _, iv := range v.InvalidKeyFiles {
		f.Add([]byte(iv.File))
	}
	pass := []byte(v.KeyFiles[0].Passphrase)
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseKeyFile(data)
		if err != nil {
			if info != nil {
				t.Fatal("info and error both returned")
			}
			return
		}
		if enc := fuzzKeyFile(info); !bytes.Equal(enc, data) {
			t.Fatalf("ParseKeyFile accepted\n%q\nwhich re-encodes as\n%q", data, enc)
		}
		// The AEAD's additional data is the first four lines, exactly.
		if !bytes.HasPrefix(data, info.header) || !bytes.HasPrefix(data[len(info.header):], []byte("sealed ")) {
			t.Fatalf("header %q is not the file's first four lines", info.header)
		}
		if info.ScryptLogN != MinScryptLogN {
			return // too slow to open while fuzzing
		}
		k, err := OpenKeyFile(data, pass)
		if err != nil {
			if k != nil {
				t.Fatal("key and error both returned")
			}
			return
		}
		if !k.Public().Equal(info.Public) || k.Role() != info.Role {
			t.Fatalf("opened key %v %v, file says %v %v", k.Role(), k.Public(), info.Role, info.Public)
		}
		rnd := append(bytes.Clone(info.salt), info.sealed[:24]...)
		again, err := Seal(k, pass, &SealOptions{ScryptLogN: info.ScryptLogN, Rand: bytes.NewReader(rnd)})
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("file\n%q\nseals again as\n%q (%v)", data, again, err)
		}
	})
}

// FuzzOpenStatement opens statements against the vectors' root key. As the
// fuzzer cannot forge signatures, it also signs its input (when it is note
// text) with the root key and opens that, and runs the text parser alone.
func FuzzOpenStatement(f *testing.F) {
	v := loadVectors(f)
	for _, sv := range v.Statements {
		f.Add([]byte(sv.Signed))
		f.Add([]byte(sv.Text))
	}
	for _, iv := range v.InvalidStatements {
		f.Add([]byte(iv.Signed))
	}
	fx := newFixture(f)
	if fx.root.Public().String() != v.Statements[0].Publisher {
		f.Fatal("the fixture's root key is not the vectors' root key")
	}
	root := fx.root
	f.Fuzz(func(t *testing.T, data []byte) {
		open := func(signed []byte) {
			s, err := OpenStatement(signed, root.Public())
			if err != nil {
				var se *StatementError
				if s != nil || !errors.As(err, &se) {
					t.Fatalf("OpenStatement: %v, %v; want only a *StatementError", s, err)
				}
				return
			}
			again, err := s.Sign(root)
			if err != nil || !bytes.Equal(again, signed) {
				t.Fatalf("OpenStatement accepted\n%q\nwhich signs again as\n%q (%v)", signed, again, err)
			}
			trust, err := NewTrust(root.Public(), signed)
			if err != nil {
				t.Fatalf("NewTrust of an opened statement: %v", err)
			}
			for _, d := range s.Keys {
				if _, err := trust.Authorize(d.Key.Raw(), d.NotBefore); err != nil {
					t.Fatalf("delegated key not authorized at the start of its window: %v", err)
				}
				if _, err := trust.Authorize(d.Key.Raw(), d.NotAfter); err == nil {
					t.Fatal("delegated key authorized at the end of its window")
				}
			}
			for _, k := range s.Revoked {
				if _, err := trust.SigningKey(k.Raw()); err == nil {
					t.Fatal("revoked key trusted")
				}
			}
		}
		open(data)
		if bytes.HasSuffix(data, []byte("\n")) {
			if signed, err := note.Sign(&note.Note{Text: string(data)}, root); err == nil {
				open(signed)
			}
		}
		if s, err := parseStatement(string(data)); err == nil {
			if text, err := s.Text(); err != nil || text != string(data) {
				t.Fatalf("parseStatement accepted\n%q\nwhose text is\n%q (%v)", data, text, err)
			}
		}
	})
}
