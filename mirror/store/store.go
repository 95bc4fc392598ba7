// Package store keeps publishers' catalogs and bundles in a directory: the
// same format on a publisher's machine and on a mirror.
//
// Catalog state (key statements, leaves, tree hashes, article index,
// checkpoints) lives in one bbolt database, changed only in transactions.
// Bundles are content-addressed files. An update's bundle files are named
// in the database as intents first, then written under their final names
// and flushed to disk (one syncfs for a whole update) before the
// transaction that records them commits; a file no committed transaction
// records is a leftover that nothing reads, and that Open removes, found
// through the intents in time proportional to the one interrupted update.
// So after a crash at any moment the store opens, quickly, and everything
// it records is present and whole.
//
// Apply verifies everything before it is stored: the key statement against
// the pinned root key, every leaf against the log's rules, the checkpoint's
// signature and root hash, and every bundle. A *Store is safe for concurrent
// use; writers are serialized.
package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	gosync "sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/keys"
)

// ErrNotFound is returned for a publisher, article or bundle the store does
// not hold.
var ErrNotFound = errors.New("store: not found")

// ErrNotStore is returned by Open for a directory that is not a store.
var ErrNotStore = errors.New("store: not a samizdat store (no store.db)")

// ErrQuota is wrapped when an update would take a publisher's bundles past
// the store's quota. Nothing of the update is stored.
var ErrQuota = errors.New("store: over quota")

// ErrStale is wrapped when an update's checkpoint is older than the
// store's: fewer leaves or an earlier time, as catalog.Judge decides. The
// error wraps catalog.ErrRollback too.
var ErrStale = errors.New("store: checkpoint is older than the one stored")

const (
	dbName     = "store.db"
	bundlesDir = "bundles"
	tmpDir     = "tmp"
)

var (
	bktPubs    = []byte("publishers")
	bktBundles = []byte("bundles")
	bktGarbage = []byte("garbage")
	bktIntents = []byte("intents") // bundle files being written: see Store.write

	keyRoot       = []byte("root")
	keyStatement  = []byte("statement")
	keyCheckpoint = []byte("checkpoint")
	keySize       = []byte("size")
	keyKeyVersion = []byte("key-version")
	keyMirrorVer  = []byte("mirror-version")
	keyMirrorLeaf = []byte("mirror-leaf") // index of the newest mirror-list leaf
	keyBytes      = []byte("bytes")       // size of the publisher's stored bundles
	bktLeaves     = []byte("leaves")
	bktHashes     = []byte("hashes")
	bktArticles   = []byte("articles")
)

// Options tunes Open. A nil *Options means the defaults.
type Options struct {
	// Create makes an empty store if there is none. The directory must be
	// missing or empty: a store is never spread over a folder of other files.
	Create bool
	// ReadOnly opens the store for reading only (Apply fails), so it can be
	// checked where it cannot be written, and while nothing else writes.
	ReadOnly bool
	// Logger receives what the store does; nil means silent.
	Logger *slog.Logger
	// Limits bound bundles given to Apply; nil means bundle.DefaultLimits.
	Limits *bundle.Limits
	// Quota bounds the bytes of one publisher's stored bundles; an update
	// that would pass it fails with ErrQuota. Zero means no quota.
	Quota int64
	// Now is the store's clock, which dates the article index's history
	// (IndexHistoryAge); nil means time.Now.
	Now func() time.Time
	// OnChange, if set, is called with a publisher's ID after every Apply
	// that changed its part of the store, once the change is durable. It
	// runs on the writer's goroutine and must be quick.
	OnChange func(publisherID string)
}

// Store is an open store directory.
type Store struct {
	dir  string
	db   *bolt.DB
	log  *slog.Logger
	lim  *bundle.Limits
	wmu  gosync.Mutex // serializes Apply
	gcmu gosync.Mutex

	readOnly bool
	quota    int64
	onChange func(string)
	now      func() time.Time
	roots    gosync.Map // root key text -> *keys.PublicKey, parsed once
}

