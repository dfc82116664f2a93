package evict

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/store"
)

// Result is the outcome of a sweep or prune.
type Result struct {
	DryRun  bool `json:"dryRun,omitempty"`
	Skipped bool `json:"skipped,omitempty"` // another node evicts (Leader)
	// Objects is how many object records were considered.
	Objects     int   `json:"objects"`
	BytesBefore int64 `json:"bytesBefore"`
	BytesAfter  int64 `json:"bytesAfter"`
	// Evicted and BytesFreed count what was removed (or, in a dry run,
	// what would be).
	Evicted     int   `json:"evicted"`
	BytesFreed  int64 `json:"bytesFreed"`
	TagsRemoved int   `json:"tagsRemoved"`
	Failed      int   `json:"failed,omitempty"`
	// Victims lists the evicted objects, least recently accessed first, at
	// most 1000 of them.
	Victims []Victim `json:"victims,omitempty"`
}

// Victim is one evicted object.
type Victim struct {
	Digest   digest.Digest `json:"digest"`
	Size     int64         `json:"size"`
	Accessed time.Time     `json:"accessed"`
	Manifest bool          `json:"manifest,omitempty"`
	Repo     string        `json:"repo,omitempty"`
	// Reason is "age" (not accessed for longer than the age limit) or
	// "size" (least recently accessed while the cache was too large).
	Reason string `json:"reason"`
}

// plan is what one run evicts: objects not accessed for olderThan (if > 0),
// then, if the total exceeds trigger (>= 0), the least recently accessed
// until it is at most target.
type plan struct {
	olderThan       time.Duration
	trigger, target int64
	dryRun          bool
}

// run carries out p.
func (e *Evictor) run(ctx context.Context, p plan) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer func() { e.lastDone.Store(e.opts.Now().UnixNano()) }()
	res := Result{DryRun: p.dryRun}
	del, ok := e.opts.Store.(store.Deleter)
	if !ok {
		return res, ErrNoDelete
	}
	if e.opts.Flush != nil {
		if err := e.opts.Flush(ctx); err != nil {
			e.log.Warn("flushing access times before eviction failed", "err", err)
		}
	}
	var objs []meta.Object
	err := e.opts.Meta.WalkObjects(ctx, func(o meta.Object) error {
		res.BytesBefore += o.Size
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("evict: %w", err)
	}
	res.Objects = len(objs)
	victims := choose(objs, p, res.BytesBefore, e.opts.Now())

	evicted := make(map[digest.Digest]bool)
	for _, v := range victims {
		if !p.dryRun {
			if err := e.remove(ctx, del, v); err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				if errors.Is(err, errAccessed) {
					continue
				}
				e.log.Warn("evicting object failed", "digest", v.Digest, "err", err)
				res.Failed++
				continue
			}
			if v.Manifest {
				evicted[v.Digest] = true
			}
		}
		res.Evicted++
		res.BytesFreed += v.Size
		if len(res.Victims) < maxListed {
			res.Victims = append(res.Victims, v)
		}
	}
	res.BytesAfter = res.BytesBefore - res.BytesFreed
	if !p.dryRun {
		e.total.Store(res.BytesAfter)
		if len(evicted) > 0 {
			n, err := dropTags(ctx, e.opts.Meta, evicted)
			res.TagsRemoved = n
			if err != nil {
				return res, fmt.Errorf("evict: removing tags: %w", err)
			}
		}
		if res.Evicted > 0 && e.opts.Freed != nil {
			e.opts.Freed()
		}
		if res.Evicted > 0 && e.opts.Evicted != nil {
			e.opts.Evicted(res.Evicted, res.BytesFreed)
		}
	}
	return res, nil
}

// choose picks the victims of p among objs, whose sizes add up to total:
// first by age, then by least recent access until the rest fits target.
func choose(objs []meta.Object, p plan, total int64, now time.Time) []Victim {
	// Least recently accessed first; equal times (a rebuild stamps every
	// object alike) fall back to the larger object, then the digest, so
	// the order is stable.
	slices.SortFunc(objs, func(a, b meta.Object) int {
		return cmp.Or(a.Accessed.Compare(b.Accessed), cmp.Compare(b.Size, a.Size), cmp.Compare(a.Digest, b.Digest))
	})
	var out []Victim
	rest := objs
	if p.olderThan > 0 {
		cutoff := now.Add(-p.olderThan)
		i := 0
		for ; i < len(objs) && objs[i].Accessed.Before(cutoff); i++ {
			out = append(out, victim(objs[i], "age"))
			total -= objs[i].Size
		}
		rest = objs[i:]
	}
	if p.trigger >= 0 && total > p.trigger {
		for i := 0; i < len(rest) && total > p.target; i++ {
			out = append(out, victim(rest[i], "size"))
			total -= rest[i].Size
		}
	}
	return out
}

func victim(o meta.Object, reason string) Victim {
	return Victim{Digest: o.Digest, Size: o.Size, Accessed: o.Accessed, Manifest: o.MediaType != "", Repo: o.Repo, Reason: reason}
}

// remove evicts one object: its record, then its content, then any copy in
// memory. An object accessed since the walk is kept (errAccessed).
func (e *Evictor) remove(ctx context.Context, del store.Deleter, v Victim) error {
	cur, err := e.opts.Meta.GetObject(ctx, v.Digest)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		// Gone already (another prune); make sure the content is too.
	case err != nil:
		return err
	case cur.Accessed.After(v.Accessed):
		return fmt.Errorf("%s: %w", v.Digest, errAccessed)
	default:
		if err := e.opts.Meta.DeleteObject(ctx, v.Digest); err != nil {
			return err
		}
	}
	if err := del.Delete(ctx, v.Digest); err != nil {
		return err
	}
	if e.opts.Forget != nil {
		e.opts.Forget(v.Digest)
	}
	return nil
}

// errAccessed: the object was read after the sweep chose it.
var errAccessed = errors.New("accessed since the sweep began; kept")

// dropTags removes the tags that point at the given manifests.
func dropTags(ctx context.Context, m meta.Tags, manifests map[digest.Digest]bool) (int, error) {
	var keys []meta.TagKey
	err := m.WalkTags(ctx, func(k meta.TagKey, t meta.Tag) error {
		if manifests[t.Digest] {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if err := m.DeleteTag(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
