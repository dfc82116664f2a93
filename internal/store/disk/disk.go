// Package disk is the default content store: one file per object on the
// local filesystem, named by its digest.
//
// Layout under the root directory given to New:
//
//	<root>/
//	├── blobs/
//	│   ├── sha256/
//	│   │   ├── 00/
//	│   │   │   └── 00a1…e9          one file per object: blobs/<algorithm>/<first two hex>/<hex>
//	│   │   └── ff/
//	│   └── sha512/
//	│       └── 3c/
//	│           └── 3c9f…01
//	└── ingest/
//	    └── put-1234567890           temporary files being written (Put), removed on
//	                                 error; leftovers from a crash go with CleanIngest
//
// The two-hex fan-out keeps directories at a few thousand entries for a
// million objects. Objects appear in blobs/ only by rename(2) from ingest/,
// which is on the same filesystem, so a reader never sees a partial object.
//
// Durability: Put and Import fsync the file before renaming it into place.
// Without that, a power loss shortly after the rename can leave a file that
// has its final name but no (or partial) content on filesystems that commit
// metadata before data, and the mirror would then serve it as verified
// content. The parent directory is not fsynced: a crash may lose a fresh
// rename, which only costs a refetch.
package disk

import (
	"context"
	// go-digest only knows the algorithms whose hash is linked in.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
)

// Names of the directories under the root, and the prefix of Put's temporary
// files.
const (
	blobsDir     = "blobs"
	ingestDir    = "ingest"
	ingestPrefix = "put-"
	// copyBufSize is the size of the pooled copy buffers: large enough that
	// a multi-GiB layer is written in few syscalls.
	copyBufSize = 1 << 20
)

// Compile-time checks of the interfaces the disk store implements.
var (
	_ store.Store        = (*Store)(nil)
	_ store.FileImporter = (*Store)(nil)
	_ store.Deleter      = (*Store)(nil)
	_ store.Walker       = (*Store)(nil)
)

// Store is a content-addressed store in a local directory. It is safe for
// concurrent use, also by several processes sharing the directory.
type Store struct {
	root    string
	blobs   string
	ingest  string
	bufPool sync.Pool // of *[]byte, copyBufSize each
}

// New returns a store rooted at root, creating root/blobs and root/ingest if
// needed.
func New(root string) (*Store, error) {
	root = filepath.Clean(root)
	s := &Store{
		root:   root,
		blobs:  filepath.Join(root, blobsDir),
		ingest: filepath.Join(root, ingestDir),
	}
	s.bufPool.New = func() any {
		b := make([]byte, copyBufSize)
		return &b
	}
	for _, dir := range []string{s.blobs, s.ingest} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("disk store: %w", err)
		}
	}
	return s, nil
}

// Root returns the directory the store was created with (cleaned).
func (s *Store) Root() string { return s.root }

// IngestDir returns the directory for temporary files. It is on the same
// filesystem as the objects, so a file written there can be passed to Import
// and renamed into place. CleanIngest removes old files from it.
func (s *Store) IngestDir() string { return s.ingest }

// Path returns the file that holds the object d, or "" if d is not a valid
// digest of an available algorithm (so no digest can name a path outside the
// store).
func (s *Store) Path(d digest.Digest) string {
	p, err := s.path(d)
	if err != nil {
		return ""
	}
	return p
}

// path validates d and maps it to blobs/<algorithm>/<first two hex>/<hex>.
func (s *Store) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", &oci.Error{Code: oci.CodeDigestInvalid, Message: fmt.Sprintf("invalid digest %q", string(d)), Err: err}
	}
	hex := d.Encoded()
	return filepath.Join(s.blobs, string(d.Algorithm()), hex[:2], hex), nil
}

// Stat returns the size of the object d, or an error wrapping
// store.ErrNotFound.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	p, err := s.path(d)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %s is not a regular file", d, p)
	}
	return fi.Size(), nil
}

// Open returns the object d as an *os.File (so that callers can type-assert
// it for sendfile), or an error wrapping store.ErrNotFound.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(d, err)
	}
	return f, nil
}

// Delete removes the object d. Deleting an absent object is not an error. A
// reader that already opened the object keeps reading it.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	return nil
}

// notFound wraps store.ErrNotFound for a missing file and passes any other
// error through with the digest.
func notFound(d digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", d, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", d, err)
}
