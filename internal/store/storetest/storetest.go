// Package storetest is the conformance suite that every store.Store backend
// runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
//	}
//
// Optional interfaces (store.Deleter, store.Walker, store.FileImporter) are
// tested when the backend implements them and skipped otherwise.
package storetest

import (
	"bytes"
	"context"
	// digest.FromBytes needs the hash linked in.
	_ "crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

// Options tunes the suite for one backend. The zero value runs the plain
// suite.
type Options struct {
	// LeftoverCheck, if set, runs at the end of every subtest with the store
	// it used, after all its operations returned. The disk backend uses it to
	// fail when temporary files were left in its ingest directory.
	LeftoverCheck func(t *testing.T, s store.Store)
}

// Run runs the suite with default Options. newStore must return a new,
// empty store each time it is called; it may register t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	Options{}.Run(t, newStore)
}

// Run runs the suite with these options.
func (o Options) Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutExisting", testPutExisting},
		{"NotFound", testNotFound},
		{"InvalidDigest", testInvalidDigest},
		{"DigestMismatch", testDigestMismatch},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"CancelledContext", testCancelledContext},
		{"CancelMidway", testCancelMidway},
		{"Ranges", testRanges},
		{"ConcurrentPut", testConcurrentPut},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"Import", testImport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if o.LeftoverCheck != nil {
				// Registered after newStore's cleanups, so it runs before them
				// (a temporary directory is still there to inspect).
				t.Cleanup(func() { o.LeftoverCheck(t, s) })
			}
			tt.fn(t, s)
		})
	}
}

// blob is test content with its digest.
type blob struct {
	data []byte
	d    digest.Digest
}

// newBlob returns n pseudo-random bytes, different for each seed.
func newBlob(seed uint64, n int) blob {
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return blob{data: data, d: digest.FromBytes(data)}
}

// put stores b and fails the test on error.
func put(t *testing.T, s store.Store, b blob) {
	t.Helper()
	if err := s.Put(context.Background(), b.d, int64(len(b.data)), bytes.NewReader(b.data)); err != nil {
		t.Fatalf("Put(%s): %v", b.d, err)
	}
}

// mustContain checks that s serves exactly b.
func mustContain(t *testing.T, s store.Store, b blob) {
	t.Helper()
	ctx := context.Background()
	size, err := s.Stat(ctx, b.d)
	if err != nil {
		t.Fatalf("Stat(%s): %v", b.d, err)
	}
	if size != int64(len(b.data)) {
		t.Fatalf("Stat(%s) = %d, want %d", b.d, size, len(b.data))
	}
	rc, err := s.Open(ctx, b.d)
	if err != nil {
		t.Fatalf("Open(%s): %v", b.d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", b.d, err)
	}
	if !bytes.Equal(got, b.data) {
		t.Fatalf("content of %s differs: got %d bytes, want %d", b.d, len(got), len(b.data))
	}
}

// mustBeAbsent checks that Stat and Open of d report store.ErrNotFound.
func mustBeAbsent(t *testing.T, s store.Store, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat(%s) error = %v, want ErrNotFound", d, err)
	}
	rc, err := s.Open(ctx, d)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open(%s) error = %v, want ErrNotFound", d, err)
	}
}