// Open opens the store in dir. Another process holding it open makes Open
// fail after a second.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dbPath := filepath.Join(dir, dbName)
	if _, err := os.Stat(dbPath); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: %w", err)
		}
		if !o.Create || o.ReadOnly {
			return nil, fmt.Errorf("%w: %s", ErrNotStore, dir)
		}
		if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("store: %s is not empty and holds no store; give a new or empty directory", dir)
		}
	}
	if !o.ReadOnly {
		// Only the directory itself before store.db exists: a start
		// killed before the database is made leaves the directory empty,
		// which the next Open accepts. The rest is made once it does.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	db, err := bolt.Open(dbPath, 0o644, &bolt.Options{Timeout: time.Second, ReadOnly: o.ReadOnly})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("store: opening %s: %w", dbPath, err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{dir: dir, db: db, log: o.Logger, lim: o.Limits, readOnly: o.ReadOnly, quota: o.Quota, onChange: o.OnChange, now: o.Now}
	if o.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bktPubs, bktBundles, bktGarbage} {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("%w: %s (damaged or never written)", ErrNotStore, dir)
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.prepare(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// prepare readies a store opened for writing and cleans up after an
// interrupted one, in time that does not grow with the store: it makes
// what is missing (buckets, folders), empties tmp/, removes the files that
// an interrupted Apply left (named by its intents) and the superseded
// bundles not yet deleted (named by the garbage bucket). A store made by
// an earlier version, which kept no intents, has its bundle files listed
// once instead, the first time it is opened.
func (s *Store) prepare() error {
	all := [][]byte{bktPubs, bktBundles, bktGarbage, bktIntents}
	var missing [][]byte
	s.db.View(func(tx *bolt.Tx) error {
		for _, b := range all {
			if tx.Bucket(b) == nil {
				missing = append(missing, b)
			}
		}
		return nil
	})
	// The 256 fan-out folders are made once here, not per bundle, and
	// spread over the disk (see spreadSubdirs) when bundles/ is new.
	if err := makeBundlesDir(filepath.Join(s.dir, bundlesDir)); err != nil {
		return err
	}
	dirs := []string{filepath.Join(s.dir, tmpDir)}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, filepath.Join(s.dir, bundlesDir, fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	// Temporary files of earlier versions, which wrote bundles to tmp/
	// first: nothing reads them.
	if tmps, err := os.ReadDir(filepath.Join(s.dir, tmpDir)); err == nil {
		for _, t := range tmps {
			os.Remove(filepath.Join(s.dir, tmpDir, t.Name()))
		}
	}
	switch {
	case len(missing) == 0:
		if err := s.cleanIntents(); err != nil {
			return err
		}
	case slices.ContainsFunc(missing, func(b []byte) bool { return bytes.Equal(b, bktPubs) }):
		// A new store: nothing to clean.
	case slices.ContainsFunc(missing, func(b []byte) bool { return bytes.Equal(b, bktIntents) }):
		// Made by an earlier version: its leftovers are found by listing
		// the files, once, before the intents bucket says they need not be.
		if err := s.removeUnreferenced(); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, b := range missing {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := s.buildIndexes(); err != nil {
		return err
	}
	return s.collectGarbage()
}

// cleanIntents removes the bundle files that an interrupted Apply (see
// Store.write) was writing and that no record holds, and then forgets the
// intents: work in proportion to that one batch. Files it records stay:
// its commit happened.
func (s *Store) cleanIntents() error {
	var intents, left []bundle.Digest
	s.db.View(func(tx *bolt.Tx) error {
		bb := tx.Bucket(bktBundles)
		return tx.Bucket(bktIntents).ForEach(func(k, _ []byte) error {
			var d bundle.Digest
			if copy(d[:], k) == len(d) {
				intents = append(intents, d)
				if bb.Get(k) == nil {
					left = append(left, d)
				}
			}
			return nil
		})
	})
	if len(intents) == 0 {
		return nil
	}
	s.log.Info("store: removing the bundle files an interrupted update left", "files", len(left), "of", len(intents))
	for _, d := range left {
		if err := os.Remove(s.bundlePath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: removing an unrecorded bundle file: %w", err)
		}
	}
	// The removals reach the disk before the intents that name them are
	// forgotten, or a power cut could bring back files nothing names.
	if len(left) > 0 {
		if err := s.syncfs(); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bktIntents)
		for _, d := range intents {
			if err := ib.Delete(d[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// makeBundlesDir makes the bundles folder if it is missing, asking the file
// system to spread its subfolders apart.
func makeBundlesDir(dir string) error {
	switch err := os.Mkdir(dir, 0o755); {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	spreadSubdirs(dir)
	return nil
}

// spreadSubdirs sets ext4's "top of directory hierarchy" flag (chattr +T)
// on dir, so that the folders made in it are placed in different block
// groups, as top-level folders are, and the files made in each of them
// too: creating thousands of bundle files then does not crowd one
// group. That matters on ext4 without a journal, which, to pick a new
// file's inode, skips every inode of the group freed in the last 30 s,
// one by one: a store made where another was just deleted otherwise
// takes hundreds of microseconds a file. It is a hint: where the flag is
// unknown, nothing changes.
func spreadSubdirs(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag))
}

// fsTopdirFlag is FS_TOPDIR_FL of linux/fs.h.
const fsTopdirFlag = 0x00020000

// removeUnreferenced deletes every bundle file that no committed
// transaction records: what a crash between its write and the commit left
// behind, whole or not, in a store of an earlier version, which recorded
// no intents. It lists every bundle file, so it runs once a store.
func (s *Store) removeUnreferenced() error {
	dirs, err := os.ReadDir(filepath.Join(s.dir, bundlesDir))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	removed := 0
	s.db.View(func(tx *bolt.Tx) error {
		bb := tx.Bucket(bktBundles)
		if bb == nil {
			return nil // a damaged store: delete nothing
		}
		for _, d := range dirs {
			files, err := os.ReadDir(filepath.Join(s.dir, bundlesDir, d.Name()))
			if err != nil {
				continue
			}
			for _, f := range files {
				dg, err := bundle.ParseDigest(f.Name())
				if err != nil || bb.Get(dg[:]) != nil {
					continue
				}
				s.log.Info("store: removing bundle file no transaction recorded", "digest", f.Name())
				if os.Remove(filepath.Join(s.dir, bundlesDir, d.Name(), f.Name())) == nil {
					removed++
				}
			}
		}
		return nil
	})
	// The removals reach the disk before the intents bucket says that
	// no file needs looking for.
	if removed > 0 {
		return s.syncfs()
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Quota returns the bound on one publisher's stored bundles, in bytes
// (Options.Quota); zero means none.
func (s *Store) Quota() int64 { return s.quota }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func (s *Store) bundlePath(d bundle.Digest) string {
	h := d.String()
	return filepath.Join(s.dir, bundlesDir, h[:2], h)
}

// Publishers returns the IDs of the publishers the store holds, sorted.
func (s *Store) Publishers() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktPubs).ForEachBucket(func(k []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// Publisher is what the store holds about one publisher's log.
type Publisher struct {
	ID         string
	Root       *keys.PublicKey
	Statement  []byte // signed key statement
	Checkpoint []byte // signed checkpoint; nil for an empty log
	Size       int64  // number of leaves
	Bytes      int64  // size of the publisher's stored bundles
}

// Publisher returns the state of one publisher's log.
func (s *Store) Publisher(pub string) (*Publisher, error) {
	var p *Publisher
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		var err error
		p, err = s.readPublisher(pub, b)
		return err
	})
	return p, err
}

func (s *Store) readPublisher(id string, b *bolt.Bucket) (*Publisher, error) {
	text := string(b.Get(keyRoot))
	var root *keys.PublicKey
	if k, ok := s.roots.Load(text); ok {
		root = k.(*keys.PublicKey)
	} else {
		var err error
		if root, err = keys.ParsePublicKey(text); err != nil {
			return nil, fmt.Errorf("store: publisher %s: damaged root key: %w", id, err)
		}
		s.roots.Store(text, root)
	}
	p := &Publisher{ID: id, Root: root, Statement: bytes.Clone(b.Get(keyStatement)), Checkpoint: bytes.Clone(b.Get(keyCheckpoint))}
	p.Size = sizeOf(b)
	p.Bytes = int64(getU64(b, keyBytes))
	return p, nil
}

// bundleRecord decodes a bundles bucket value: the publisher's ID and the
// bundle's size.
func bundleRecord(v []byte) (id string, size int64, ok bool) {
	if len(v) < 8 {
		return "", 0, false
	}
	return string(v[:len(v)-8]), int64(binary.BigEndian.Uint64(v[len(v)-8:])), true
}

// sizeOf returns the number of leaves in a publisher's bucket.
func sizeOf(b *bolt.Bucket) int64 { return int64(getU64(b, keySize)) }

// getU64 reads a big-endian counter; a missing one is zero.
func getU64(b *bolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Trust returns the trust that the publisher's stored key statement gives,
// verified against root, which must be the publisher's pinned root key.
func (s *Store) Trust(root *keys.PublicKey) (*keys.Trust, error) {
	p, err := s.Publisher(root.ID())
	if err != nil {
		return nil, err
	}
	if !p.Root.Equal(root) {
		return nil, fmt.Errorf("store: publisher %s is stored under root key %s, not %s", p.ID, p.Root, root)
	}
	return keys.NewTrust(root, p.Statement)
}

// Leaves returns leaves [from, to) of a publisher's log.
func (s *Store) Leaves(pub string, from, to int64) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		lb := b.Bucket(bktLeaves)
		for i := from; i < to; i++ {
			v := lb.Get(u64(uint64(i)))
			if v == nil {
				return fmt.Errorf("%w: leaf %d of publisher %s", ErrNotFound, i, pub)
			}
			out = append(out, bytes.Clone(v))
		}
		return nil
	})
	return out, err
}

// Article returns the state of one article.
func (s *Store) Article(pub, id string) (*catalog.Article, error) {
	var a *catalog.Article
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		a = decodeArticle(id, b.Bucket(bktArticles).Get([]byte(id)))
		if a == nil {
			return fmt.Errorf("%w: article %q", ErrNotFound, id)
		}
		return nil
	})
	return a, err
}

// Articles returns the state of every article of a publisher, most recently
// changed first.
func (s *Store) Articles(pub string) ([]catalog.Article, error) {
	var out []catalog.Article
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		return b.Bucket(bktArticles).ForEach(func(k, v []byte) error {
			if a := decodeArticle(string(k), v); a != nil {
				out = append(out, *a)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Leaf > out[j].Leaf })
	return out, err
}

// RecentArticles returns up to n of a publisher's articles whose current
// state was set by a leaf below index before, most recently changed first
// (the order of Articles). Before at the log's size (or above) gives the
// newest; the Leaf of the last article returned is the before of the next
// page. It reads the log backwards from leaf before-1 and stops once it has
// n articles, so a page costs about n lookups however many articles the
// publisher has. Read in one transaction, a page is consistent; pages read
// at different times may miss or repeat an article changed in between.
func (s *Store) RecentArticles(pub string, before int64, n int) ([]catalog.Article, error) {
	var out []catalog.Article
	if n <= 0 || before <= 0 {
		return nil, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		ab, lb := b.Bucket(bktArticles), b.Bucket(bktLeaves)
		if ab == nil || lb == nil {
			return nil
		}
		c := lb.Cursor()
		k, v := c.Seek(u64(uint64(before)))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < n; k, v = c.Prev() {
			if len(k) != 8 || len(v) < 2 || (catalog.Kind(v[0]) != catalog.KindBundle && catalog.Kind(v[0]) != catalog.KindRetraction) || len(v) < 2+int(v[1]) {
				continue // key statements and mirror lists
			}
			leaf := int64(binary.BigEndian.Uint64(k))
			art := v[2 : 2+int(v[1])]
			if a := decodeArticle(string(art), ab.Get(art)); a != nil && a.Leaf == leaf {
				out = append(out, *a)
			}
		}
		return nil
	})
	return out, err
}

// ArticleLeaves returns the index of the leaf that set each of a
// publisher's articles' current state, most recent first (one per article,
// in the order of Articles), and how many of the articles are retracted:
// what a list needs to count its articles and find where each page starts
// (see RecentArticles), at 8 bytes an article.
func (s *Store) ArticleLeaves(pub string) (leaves []int64, retracted int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		ab := b.Bucket(bktArticles)
		if ab == nil {
			return nil
		}
		return ab.ForEach(func(_, v []byte) error {
			if len(v) == articleRecordLen {
				leaves = append(leaves, int64(binary.BigEndian.Uint64(v[40:])))
				if v[48] == 1 {
					retracted++
				}
			}
			return nil
		})
	})
	slices.SortFunc(leaves, func(a, b int64) int { return cmp.Compare(b, a) })
	return leaves, retracted, err
}

func encodeArticle(a *catalog.Article) []byte {
	b := binary.BigEndian.AppendUint64(nil, a.Revision)
	b = append(b, a.Digest[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Leaf))
	r := byte(0)
	if a.Retracted {
		r = 1
	}
	b = append(b, r)
	return binary.BigEndian.AppendUint64(b, uint64(a.Time.Unix()))
}

// articleRecordLen is the size of an articles bucket value: revision,
// digest, leaf, retracted flag, retraction time.
const articleRecordLen = 8 + 32 + 8 + 1 + 8

func decodeArticle(id string, v []byte) *catalog.Article {
	if len(v) != articleRecordLen {
		return nil
	}
	a := &catalog.Article{ID: id, Revision: binary.BigEndian.Uint64(v)}
	copy(a.Digest[:], v[8:40])
	a.Leaf = int64(binary.BigEndian.Uint64(v[40:]))
	a.Retracted = v[48] == 1
	if a.Retracted {
		a.Time = time.Unix(int64(binary.BigEndian.Uint64(v[49:])), 0).UTC()
	}
	return a
}

// MissingBundles returns the digests of the publisher's current articles
// (not retracted) whose bundles the store does not hold yet, read in one
// transaction: what a mirror still has to fetch.
func (s *Store) MissingBundles(pub string) ([]bundle.Digest, error) {
	var out []bundle.Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktPubs).Bucket([]byte(pub))
		if b == nil {
			return fmt.Errorf("%w: publisher %s", ErrNotFound, pub)
		}
		bb := tx.Bucket(bktBundles)
		ab := b.Bucket(bktArticles)
		if ab == nil {
			return nil
		}
		return ab.ForEach(func(k, v []byte) error {
			if a := decodeArticle(string(k), v); a != nil && !a.Retracted && bb.Get(a.Digest[:]) == nil {
				out = append(out, a.Digest)
			}
			return nil
		})
	})
	return out, err
}

