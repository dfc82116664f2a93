package evict

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/store"
)

// ErrNoWalk is returned by Verify when the store cannot list its objects.
var ErrNoWalk = errors.New("the content store cannot list its objects")

// ReconcileResult is the outcome of Reconcile.
type ReconcileResult struct {
	Checked int `json:"checked"`
	// Missing counts records whose content is gone (the record was removed).
	Missing int `json:"missing"`
	// Mismatched counts objects whose size differs from their record
	// (record and content were removed).
	Mismatched  int `json:"mismatched"`
	TagsRemoved int `json:"tagsRemoved"`
}

// Reconcile is the cheap start-up check: it compares every object record
// with the store's size of the object (a stat each, no hashing). A record
// whose content is missing is removed; an object whose size differs from
// its record is removed with its record, so the next pull fetches it again.
// Content is verified when it is written (hashed while downloading, fsynced
// before it is renamed into place), so a size mismatch means damage from
// outside; Verify re-hashes everything.
func (e *Evictor) Reconcile(ctx context.Context) (ReconcileResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var res ReconcileResult
	del, canDelete := e.opts.Store.(store.Deleter)
	removed := make(map[digest.Digest]bool)
	err := e.opts.Meta.WalkObjects(ctx, func(o meta.Object) error {
		res.Checked++
		size, err := e.opts.Store.Stat(ctx, o.Digest)
		switch {
		case errors.Is(err, store.ErrNotFound):
			res.Missing++
			removed[o.Digest] = true
			e.log.Warn("object recorded but missing from the store; forgetting it", "digest", o.Digest)
			return e.opts.Meta.DeleteObject(ctx, o.Digest)
		case err != nil:
			return err
		case size == o.Size || !canDelete:
			return nil
		}
		res.Mismatched++
		removed[o.Digest] = true
		e.log.Warn("object size differs from its record; removing it", "digest", o.Digest, "size", size, "recorded", o.Size)
		return e.removeObject(ctx, del, o.Digest)
	})
	if err == nil && len(removed) > 0 {
		res.TagsRemoved, err = dropTags(ctx, e.opts.Meta, removed)
	}
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	return res, nil
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Repair removes corrupt objects (content and record), so that the
	// next pull fetches them again.
	Repair bool `json:"repair,omitempty"`
	// Progress, if set, is called after each object.
	Progress func(checked int, bytes int64) `json:"-"`
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Checked     int       `json:"checked"`
	Bytes       int64     `json:"bytes"`
	Corrupt     []Problem `json:"corrupt,omitempty"`
	Repaired    int       `json:"repaired"`
	TagsRemoved int       `json:"tagsRemoved"`
}

// Problem is one corrupt object.
type Problem struct {
	Digest  digest.Digest `json:"digest"`
	Problem string        `json:"problem"`
}

// Verify re-hashes every object in the store and compares it with its
// digest and with the size in its record. With Repair, corrupt objects are
// removed (record, content, in-memory copies and the tags pointing at them).
// An object deleted while Verify runs is skipped.
func (e *Evictor) Verify(ctx context.Context, opts VerifyOptions) (VerifyResult, error) {
	var res VerifyResult
	w, ok := e.opts.Store.(store.Walker)
	if !ok {
		return res, ErrNoWalk
	}
	del, canDelete := e.opts.Store.(store.Deleter)
	if opts.Repair && !canDelete {
		return res, ErrNoDelete
	}
	var bad []digest.Digest
	err := w.Walk(ctx, func(d digest.Digest, size int64) error {
		problem, err := e.check(ctx, d, size)
		if errors.Is(err, store.ErrNotFound) {
			return nil // evicted meanwhile
		}
		if err != nil {
			return err
		}
		res.Checked++
		res.Bytes += size
		if problem != "" {
			res.Corrupt = append(res.Corrupt, Problem{Digest: d, Problem: problem})
			bad = append(bad, d)
		}
		if opts.Progress != nil {
			opts.Progress(res.Checked, res.Bytes)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	if !opts.Repair || len(bad) == 0 {
		return res, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	removed := make(map[digest.Digest]bool)
	for _, d := range bad {
		if err := e.removeObject(ctx, del, d); err != nil {
			return res, fmt.Errorf("verify: repair: %w", err)
		}
		removed[d] = true
		res.Repaired++
	}
	res.TagsRemoved, err = dropTags(ctx, e.opts.Meta, removed)
	if err != nil {
		return res, fmt.Errorf("verify: repair: %w", err)
	}
	if e.opts.Freed != nil {
		e.opts.Freed()
	}
	return res, nil
}

// check hashes the object d of the given size. It returns a description
// of what is wrong, or "".
func (e *Evictor) check(ctx context.Context, d digest.Digest, size int64) (string, error) {
	rc, err := e.opts.Store.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dg := d.Algorithm().Digester()
	n, err := io.Copy(dg.Hash(), store.ContextReader(ctx, rc))
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return fmt.Sprintf("unreadable: %v", err), nil
	}
	if got := dg.Digest(); got != d {
		return fmt.Sprintf("content hashes to %s", got), nil
	}
	o, err := e.opts.Meta.GetObject(ctx, d)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return "", nil // content is sound; the start-up rebuild records it
	case err != nil:
		return "", err
	case o.Size != n:
		return fmt.Sprintf("%d bytes, recorded as %d", n, o.Size), nil
	}
	return "", nil
}

// removeObject removes d's record and content and forgets it.
func (e *Evictor) removeObject(ctx context.Context, del store.Deleter, d digest.Digest) error {
	if err := e.opts.Meta.DeleteObject(ctx, d); err != nil {
		return err
	}
	if err := del.Delete(ctx, d); err != nil {
		return err
	}
	if e.opts.Forget != nil {
		e.opts.Forget(d)
	}
	return nil
}
