package static

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Object is one file of an export and the headers it is to be served
// with.
type Object struct {
	// Name is the file's path under the export's root, slash-separated
	// ("p/ID/checkpoint").
	Name string
	// Type and Cache are the Content-Type and Cache-Control a bucket
	// serves it with. A plain file server chooses the type by Name's
	// extension, which is why Name's extension always gives a safe one.
	Type, Cache string
}

// Sink is where an export goes: a directory (Dir) or an S3 bucket (S3).
// Export calls it from one goroutine.
type Sink interface {
	// List returns the names of every object the sink holds.
	List(ctx context.Context) (map[string]bool, error)
	// Put writes an object whole; a reader sees the old object or the
	// new one, never a part.
	Put(ctx context.Context, o Object, data []byte) error
	// Get reads an object of at most max bytes; a missing one is an
	// error wrapping fs.ErrNotExist.
	Get(ctx context.Context, name string, max int64) ([]byte, error)
	// Delete removes objects; missing ones are no error.
	Delete(ctx context.Context, names []string) error
	// Sync makes every object put so far durable, before the
	// checkpoints that point at them are put.
	Sync(ctx context.Context) error
	// String names the sink in messages.
	String() string
}

// Dir is a Sink writing files under a directory. Every file is written
// to a temporary file beside it and renamed into place.
type Dir struct {
	root    string
	written []string // files put since the last Sync
}

// fsyncFiles is the most files put since the last Sync that Sync flushes
// one by one (with their directories); beyond it, it flushes the whole
// file system at once.
const fsyncFiles = 256

// NewDir returns a Sink writing under dir, which it creates if missing.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return &Dir{root: dir}, nil
}

// tmpPrefix starts the temporary files Dir writes; List skips them and
// removes the ones an interrupted export left.
const tmpPrefix = ".samizdat-tmp-"

func (d *Dir) String() string { return d.root }

func (d *Dir) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

// List walks the directory.
func (d *Dir) List(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return ctx.Err()
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(p)
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: listing %s: %w", d.root, err)
	}
	return out, nil
}

// Put writes a temporary file in the object's directory and renames it
// into place.
func (d *Dir) Put(ctx context.Context, o Object, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := d.path(o.Name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("static: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("static: writing %s: %w", p, err)
	}
	d.written = append(d.written, p)
	return nil
}

// Get reads a file.
func (d *Dir) Get(ctx context.Context, name string, max int64) ([]byte, error) {
	f, err := os.Open(d.path(name))
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("static: %s is larger than %d bytes", d.path(name), max)
	}
	return b, nil
}

// Delete removes files, and the directories it leaves empty.
func (d *Dir) Delete(ctx context.Context, names []string) error {
	dirs := map[string]bool{}
	for _, n := range names {
		if err := os.Remove(d.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("static: %w", err)
		}
		dirs[filepath.Dir(d.path(n))] = true
	}
	for dir := range dirs {
		for dir != d.root && strings.HasPrefix(dir, d.root) {
			if os.Remove(dir) != nil {
				break
			}
			dir = filepath.Dir(dir)
		}
	}
	return nil
}

// Sync makes the files put since the last Sync durable: each file and
// its directory by fsync when there are few (up to fsyncFiles), else the
// whole file system the directory is on at once (syncfs). A checkpoint
// written after it cannot outlive, in a crash, the files it points at.
func (d *Dir) Sync(ctx context.Context) error {
	if len(d.written) == 0 {
		return nil
	}
	if len(d.written) > fsyncFiles {
		if err := fsync(d.root, true); err != nil {
			return err
		}
		d.written = d.written[:0]
		return nil
	}
	dirs := map[string]bool{}
	for _, p := range d.written {
		if err := fsync(p, false); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since (by an export, or by hand): nothing to flush
			}
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for dir := range dirs {
		if err := fsync(dir, false); err != nil {
			return err
		}
	}
	d.written = d.written[:0]
	return nil
}

// fsync flushes a file or directory, or with all set the whole file
// system it is on.
func fsync(p string, all bool) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	defer f.Close()
	if all {
		err = unix.Syncfs(int(f.Fd()))
	} else {
		err = f.Sync()
	}
	if err != nil {
		return fmt.Errorf("static: syncing %s: %w", p, err)
	}
	return nil
}

// NewSink returns the Sink an export target names: s3://BUCKET/PREFIX
// for a bucket, reached as s3 says (its Bucket and Prefix are taken from
// target), or else a directory. s3 may be nil for a directory; an
// endpoint or AllowHTTP given with a directory is an error, since it
// would be silently unused.
func NewSink(target string, s3 *S3Config) (Sink, error) {
	if target == "" {
		return nil, errors.New("static: no export target: want a directory or s3://BUCKET/PREFIX")
	}
	var cfg S3Config
	if s3 != nil {
		cfg = *s3
	}
	if !strings.HasPrefix(target, "s3://") {
		if cfg.Endpoint != "" || cfg.AllowHTTP {
			return nil, fmt.Errorf("static: an S3 endpoint is given, but %q is a directory, not s3://BUCKET/PREFIX", target)
		}
		return NewDir(target)
	}
	var err error
	if cfg.Bucket, cfg.Prefix, err = ParseS3URL(target); err != nil {
		return nil, err
	}
	return NewS3(&cfg)
}