// HasBundle reports whether the store holds the bundle.
func (s *Store) HasBundle(d bundle.Digest) bool {
	has := false
	s.db.View(func(tx *bolt.Tx) error {
		has = tx.Bucket(bktBundles).Get(d[:]) != nil
		return nil
	})
	return has
}

// BundleSize returns the size of a bundle the store holds, from its
// record, without reading the bundle.
func (s *Store) BundleSize(d bundle.Digest) (int64, bool) {
	var size int64
	var ok bool
	s.db.View(func(tx *bolt.Tx) error {
		_, size, ok = bundleRecord(tx.Bucket(bktBundles).Get(d[:]))
		return nil
	})
	return size, ok
}

// Bundle returns a bundle's bytes as stored. They were verified when
// stored; Check verifies them again.
func (s *Store) Bundle(d bundle.Digest) ([]byte, error) {
	if !s.HasBundle(d) {
		return nil, fmt.Errorf("%w: bundle %s", ErrNotFound, d)
	}
	data, err := os.ReadFile(s.bundlePath(d))
	if errors.Is(err, fs.ErrNotExist) && !s.HasBundle(d) {
		// Collected since HasBundle: superseded or withdrawn just now.
		return nil, fmt.Errorf("%w: bundle %s", ErrNotFound, d)
	}
	if err != nil {
		return nil, fmt.Errorf("store: bundle %s: %w", d, err)
	}
	return data, nil
}

