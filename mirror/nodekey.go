package mirror

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/keys"
)

// NodeKeyFile is the file in the store directory that holds the node's
// identity key.
const NodeKeyFile = "node.key"

// nodeKeyMagic opens a node key file; a base64 ed25519 seed and a newline
// follow.
const nodeKeyMagic = "samizdat node key v1\n"

// maxNodeKeyFile bounds the node key file read.
const maxNodeKeyFile = 256

// nodeKey reads the node's identity key, making it on first start. It is a
// transport identity, not a publisher key: it signs nothing readers trust,
// so it is kept unencrypted (mode 0600) and the mirror starts unattended.
func nodeKey(path string) (ed25519.PrivateKey, error) {
	data, err := files.ReadAtMost(path, maxNodeKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		return newNodeKey(path)
	}
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(string(data), nodeKeyMagic)
	seed, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(rest, "\n"))
	if !ok || err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("mirror: %s: not a samizdat node key; move it away to make a new one", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// newNodeKey makes a node key file at path. It is written whole to a
// temporary name, then linked into place, so a start killed at any moment
// leaves either no key or a whole one.
func newNodeKey(path string) (ed25519.PrivateKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := keys.WriteNewFile(tmp, []byte(nodeKeyMagic+base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return nil, fmt.Errorf("mirror: node key: %w", err)
	}
	if err := files.SyncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
