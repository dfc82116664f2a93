package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	goredis "github.com/redis/go-redis/v9"

	"github.com/regmirror/regmirror/internal/meta"
)

// touchBatch is how many access times one Touch script call carries.
const touchBatch = 500

// GetObject returns the record of d, or meta.ErrNotFound.
func (s *Store) GetObject(ctx context.Context, d digest.Digest) (meta.Object, error) {
	var rec *goredis.StringCmd
	var at *goredis.StringCmd
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		rec = p.HGet(ctx, s.key("obj"), d.String())
		at = p.HGet(ctx, s.key("atime"), d.String())
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return meta.Object{}, fmt.Errorf("redis meta: get object: %w", err)
	}
	b, err := rec.Bytes()
	if errors.Is(err, goredis.Nil) {
		return meta.Object{}, fmt.Errorf("object %s: %w", d, meta.ErrNotFound)
	}
	if err != nil {
		return meta.Object{}, fmt.Errorf("redis meta: get object: %w", err)
	}
	return decodeObject(d.String(), b, at.Val())
}

// decodeObject decodes a record and applies its separately kept access time.
func decodeObject(d string, rec []byte, atime string) (meta.Object, error) {
	var o meta.Object
	if err := json.Unmarshal(rec, &o); err != nil {
		return meta.Object{}, fmt.Errorf("redis meta: object %s: %w", d, err)
	}
	if t, ok := parseAtime(atime); ok {
		o.Accessed = t
	}
	return o, nil
}

// PutObject creates or replaces the record of o.Digest, access time included.
func (s *Store) PutObject(ctx context.Context, o meta.Object) error {
	return s.PutObjects(ctx, []meta.Object{o})
}

// PutObjects creates or replaces every record in objs, atomically.
func (s *Store) PutObjects(ctx context.Context, objs []meta.Object) error {
	if len(objs) == 0 {
		return nil
	}
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, o := range objs {
			b, err := json.Marshal(o)
			if err != nil {
				return err
			}
			d := o.Digest.String()
			p.HSet(ctx, s.key("obj"), d, b)
			if v := atimeValue(o.Accessed); v != "" {
				p.HSet(ctx, s.key("atime"), d, v)
			} else {
				p.HDel(ctx, s.key("atime"), d)
			}
			p.ZAdd(ctx, s.key("objidx"), goredis.Z{Member: d})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis meta: put object: %w", err)
	}
	return nil
}

// DeleteObject removes the record of d; an absent record is not an error.
func (s *Store) DeleteObject(ctx context.Context, d digest.Digest) error {
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.key("obj"), d.String())
		p.HDel(ctx, s.key("atime"), d.String())
		p.ZRem(ctx, s.key("objidx"), d.String())
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis meta: delete object: %w", err)
	}
	return nil
}

// touchScript sets access times of known objects, never moving one back:
// nodes flush their batches at different moments, and an older batch must
// not undo a newer one. KEYS: obj, atime; ARGV: digest, nanos, digest, ...
var touchScript = goredis.NewScript(`
for i = 1, #ARGV, 2 do
	if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
		local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0') or 0
		if tonumber(ARGV[i+1]) > cur then
			redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1])
		end
	end
end
return 0`)

// Touch records access times in batches; unknown digests are skipped, and
// a time older than the recorded one is ignored.
func (s *Store) Touch(ctx context.Context, accessed map[digest.Digest]time.Time) error {
	args := make([]any, 0, 2*min(len(accessed), touchBatch))
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		err := touchScript.Run(ctx, s.c, []string{s.key("obj"), s.key("atime")}, args...).Err()
		args = args[:0]
		if err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis meta: touch: %w", err)
		}
		return nil
	}
	for d, t := range accessed {
		v := atimeValue(t)
		if v == "" {
			continue
		}
		args = append(args, d.String(), v)
		if len(args) >= 2*touchBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// WalkObjects visits every record, in digest order, pageSize per round trip.
// fn may write to the store (prune deletes from inside the walk).
func (s *Store) WalkObjects(ctx context.Context, fn func(meta.Object) error) error {
	return s.pageNames(ctx, s.key("objidx"), func(ds []string) error {
		var recs, ats *goredis.SliceCmd
		_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			recs = p.HMGet(ctx, s.key("obj"), ds...)
			ats = p.HMGet(ctx, s.key("atime"), ds...)
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis meta: walk objects: %w", err)
		}
		rv, av := recs.Val(), ats.Val()
		for i, d := range ds {
			rec, ok := rv[i].(string)
			if !ok {
				continue // deleted since the page was read
			}
			at, _ := av[i].(string)
			o, err := decodeObject(d, []byte(rec), at)
			if err != nil {
				return err
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	})
}
