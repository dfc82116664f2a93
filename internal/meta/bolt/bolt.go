// Package bolt is the embedded metadata store: one bbolt file, used by a
// single mirror process (the file is locked while open).
//
// Bucket layout (all values JSON):
//
//	tags/
//	    <upstream> 0x00 <repo> 0x00 <tag>   → meta.Tag
//	resolutions/
//	    <name>                              → {"upstream": <upstream name>}
//	objects/
//	    <algorithm>:<hex>                   → meta.Object
//
// Tag keys sort by upstream, then repository, then tag, so the tags of one
// repository are one contiguous, sorted range: ListTags is a prefix scan of
// "<upstream>\x00<repo>\x00". The NUL separators cannot occur in upstream
// names, repositories or tags, so "a" never picks up the tags of "a/b" or
// "ab".
//
// Writes are durable (fsync on commit). Each single-record write is one
// transaction (bbolt's Batch would coalesce concurrent writers, but makes a
// lone writer wait for its 10 ms window, and the mirror's writes are few: one
// per fill or tag check). Touch and PutObjects write a whole batch in one
// transaction, so the mirror can flush access times without a disk write
// per hit.
package bolt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/regmirror/regmirror/internal/meta"
)

// ErrLocked is returned by Open when another process (or another DB in this
// process) holds the file.
var ErrLocked = errors.New("metadata database is locked by another process")

// errCorrupt marks a file that is not a usable bbolt database.
var errCorrupt = errors.New("metadata database is corrupt")

// Bucket names.
var (
	bucketTags        = []byte("tags")
	bucketResolutions = []byte("resolutions")
	bucketObjects     = []byte("objects")
	allBuckets        = [][]byte{bucketTags, bucketResolutions, bucketObjects}
)

// Compile-time checks of the interfaces DB implements.
var (
	_ meta.Store         = (*DB)(nil)
	_ meta.ObjectBatcher = (*DB)(nil)
)

// DB is a meta.Store in a bbolt file. It is safe for concurrent use.
type DB struct {
	db          *bbolt.DB
	corruptPath string
}

// Option configures Open.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	now         func() time.Time
}

// WithLockTimeout sets how long Open waits for another holder of the file
// to let go before it fails with ErrLocked. The default is one second.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// WithClock sets the clock that names a corrupt file moved aside
// (path.corrupt-<unix seconds>). The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Open opens (or creates) the metadata database at path and makes sure its
// buckets exist.
//
// If another process holds the file, Open fails after the lock timeout with
// an error wrapping ErrLocked that names the file. If the file is not a
// readable bbolt database (bad meta pages, a failing quick check of the
// bucket roots, bucket names taken by plain keys), Open renames it to
// path.corrupt-<unix time>, creates a fresh database in its place, and
// reports that through Recreated, so that the caller can rebuild the object
// records from the store (meta.Rebuild). Errors of the operating system
// (permissions, a full disk) are returned as they are: they say nothing
// about the file's content.
func Open(path string, opts ...Option) (*DB, error) {
	o := options{lockTimeout: time.Second, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := open(path, o.lockTimeout)
	if err == nil {
		return &DB{db: db}, nil
	}
	if !errors.Is(err, errCorrupt) {
		return nil, err
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, o.now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; moving it aside: %w", err, rerr)
	}
	db, err = open(path, o.lockTimeout)
	if err != nil {
		return nil, fmt.Errorf("recreating metadata database %s after moving the corrupt one to %s: %w", path, aside, err)
	}
	return &DB{db: db, corruptPath: aside}, nil
}

// Recreated reports whether Open found the file corrupt and started a fresh
// database; the old file is at CorruptPath.
func (d *DB) Recreated() bool { return d.corruptPath != "" }

// CorruptPath returns where Open moved a corrupt file, or "".
func (d *DB) CorruptPath() string { return d.corruptPath }

// Path returns the database file's name.
func (d *DB) Path() string { return d.db.Path() }

// Close closes the database and releases its lock.
func (d *DB) Close() error { return d.db.Close() }

// open opens path, creates the buckets and checks the bucket roots. Errors
// that show the file is unusable wrap errCorrupt.
func open(path string, lockTimeout time.Duration) (db *bbolt.DB, err error) {
	// Keep the file bbolt opens, to close it (and so release its lock) if
	// bbolt panics half-way.
	var file *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		// bbolt panics on some malformed pages (a bad freelist, a bad branch
		// page) instead of returning an error.
		if p := recover(); p != nil {
			if file != nil {
				// The lock belongs to the open file description, which bbolt's
				// memory map keeps alive after Close: unlock explicitly. The
				// map itself leaks, once, for a file Open moves aside.
				_ = unlock(file) // the database is unusable either way
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: %v", errCorrupt, path, p)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, OpenFile: openFile})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, classify(path, err)
	}
	if err := setup(db); err != nil {
		_ = db.Close() // the setup error is the one to report
		return nil, classify(path, err)
	}
	return db, nil
}

// setup creates missing buckets and touches the first and last key of each,
// a quick check that the bucket roots are readable pages.
func setup(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			c := b.Cursor()
			c.First()
			c.Last()
		}
		return nil
	})
}

// classify wraps errCorrupt around errors about the file's content, and
// leaves errors of the operating system alone.
func classify(path string, err error) error {
	var errno syscall.Errno
	var pathErr *os.PathError
	if errors.As(err, &errno) || errors.As(err, &pathErr) {
		return fmt.Errorf("open metadata database %s: %w", path, err)
	}
	return fmt.Errorf("%w: %s: %w", errCorrupt, path, err)
}
