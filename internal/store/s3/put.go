package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

const (
	// partSize is the multipart part size: the memory one upload of a
	// stream (not a file) buffers, and 16 MiB × 10,000 parts allows objects
	// of about 156 GiB.
	partSize = 16 << 20
	// maxCopySize is the largest object a single CopyObject may copy (S3's
	// limit); larger ones are copied part by part (ComposeObject).
	maxCopySize = 5 << 30
)

// Put stores size bytes read from r under d. It uploads them to a temporary
// key while hashing, checks size and digest, copies the temporary object
// to its final key server-side and removes the temporary key; on any error
// the temporary key is removed and nothing is visible. If d is already
// stored, Put reads and verifies r without uploading it, so a caller teeing
// a stream into Put is never left blocked. A concurrent writer of d is not
// an error: the content is the same, verified, bytes. Concurrent writers of
// d in this process upload once: the others wait for that upload, then
// verify their own stream.
//
// A digest or size mismatch returns an error wrapping
// store.ErrDigestMismatch; an error from r is returned wrapped.
func (s *Store) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (err error) {
	key, err := s.Key(d)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", d, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}
	release, err := s.claim(ctx, d)
	if err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}
	if release == nil { // another writer here stored it
		if err := drainVerified(ctx, d, size, r); err != nil {
			return fmt.Errorf("put %s: %w", d, err)
		}
		return nil
	}
	defer func() { release(err) }()
	if _, err := s.Stat(ctx, d); err == nil {
		if err := drainVerified(ctx, d, size, r); err != nil {
			return fmt.Errorf("put %s: %w", d, err)
		}
		return nil
	}
	tmp := s.tempKey()
	v := newVerifier(ctx, d, size, r)
	_, err = s.c.PutObject(ctx, s.bucket, tmp, v, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: partSize,
	})
	err = v.result(err)
	if err == nil {
		err = s.promote(ctx, tmp, key, size)
	}
	if rerr := s.removeTemp(ctx, tmp); err == nil && rerr != nil {
		return fmt.Errorf("put %s: stored, but removing temporary key %s: %w", d, tmp, rerr)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", d, err)
	}
	return nil
}

// Import stores the file at path, which the caller has already verified
// against d and size, and removes it. The upload goes through a temporary
// key as in Put (a file lets minio-go upload parts in parallel). If the
// object is already present, Import removes path and succeeds. On error the
// file is left where it was.
func (s *Store) Import(ctx context.Context, d digest.Digest, size int64, path string) error {
	key, err := s.Key(d)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("import %s: %s is not a regular file", d, path)
	}
	if fi.Size() != size {
		return fmt.Errorf("import %s: %w: file has %d bytes, want %d", d, store.ErrDigestMismatch, fi.Size(), size)
	}
	release, err := s.claim(ctx, d)
	if err != nil {
		return fmt.Errorf("import %s: %w", d, err)
	}
	if release != nil { // else another writer here stored it
		var err error
		if _, serr := s.Stat(ctx, d); serr != nil {
			err = s.upload(ctx, key, f, size)
		}
		release(err)
		if err != nil {
			return fmt.Errorf("import %s: %w", d, err)
		}
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("import %s: stored, but removing the source: %w", d, err)
	}
	return nil
}

// upload puts a file to a temporary key and promotes it to key.
func (s *Store) upload(ctx context.Context, key string, f *os.File, size int64) error {
	tmp := s.tempKey()
	_, err := s.c.PutObject(ctx, s.bucket, tmp, f, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: partSize,
	})
	if err == nil {
		err = s.promote(ctx, tmp, key, size)
	}
	if rerr := s.removeTemp(ctx, tmp); err == nil && rerr != nil {
		return fmt.Errorf("stored, but removing temporary key %s: %w", tmp, rerr)
	}
	return err
}

