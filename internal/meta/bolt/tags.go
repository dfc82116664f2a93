package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/regmirror/regmirror/internal/meta"
)

// sep separates the parts of a tag key.
const sep = "\x00"

// errBadKey is returned for keys that cannot be stored.
var errBadKey = errors.New("invalid metadata key")

// tagKey encodes k as upstream NUL repo NUL tag.
func tagKey(k meta.TagKey) ([]byte, error) {
	for _, part := range []string{k.Upstream, k.Repo, k.Tag} {
		if part == "" || strings.Contains(part, sep) {
			return nil, fmt.Errorf("%w: tag %q/%q:%q", errBadKey, k.Upstream, k.Repo, k.Tag)
		}
	}
	return []byte(k.Upstream + sep + k.Repo + sep + k.Tag), nil
}

// parseTagKey decodes a key written by tagKey.
func parseTagKey(key []byte) (meta.TagKey, bool) {
	parts := strings.Split(string(key), sep)
	if len(parts) != 3 {
		return meta.TagKey{}, false
	}
	return meta.TagKey{Upstream: parts[0], Repo: parts[1], Tag: parts[2]}, true
}

// GetTag returns the cached answer for k, or an error wrapping
// meta.ErrNotFound.
func (d *DB) GetTag(ctx context.Context, k meta.TagKey) (meta.Tag, error) {
	var t meta.Tag
	key, err := tagKey(k)
	if err != nil {
		return t, err
	}
	err = d.get(ctx, bucketTags, key, &t)
	return t, err
}

// PutTag stores the answer for k.
func (d *DB) PutTag(ctx context.Context, k meta.TagKey, t meta.Tag) error {
	key, err := tagKey(k)
	if err != nil {
		return err
	}
	return d.put(ctx, bucketTags, key, t)
}

// DeleteTag removes k; an absent tag is not an error.
func (d *DB) DeleteTag(ctx context.Context, k meta.TagKey) error {
	key, err := tagKey(k)
	if err != nil {
		return err
	}
	return d.delete(ctx, bucketTags, key)
}

// ListTags returns the cached tags of upstream/repo, sorted bytewise.
func (d *DB) ListTags(ctx context.Context, upstream, repo string) ([]string, error) {
	prefix, err := tagKey(meta.TagKey{Upstream: upstream, Repo: repo, Tag: "x"})
	if err != nil {
		return nil, err
	}
	prefix = prefix[:len(prefix)-1] // keep the trailing NUL
	var tags []string
	err = d.scan(ctx, bucketTags, prefix, func(k, _ []byte) error {
		tags = append(tags, string(k[len(prefix):]))
		return nil
	})
	return tags, err
}

// WalkTags calls fn for every cached tag, in key order. fn runs outside any
// transaction, so it may write to d; records changed during the walk may or
// may not be visited. An error from fn stops the walk and is returned.
func (d *DB) WalkTags(ctx context.Context, fn func(meta.TagKey, meta.Tag) error) error {
	return d.scan(ctx, bucketTags, nil, func(k, v []byte) error {
		key, ok := parseTagKey(k)
		if !ok {
			return fmt.Errorf("%w: tag key %q", errBadKey, k)
		}
		var t meta.Tag
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("tag %q: %w", k, err)
		}
		return fn(key, t)
	})
}

// get reads the JSON value at key into v, or returns an error wrapping
// meta.ErrNotFound.
func (d *DB) get(ctx context.Context, bucket, key []byte, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var raw []byte
	err := d.db.View(func(tx *bbolt.Tx) error {
		// Bytes returned by Get are only valid during the transaction.
		raw = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	})
	if err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("%s %q: %w", bucket, key, meta.ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q: %w", bucket, key, err)
	}
	return nil
}

// put stores v as JSON at key, in its own durable transaction.
func (d *DB) put(ctx context.Context, bucket, key []byte, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return d.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).Put(key, raw)
	})
}

// delete removes key; an absent key is not an error.
func (d *DB) delete(ctx context.Context, bucket, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).Delete(key)
	})
}

// scanPage is how many records scan copies out of one read transaction.
const scanPage = 256

// scan calls fn for every key with the given prefix, in key order. It reads
// pages of records in short read transactions and calls fn between them, so
// that fn may write to the database: a write transaction that grows the file
// would otherwise wait for the open read transaction forever.
func (d *DB) scan(ctx context.Context, bucket, prefix []byte, fn func(k, v []byte) error) error {
	type kv struct{ k, v []byte }
	after := prefix
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page []kv
		err := d.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			k, v := c.Seek(after)
			if !first && k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(page) < scanPage; k, v = c.Next() {
				page = append(page, kv{bytes.Clone(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r.k, r.v); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		after, first = page[len(page)-1].k, false
	}
}
