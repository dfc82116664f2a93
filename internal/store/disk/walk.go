package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Walk calls fn for every object under blobs/, with its size, in directory
// order (sorted by algorithm, then hex). Entries that are not a valid
// blobs/<algorithm>/<first two hex>/<hex> path of a regular file are
// skipped. An error from fn stops the walk and is returned; so is ctx's
// error once it is done. Objects added or deleted during the walk may or may
// not be visited.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	algs, err := readDir(s.blobs)
	if err != nil {
		return fmt.Errorf("walk: %w", err)
	}
	for _, alg := range algs {
		if !alg.IsDir() || !digest.Algorithm(alg.Name()).Available() {
			continue
		}
		if err := s.walkAlgorithm(ctx, digest.Algorithm(alg.Name()), fn); err != nil {
			return err
		}
	}
	return nil
}

// walkAlgorithm walks blobs/<alg>/.
func (s *Store) walkAlgorithm(ctx context.Context, alg digest.Algorithm, fn func(digest.Digest, int64) error) error {
	algDir := filepath.Join(s.blobs, string(alg))
	prefixes, err := readDir(algDir)
	if err != nil {
		return fmt.Errorf("walk: %w", err)
	}
	for _, prefix := range prefixes {
		if !prefix.IsDir() || len(prefix.Name()) != 2 {
			continue
		}
		dir := filepath.Join(algDir, prefix.Name())
		files, err := readDir(dir)
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := digest.NewDigestFromEncoded(alg, f.Name())
			if !f.Type().IsRegular() || d.Validate() != nil || !strings.HasPrefix(f.Name(), prefix.Name()) {
				continue
			}
			info, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			if err != nil {
				return fmt.Errorf("walk: %w", err)
			}
			if err := fn(d, info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// CleanIngest removes regular files in the ingest directory whose last
// modification is older than olderThan: what Put or a caller of Import left
// behind when the process died. Call it at start-up, before the store is in
// use, or with an age no live write can reach. It returns how many files it
// removed.
func (s *Store) CleanIngest(olderThan time.Duration) (removed int, err error) {
	entries, err := readDir(s.ingest)
	if err != nil {
		return 0, fmt.Errorf("clean ingest: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.ModTime().After(cutoff) {
			continue
		}
		err = os.Remove(filepath.Join(s.ingest, e.Name()))
		switch {
		case err == nil:
			removed++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean ingest: %w", err)
	}
	return removed, nil
}

// readDir lists dir; a missing directory is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}
