package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// Walk calls fn for every object under blobs/, with its size, in key order.
// Keys that are not blobs/<algorithm>/<hex> of a valid digest are skipped.
// An error from fn stops the walk and is returned; so is ctx's error once it
// is done. Objects added or deleted during the walk may or may not be visited.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn fails
	root := s.prefix + blobsDir
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("walk: %w", o.Err)
		}
		d, ok := parseKey(strings.TrimPrefix(o.Key, root))
		if !ok {
			continue
		}
		if err := fn(d, o.Size); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// parseKey maps "<algorithm>/<hex>" back to a digest.
func parseKey(rest string) (digest.Digest, bool) {
	alg, hex, ok := strings.Cut(rest, "/")
	if !ok || !digest.Algorithm(alg).Available() {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
	return d, d.Validate() == nil
}

// CleanIngest removes temporary keys under ingest/ last modified more than
// olderThan ago: what Put or Import left behind when a process died between
// upload and clean-up. Other nodes sharing the bucket may be uploading, so
// give an age no live upload reaches (an hour is plenty: a temporary object
// lives only from the end of its upload to the end of its copy). Multipart
// uploads that never completed are not objects; a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) removes those. It returns how many keys
// it removed.
func (s *Store) CleanIngest(ctx context.Context, olderThan time.Duration) (removed int, err error) {
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + ingestDir, Recursive: true}) {
		if o.Err != nil {
			return removed, fmt.Errorf("clean ingest: %w", o.Err)
		}
		if o.LastModified.After(cutoff) {
			continue
		}
		if err := s.c.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean ingest: %w", err)
	}
	return removed, nil
}