// promote copies the verified temporary object to its final key,
// server-side, unless another node stored the object meanwhile (some
// servers serialise concurrent copies to one key: SeaweedFS retries a lock
// for a second each). Replacing an object a concurrent writer stored first
// is harmless: the bytes are the same.
func (s *Store) promote(ctx context.Context, tmp, key string, size int64) error {
	if _, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil {
		return nil
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: key}
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: tmp}
	var err error
	if size <= maxCopySize {
		_, err = s.c.CopyObject(ctx, dst, src)
	} else {
		_, err = s.c.ComposeObject(ctx, dst, src)
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", tmp, key, err)
	}
	return nil
}

// removeTemp deletes a temporary key, also after ctx is done.
func (s *Store) removeTemp(ctx context.Context, tmp string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.c.RemoveObject(ctx, s.bucket, tmp, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// upload is a Put or Import in progress in this process.
type upload struct {
	done chan struct{}
	err  error // set before done is closed
}

// claim makes the caller the one writer of d in this process. It returns a
// release func to call with the outcome, or nil when it waited for another
// writer that succeeded (d is stored). When that writer failed, the caller
// gets its turn.
func (s *Store) claim(ctx context.Context, d digest.Digest) (release func(error), err error) {
	for {
		s.mu.Lock()
		u, busy := s.puts[d]
		if !busy {
			u = &upload{done: make(chan struct{})}
			s.puts[d] = u
			s.mu.Unlock()
			return func(err error) {
				s.mu.Lock()
				delete(s.puts, d)
				s.mu.Unlock()
				u.err = err
				close(u.done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-u.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if u.err == nil {
			return nil, nil
		}
	}
}

// tempKey returns a new random key under ingest/.
func (s *Store) tempKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return s.prefix + ingestDir + hex.EncodeToString(b[:])
}

// drainVerified reads r to its end (at most size+1 bytes) and checks it
// against d and size.
func drainVerified(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	v := newVerifier(ctx, d, size, r)
	_, err := io.Copy(io.Discard, v)
	return v.result(err)
}

// verifier hands the first size bytes of src to the uploader while hashing
// and counting them, and remembers why the stream ended. After the upload,
// result probes src for extra bytes and checks the digest.
type verifier struct {
	ctx    context.Context
	d      digest.Digest
	size   int64
	src    io.Reader
	h      hash.Hash
	n      int64
	srcErr error // an error src returned (not io.EOF)
	short  bool  // src ended before size bytes
}

func newVerifier(ctx context.Context, d digest.Digest, size int64, src io.Reader) *verifier {
	return &verifier{ctx: ctx, d: d, size: size, src: src, h: d.Algorithm().Hash()}
}

// Read implements io.Reader: at most size bytes in all, then io.EOF.
func (v *verifier) Read(p []byte) (int, error) {
	if err := v.ctx.Err(); err != nil {
		return 0, err
	}
	left := v.size - v.n
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := v.src.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case err == io.EOF && v.n < v.size:
		v.short = true
		return n, io.ErrUnexpectedEOF
	case err != nil && err != io.EOF:
		v.srcErr = err
	}
	return n, err
}

// result turns the upload's outcome uploadErr into Put's: the source's own
// error, a cancelled context, a size or digest mismatch, or uploadErr.
func (v *verifier) result(uploadErr error) error {
	switch {
	case v.srcErr != nil:
		return v.srcErr
	case v.ctx.Err() != nil:
		return v.ctx.Err()
	case v.short:
		return fmt.Errorf("%w: %d bytes, want %d", store.ErrDigestMismatch, v.n, v.size)
	case uploadErr != nil:
		return uploadErr
	case v.n != v.size:
		return fmt.Errorf("%w: %d bytes, want %d", store.ErrDigestMismatch, v.n, v.size)
	}
	// Everything declared was read: one more byte means the stream is too
	// long, and an error instead of EOF means the source failed at the end.
	var one [1]byte
	n, err := io.ReadFull(v.src, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: more than %d bytes", store.ErrDigestMismatch, v.size)
	case err != nil && !errors.Is(err, io.EOF):
		return err
	}
	if got := v.d.Algorithm().Encode(v.h.Sum(nil)); got != v.d.Encoded() {
		return fmt.Errorf("%w: content hashes to %s:%s", store.ErrDigestMismatch, v.d.Algorithm(), got)
	}
	return nil
}
