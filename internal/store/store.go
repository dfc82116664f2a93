// Package store defines where regmirror keeps content: a content-addressed
// object store keyed by digest. Blobs and manifests live side by side; what
// an object is (and which tags point at it) is metadata, kept elsewhere.
//
// Backends: internal/store/disk (default) and internal/store/s3. Every
// backend runs the conformance suite in internal/store/storetest.
package store

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
)

// Sentinel errors. Backends wrap them with context: fmt.Errorf("%s: %w", d, ErrNotFound).
var (
	// ErrNotFound: the object is not in the store.
	ErrNotFound = errors.New("object not found")
	// ErrDigestMismatch: the content written does not hash to the digest given,
	// or its size differs. Nothing was stored.
	ErrDigestMismatch = errors.New("content does not match digest or size")
)

// Store is a content-addressed object store.
type Store interface {
	// Stat returns the size of the object, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a reader of the whole object, or ErrNotFound. The disk
	// backend returns an *os.File, so that http.ServeContent can use sendfile.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)
	// Put stores size bytes read from r under d. The object becomes visible
	// only once all of it was read and verified against d and size; on any
	// error (ErrDigestMismatch included) nothing is visible. A concurrent
	// writer of the same digest is not an error: the first to finish wins.
	Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) error
}

// FileImporter is implemented by backends that can take a verified local
// file more cheaply than Put (the disk backend renames it into place). The
// file at path is already verified against d and size; the backend may
// consume (move or delete) it.
type FileImporter interface {
	Import(ctx context.Context, d digest.Digest, size int64, path string) error
}

// Deleter is implemented by backends that can remove objects. Deleting an
// absent object is not an error.
type Deleter interface {
	Delete(ctx context.Context, d digest.Digest) error
}

// Walker is implemented by backends that can list every object, for the
// metadata rebuild, verify and prune.
type Walker interface {
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error
}

// Redirector is implemented by backends that can hand clients a URL to fetch
// the object from directly (S3 presigned GET).
type Redirector interface {
	RedirectURL(ctx context.Context, d digest.Digest) (string, error)
}
