// Package admin is the operator's side of a mirror: the cache operations
// behind `regmirror cache …` (list, stats, prune, verify), as a local
// implementation over the stores of a stopped mirror (Local), as a JSON API
// on the admin listener of a running one (New), and as the client of that
// API (Client). The admin listener also serves /metrics and
// /debug/pprof/*.
//
// The API has no authentication: it listens on 127.0.0.1:5001 by default,
// and must not be exposed (it can prune the cache and profile the process).
package admin

import (
	"context"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/store"
)

// Ops are the cache operations, the same whether the mirror runs (Client,
// through the admin API) or not (Local, on its data directory).
type Ops interface {
	// List returns the cached repositories and tags, of one upstream when
	// upstream is not "".
	List(ctx context.Context, upstream string) ([]Repo, error)
	Stats(ctx context.Context) (Stats, error)
	Prune(ctx context.Context, p PruneRequest) (evict.Result, error)
	// Verify re-hashes every object; opts.Progress is only called by Local.
	Verify(ctx context.Context, opts evict.VerifyOptions) (evict.VerifyResult, error)
}

// Stats is the cache's usage, with request counts when the mirror runs.
type Stats struct {
	evict.Usage
	// Running: the figures come from a running mirror.
	Running bool `json:"running"`
	// Hits counts content answers from the cache since start (hit,
	// revalidated, stale); Lookups adds the misses (miss, coalesced).
	// HitRatio is Hits/Lookups. All three come from the running mirror's
	// metrics, when it has any (Counted).
	Counted  bool     `json:"counted,omitempty"`
	Hits     int64    `json:"hits,omitempty"`
	Lookups  int64    `json:"lookups,omitempty"`
	HitRatio *float64 `json:"hitRatio,omitempty"`
	// DiskFull: downloads currently pass through without being cached.
	DiskFull bool `json:"diskFull,omitempty"`
}

// PruneRequest is a prune as the API takes it: durations and sizes as
// strings ("720h", "10GiB").
type PruneRequest struct {
	OlderThan config.Duration `json:"olderThan,omitempty"`
	ToSize    *config.Size    `json:"toSize,omitempty"`
	DryRun    bool            `json:"dryRun,omitempty"`
}

// Policy converts r for the Evictor.
func (r PruneRequest) Policy() evict.Policy {
	p := evict.Policy{OlderThan: time.Duration(r.OlderThan), DryRun: r.DryRun}
	if r.ToSize != nil {
		n := int64(*r.ToSize)
		p.ToSize = &n
	}
	return p
}

// Local carries out the operations on the stores directly: on a stopped
// mirror's data directory, or inside the running mirror for the API.
type Local struct {
	Evictor *evict.Evictor
	Meta    meta.Store
	Store   store.Store
	// Running is set inside a running mirror, with the optional Hits
	// (cache hits and lookups since start) and DiskFull.
	Running  bool
	Hits     func() (hits, lookups int64)
	DiskFull func() bool
}

var _ Ops = (*Local)(nil)

// List implements Ops.
func (l *Local) List(ctx context.Context, upstream string) ([]Repo, error) {
	return List(ctx, l.Meta, l.Store, upstream)
}

// Stats implements Ops.
func (l *Local) Stats(ctx context.Context) (Stats, error) {
	u, err := l.Evictor.Usage(ctx)
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Usage: u, Running: l.Running}
	if l.Hits != nil {
		s.Counted = true
		s.Hits, s.Lookups = l.Hits()
		if s.Lookups > 0 {
			r := float64(s.Hits) / float64(s.Lookups)
			s.HitRatio = &r
		}
	}
	if l.DiskFull != nil {
		s.DiskFull = l.DiskFull()
	}
	return s, nil
}

// Prune implements Ops.
func (l *Local) Prune(ctx context.Context, p PruneRequest) (evict.Result, error) {
	return l.Evictor.Prune(ctx, p.Policy())
}

// Verify implements Ops.
func (l *Local) Verify(ctx context.Context, opts evict.VerifyOptions) (evict.VerifyResult, error) {
	return l.Evictor.Verify(ctx, opts)
}