// hashReader reads a publisher's stored tree hashes within tx, with pending
// hashes (not yet written) from index base on.
func hashReader(b *bolt.Bucket, base int64, pending []tlog.Hash) tlog.HashReaderFunc {
	return func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= base && x-base < int64(len(pending)) {
				out[i] = pending[x-base]
				continue
			}
			var v []byte
			if b != nil {
				v = b.Get(u64(uint64(x)))
			}
			if len(v) != tlog.HashSize {
				return nil, fmt.Errorf("store: tree hash %d missing", x)
			}
			copy(out[i][:], v)
		}
		return out, nil
	}
}

// InclusionProof proves leaf n is in the publisher's log of the given size.
func (s *Store) InclusionProof(pub string, n, size int64) (tlog.RecordProof, error) {
	var p tlog.RecordProof
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := s.pubForProof(tx, pub, size)
		if err != nil {
			return err
		}
		if n < 0 || n >= size {
			return fmt.Errorf("store: leaf %d not in a log of size %d", n, size)
		}
		p, err = tlog.ProveRecord(size, n, hashReader(b.Bucket(bktHashes), 0, nil))
		return err
	})
	return p, err
}

// ConsistencyProof proves the publisher's log of size newer extends its log
// of size older.
func (s *Store) ConsistencyProof(pub string, older, newer int64) (tlog.TreeProof, error) {
	var p tlog.TreeProof
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := s.pubForProof(tx, pub, newer)
		if err != nil {
			return err
		}
		if older <= 0 || older > newer {
			return fmt.Errorf("store: no consistency proof from size %d to %d", older, newer)
		}
		p, err = tlog.ProveTree(newer, older, hashReader(b.Bucket(bktHashes), 0, nil))
		return err
	})
	return p, err
}

