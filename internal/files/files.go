// Package files holds the two small file operations that the node and the
// command line both need: a bounded read of a file that may be hostile or
// damaged, and making a directory entry durable.
package files

import (
	"fmt"
	"io"
	"os"
)

// ReadAtMost reads the file at path, which must not exceed max bytes: a
// larger file is an error, and no more than max+1 bytes are read.
func ReadAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// SyncDir makes the entries of directory dir durable (fsync), as a
// rename or link into it needs before it can be relied on.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
