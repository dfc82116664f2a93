// Package evict keeps the cache within its bounds and its content sound:
// least-recently-used eviction down to a low-water mark when the cache grows
// past storage.maxSize, age-based eviction (cache.maxAge), operator prunes,
// a cheap start-up consistency check (Reconcile) and a full re-hash (Verify).
//
// Sizes and access times come from the metadata store (meta.Object), so a
// sweep is one walk of the object records, not of the filesystem. Access
// times are batched in memory by the mirror; a sweep flushes them first
// (Options.Flush), so it decides on current values.
//
// Evicting an object removes its metadata record first and its content
// second. A crash between the two leaves a file without a record, which the
// start-up rebuild (meta.Rebuild) records again; the opposite order could
// leave a record without a file, or delete the record of a copy fetched
// again in between. Tags that point at an evicted manifest are removed too,
// so that `cache ls` shows what is really cached; the mirror would refetch
// the manifest either way. Eviction never touches a download in progress
// (those live in temporary files until they are committed), and a client
// already reading an object keeps reading it: on Linux an open file
// descriptor outlives the unlink. (An object store such as S3 has no such
// guarantee: a GET already streaming completes, but a redirect handed out
// just before the delete can fail and the client retries.)
package evict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/store"
)

// Defaults.
const (
	DefaultLowWater = 0.9
	DefaultInterval = time.Minute
	// maxListed bounds the objects a Result lists.
	maxListed = 1000
	// minGap spaces sweeps triggered by Added, so that a cache kept above
	// its limit (by one pull larger than the low-water room, say) is not
	// walked after every commit.
	minGap = 5 * time.Second
)

// ErrNoDelete is returned when the store cannot delete objects.
var ErrNoDelete = errors.New("the content store cannot delete objects")

// Options configures an Evictor.
type Options struct {
	// Store holds the content; it must implement store.Deleter to evict,
	// and store.Walker for Verify.
	Store store.Store
	Meta  meta.Store
	// MaxSize bounds the cache in bytes; 0 means unlimited.
	MaxSize int64
	// LowWater is the fraction of MaxSize a sweep evicts down to (default 0.9).
	LowWater float64
	// MaxAge evicts objects not accessed for that long even when there is
	// room; 0 turns it off.
	MaxAge time.Duration
	// Interval between periodic sweeps (default 1m).
	Interval time.Duration
	// Forget drops an evicted digest from in-memory caches (Mirror.Forget).
	Forget func(digest.Digest)
	// Flush writes batched access times before a sweep (Mirror.FlushAccess).
	Flush func(context.Context) error
	// Freed is called after objects were removed (to let downloads cache
	// again after a full disk: fill.Manager.ClearDiskFull).
	Freed func()
	// Evicted, if set, is told what each sweep or prune removed (metrics).
	Evicted func(objects int, bytes int64)
	// Leader, when set, is asked before each sweep; a sweep runs only when
	// it returns true (one evicting node among several sharing a store).
	Leader func(context.Context) bool
	Log    *slog.Logger
	// Now is the clock (tests inject one).
	Now func() time.Time
}

// Evictor applies the cache's bounds. Its methods are safe for concurrent
// use; sweeps and prunes run one at a time.
type Evictor struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // one sweep, prune, reconcile or repair at a time
	total    atomic.Int64
	kick     chan struct{}
	lastDone atomic.Int64 // unix nanoseconds of the last sweep's end
	minGap   time.Duration
}

// New returns an Evictor.
func New(opts Options) *Evictor {
	if opts.LowWater <= 0 || opts.LowWater > 1 {
		opts.LowWater = DefaultLowWater
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Evictor{opts: opts, log: opts.Log, kick: make(chan struct{}, 1), minGap: min(minGap, opts.Interval)}
}

// Limits returns the configured bounds: MaxSize (0: unlimited), LowWater and MaxAge.
func (e *Evictor) Limits() (maxSize int64, lowWater float64, maxAge time.Duration) {
	return e.opts.MaxSize, e.opts.LowWater, e.opts.MaxAge
}

// Added records that an object of size bytes was stored. When the running
// total passes MaxSize it triggers a sweep (Run must be running). The total
// is an estimate between sweeps (a replaced record counts twice); each sweep
// recomputes it.
func (e *Evictor) Added(size int64) {
	if t := e.total.Add(size); e.opts.MaxSize > 0 && t > e.opts.MaxSize {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// Run sweeps at once, then every Interval, and soon after Added pushed the
// cache past MaxSize (but at most every 5s), until ctx ends. It does nothing
// when neither MaxSize nor MaxAge is set.
func (e *Evictor) Run(ctx context.Context) {
	if e.opts.MaxSize <= 0 && e.opts.MaxAge <= 0 {
		return
	}
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	for {
		e.sweepAndLog(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.kick:
			since := e.opts.Now().Sub(time.Unix(0, e.lastDone.Load()))
			if since < e.minGap && !sleep(ctx, e.minGap-since) {
				return
			}
		}
	}
}

func (e *Evictor) sweepAndLog(ctx context.Context) {
	res, err := e.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		e.log.Warn("cache eviction failed", "err", err)
	case res.Evicted > 0:
		e.log.Info("evicted from the cache", "objects", res.Evicted, "bytes", res.BytesFreed,
			"tags", res.TagsRemoved, "size_before", res.BytesBefore, "size_after", res.BytesAfter, "max_size", e.opts.MaxSize)
	}
}

// Sweep applies MaxAge, then, if the cache is larger than MaxSize, evicts
// the least recently accessed objects until it is at most LowWater×MaxSize.
// It returns a zero Result with Skipped set when Leader says another node
// evicts.
func (e *Evictor) Sweep(ctx context.Context) (Result, error) {
	if e.opts.Leader != nil && !e.opts.Leader(ctx) {
		return Result{Skipped: true}, nil
	}
	p := plan{olderThan: e.opts.MaxAge, trigger: -1, target: -1}
	if e.opts.MaxSize > 0 {
		p.trigger = e.opts.MaxSize
		p.target = int64(float64(e.opts.MaxSize) * e.opts.LowWater)
	}
	return e.run(ctx, p)
}

// Policy is an operator's prune request.
type Policy struct {
	// OlderThan > 0 evicts objects not accessed for that long.
	OlderThan time.Duration `json:"olderThan,omitempty"`
	// ToSize, when set, evicts the least recently accessed objects until at
	// most that many bytes remain.
	ToSize *int64 `json:"toSize,omitempty"`
	// DryRun reports what would be evicted without removing anything.
	DryRun bool `json:"dryRun,omitempty"`
}

// Prune evicts what p asks for, ignoring the configured bounds.
func (e *Evictor) Prune(ctx context.Context, p Policy) (Result, error) {
	if p.OlderThan <= 0 && p.ToSize == nil {
		return Result{}, errors.New("prune: give an age or a size")
	}
	pl := plan{olderThan: p.OlderThan, trigger: -1, target: -1, dryRun: p.DryRun}
	if p.ToSize != nil {
		if *p.ToSize < 0 {
			return Result{}, fmt.Errorf("prune: negative size %d", *p.ToSize)
		}
		pl.trigger, pl.target = *p.ToSize, *p.ToSize
	}
	return e.run(ctx, pl)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
