package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

// Put stores size bytes read from r under d. It writes to a temporary file
// in the ingest directory while hashing, checks size and digest, fsyncs,
// and renames the file into place; on any error the temporary file is
// removed and nothing is visible. Put always reads r to its end (or to
// size+1 bytes), even when the object already exists, so that a caller
// teeing a stream into Put is never left blocked. If another writer stored
// d first, Put succeeds: the content is the same, verified, bytes.
//
// A digest or size mismatch returns an error wrapping
// store.ErrDigestMismatch. Put stops at the next read once ctx is done.
func (s *Store) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (err error) {
	dst, err := s.path(d)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", d, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}

	f, err := os.CreateTemp(s.ingest, ingestPrefix+"*")
	if err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			_ = f.Close() // the write already failed; that error is the one to report
		}
		_ = os.Remove(tmp)
	}()

	if err := s.copyVerified(ctx, f, d, size, r); err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync: %w", d, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", d, err)
	}
	return s.commit(d, tmp, dst)
}

// copyVerified copies r into w through a pooled buffer, checking that r
// holds exactly size bytes that hash to d.
func (s *Store) copyVerified(ctx context.Context, w io.Writer, d digest.Digest, size int64, r io.Reader) error {
	bufp := s.bufPool.Get().(*[]byte)
	defer s.bufPool.Put(bufp)

	digester := d.Algorithm().Digester()
	// Reading one byte past size detects an over-long stream without
	// trusting the caller's reader to stop.
	src := store.ContextReader(ctx, io.LimitReader(r, size+1))
	n, err := io.CopyBuffer(io.MultiWriter(w, digester.Hash()), src, *bufp)
	if err != nil {
		return err
	}
	if n > size {
		return fmt.Errorf("%w: more than %d bytes", store.ErrDigestMismatch, size)
	}
	if n < size {
		return fmt.Errorf("%w: %d bytes, want %d", store.ErrDigestMismatch, n, size)
	}
	if got := digester.Digest(); got != d {
		return fmt.Errorf("%w: content hashes to %s", store.ErrDigestMismatch, got)
	}
	return nil
}

// Import moves the file at path, which the caller has already verified
// against d and size, into the store. The file must not be written to
// afterwards. It is fsynced and renamed into place; across filesystems Import
// falls back to copying it through Put, which verifies it again. If the
// object is already present, Import removes path and succeeds. On error the
// file is left where it was.
func (s *Store) Import(ctx context.Context, d digest.Digest, size int64, path string) error {
	dst, err := s.path(d)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("import %s: %s is not a regular file", d, path)
	}
	if fi.Size() != size {
		return fmt.Errorf("import %s: %w: file has %d bytes, want %d", d, store.ErrDigestMismatch, fi.Size(), size)
	}
	if err := syncFile(path); err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	err = s.commit(d, path, dst)
	if errors.Is(err, syscall.EXDEV) {
		return s.importByCopy(ctx, d, size, path)
	}
	return err
}

// importByCopy is Import's fallback for a file on another filesystem.
func (s *Store) importByCopy(ctx context.Context, d digest.Digest, size int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	err = s.Put(ctx, d, size, f)
	_ = f.Close() // read-only; Put's result is what counts
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("import %s: stored, but removing the source: %w", d, err)
	}
	return nil
}

// commit renames the complete, synced file src to dst. If dst already
// exists (another writer won), src is removed and commit succeeds: both hold
// the same verified bytes.
func (s *Store) commit(d digest.Digest, src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Remove(src); err != nil {
			return fmt.Errorf("store %s: already present, removing %s: %w", d, src, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("store %s: %w", d, err)
	}
	// Between the Lstat and here another writer may have renamed its copy in;
	// rename(2) then atomically replaces identical content, which no reader
	// can tell apart.
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("store %s: %w", d, err)
	}
	return nil
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // the sync error is the one to report
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}