func (s *Store) pubForProof(tx *bolt.Tx, id string, size int64) (*bolt.Bucket, error) {
	b := tx.Bucket(bktPubs).Bucket([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("%w: publisher %s", ErrNotFound, id)
	}
	if have := sizeOf(b); size > have {
		return nil, fmt.Errorf("store: log of publisher %s has %d leaves, not %d", id, have, size)
	}
	return b, nil
}

// collectGarbage deletes bundle files that a committed transaction no
// longer references.
func (s *Store) collectGarbage() error {
	s.gcmu.Lock()
	defer s.gcmu.Unlock()
	var garbage []bundle.Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktGarbage).ForEach(func(k, _ []byte) error {
			var d bundle.Digest
			copy(d[:], k)
			garbage = append(garbage, d)
			return nil
		})
	})
	if err != nil || len(garbage) == 0 {
		return err
	}
	for _, d := range garbage {
		if err := os.Remove(s.bundlePath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: removing bundle: %w", err)
		}
	}
	// The removals reach the disk before the entries that name them are
	// dropped, or a power cut could bring back files nothing names.
	if err := s.syncfs(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		g := tx.Bucket(bktGarbage)
		for _, d := range garbage {
			if err := g.Delete(d[:]); err != nil {
				return err
			}
		}
		return nil
	})
}
