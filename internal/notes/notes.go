// Package notes checks that a signed note (golang.org/x/mod/sumdb/note) is
// in canonical form. note.Open accepts a signature whose base64 has
// non-zero padding bits, and skips, unverified, a second signature line by
// a key it has already verified; either way a third party can make other
// bytes that open to the same note. Everything that stores or hashes
// signed notes needs one byte string per note, so it checks them here.
package notes

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const sigPrefix = "\u2014 " // "— ", which starts every signature line

// CheckCanonical reports whether msg, a note that note.Open accepted, has
// every signature in canonical base64 and no key signing it twice.
func CheckCanonical(msg []byte) error {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 || len(msg) == 0 || msg[len(msg)-1] != '\n' {
		return errors.New("malformed note")
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(msg[split+2:len(msg)-1]), "\n") {
		rest, ok := strings.CutPrefix(line, sigPrefix)
		if !ok {
			return errors.New("malformed signature line")
		}
		name, b64, _ := strings.Cut(rest, " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 4 {
			return errors.New("malformed signature line")
		}
		if base64.StdEncoding.EncodeToString(sig) != b64 {
			return fmt.Errorf("signature by %s is not in canonical base64", name)
		}
		key := name + "\x00" + string(sig[:4])
		if seen[key] {
			return fmt.Errorf("key %s signs more than once", name)
		}
		seen[key] = true
	}
	return nil
}
