package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	bbolt "go.etcd.io/bbolt"

	"github.com/regmirror/regmirror/internal/meta"
)

// resolution is the value stored in the resolutions bucket; a struct so that
// fields can be added without a migration.
type resolution struct {
	Upstream string `json:"upstream"`
}

// GetResolution returns the upstream that name resolved to, or an error
// wrapping meta.ErrNotFound.
func (d *DB) GetResolution(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", errBadKey)
	}
	var r resolution
	err := d.get(ctx, bucketResolutions, []byte(name), &r)
	return r.Upstream, err
}

// PutResolution records that name resolved to upstream.
func (d *DB) PutResolution(ctx context.Context, name, upstream string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", errBadKey)
	}
	return d.put(ctx, bucketResolutions, []byte(name), resolution{Upstream: upstream})
}

// DeleteResolution forgets name; an absent name is not an error.
func (d *DB) DeleteResolution(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", errBadKey)
	}
	return d.delete(ctx, bucketResolutions, []byte(name))
}

// objectKey validates dg and returns its key.
func objectKey(dg digest.Digest) ([]byte, error) {
	if err := dg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: object %q: %w", errBadKey, string(dg), err)
	}
	return []byte(dg), nil
}

// GetObject returns the record of dg, or an error wrapping meta.ErrNotFound.
func (d *DB) GetObject(ctx context.Context, dg digest.Digest) (meta.Object, error) {
	var o meta.Object
	key, err := objectKey(dg)
	if err != nil {
		return o, err
	}
	err = d.get(ctx, bucketObjects, key, &o)
	return o, err
}

// PutObject creates or replaces the record of o.Digest.
func (d *DB) PutObject(ctx context.Context, o meta.Object) error {
	key, err := objectKey(o.Digest)
	if err != nil {
		return err
	}
	return d.put(ctx, bucketObjects, key, o)
}

// PutObjects creates or replaces all the records in one transaction.
func (d *DB) PutObjects(ctx context.Context, objs []meta.Object) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	keys := make([][]byte, len(objs))
	vals := make([][]byte, len(objs))
	for i, o := range objs {
		k, err := objectKey(o.Digest)
		if err != nil {
			return err
		}
		v, err := json.Marshal(o)
		if err != nil {
			return err
		}
		keys[i], vals[i] = k, v
	}
	if len(objs) == 0 {
		return nil
	}
	return d.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketObjects)
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteObject removes the record of dg; an absent record is not an error.
func (d *DB) DeleteObject(ctx context.Context, dg digest.Digest) error {
	key, err := objectKey(dg)
	if err != nil {
		return err
	}
	return d.delete(ctx, bucketObjects, key)
}

// Touch sets the access time of every known digest in accessed, in one
// transaction. Unknown digests are skipped, and an access time never moves
// backwards (batches flushed out of order cannot undo a later hit).
func (d *DB) Touch(ctx context.Context, accessed map[digest.Digest]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(accessed) == 0 {
		return nil
	}
	return d.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketObjects)
		for dg, at := range accessed {
			raw := b.Get([]byte(dg))
			if raw == nil {
				continue
			}
			var o meta.Object
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("object %s: %w", dg, err)
			}
			if !at.After(o.Accessed) {
				continue
			}
			o.Accessed = at
			v, err := json.Marshal(o)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(dg), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// WalkObjects calls fn for every object record, in digest order. fn runs
// outside any transaction, so it may write to d (prune deletes as it
// walks); records changed during the walk may or may not be visited. An
// error from fn stops the walk and is returned.
func (d *DB) WalkObjects(ctx context.Context, fn func(meta.Object) error) error {
	return d.scan(ctx, bucketObjects, nil, func(k, v []byte) error {
		var o meta.Object
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("object %q: %w", k, err)
		}
		return fn(o)
	})
}
