// Package mirror is the pull-through core: answer from the cache when it
// can, otherwise fetch from the right upstream while caching.
//
// The rules it keeps:
//   - Digest references never touch an upstream once cached.
//   - Tag answers younger than TagTTL are served as they are; older ones are
//     revalidated with a HEAD and served stale when the upstream fails (but
//     not when it says the tag is gone).
//   - Concurrent misses for one blob share one download (internal/fill);
//     concurrent misses for one manifest or tag share one request
//     (singleflight).
//   - An implicit name is resolved once, by searching upstreams in order, and
//     the winner is remembered. A search stops at the first upstream that
//     fails other than with a definite not-found: it never moves on to
//     another publisher because the right one is having a bad day.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/regmirror/regmirror/internal/fill"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/route"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/upstream"
)

// Upstream is what the mirror needs of an upstream registry client
// (implemented by *upstream.Client).
type Upstream interface {
	Name() string
	GetManifest(ctx context.Context, repo, ref string) (*upstream.Manifest, error)
	HeadManifest(ctx context.Context, repo, ref string) (*upstream.Manifest, error)
	GetBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (*upstream.Blob, error)
	HeadBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	GetTags(ctx context.Context, repo string, n int, last string) (*upstream.TagList, error)
	GetReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]byte, string, error)
}

// CacheResult says how a request was answered, for headers, logs and metrics.
type CacheResult string

// Cache results.
const (
	Hit       CacheResult = "hit" // from the cache, no upstream contact
	Revalid   CacheResult = "revalidated"
	Miss      CacheResult = "miss"      // fetched from the upstream
	Coalesced CacheResult = "coalesced" // joined a download already running
	Stale     CacheResult = "stale"     // upstream failed; served the cached answer
	Pass      CacheResult = "pass"      // passed through, nothing cached (tags, referrers)
)

// Options configures a Mirror.
type Options struct {
	Router    *route.Router
	Upstreams map[string]Upstream // by canonical name
	Store     store.Store
	Meta      meta.Store
	// FillDir holds downloads in progress; on the store's filesystem for the
	// disk backend, so a finished download is renamed into place.
	FillDir string
	// BlobTimeout bounds one blob download (default 1h); IdleTimeout fails a
	// download that receives nothing for that long (default 60s).
	BlobTimeout, IdleTimeout time.Duration
	// TagTTL: tag answers younger than this are served without revalidation.
	TagTTL time.Duration
	// NegativeTTL: names found on no upstream are remembered this long.
	NegativeTTL time.Duration
	// ManifestMemory bounds the in-memory manifest cache, in bytes.
	ManifestMemory int64
	// MaxBlobSize refuses larger blobs (0: no limit); MaxBlobSizes, by
	// upstream name, overrides it per upstream.
	MaxBlobSize  int64
	MaxBlobSizes map[string]int64
	// Access, when set, decides whether a repository on an upstream may be
	// served (access.Rules.Check): it returns a DENIED *oci.Error wrapping
	// access.ErrDenied or access.ErrNotAllowed. It is applied after routing
	// and before any upstream contact, to cached answers as well.
	Access func(upstream, repo string) error
	// Coord, when set, coordinates blob downloads with the other nodes
	// sharing Store (internal/coord): one node fetches from the upstream,
	// the others stream from it. Nil for a single node.
	Coord  FillCoordinator
	Logger *slog.Logger
	// Now is the clock (tests inject one).
	Now func() time.Time
}

// Mirror answers pull requests.
type Mirror struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	flight singleflight.Group
	hot    *lru
	neg    *negCache
	res    *resolutionCache
	access *accessLog
	fills  *fill.Manager
}

// New returns a Mirror. Call Close to flush access times.
func New(opts Options) *Mirror {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ManifestMemory <= 0 {
		opts.ManifestMemory = 64 << 20
	}
	m := &Mirror{
		opts: opts,
		log:  opts.Logger,
		now:  opts.Now,
		hot:  newLRU(opts.ManifestMemory),
		neg:  newNegCache(opts.NegativeTTL, opts.Now),
		res:  newResolutionCache(opts.Meta),
	}
	m.access = newAccessLog(opts.Meta, opts.Logger)
	m.fills = fill.New(fill.Options{Dir: opts.FillDir, Timeout: opts.BlobTimeout, IdleTimeout: opts.IdleTimeout, Logger: opts.Logger})
	return m
}

// Close waits for the downloads in progress to commit, cancelling those
// still running when ctx ends, then flushes pending access times. Nothing
// writes to the store or its temporary directory after Close returns.
func (m *Mirror) Close(ctx context.Context) error {
	derr := m.fills.Drain(ctx)
	if derr != nil {
		derr = fmt.Errorf("downloads cancelled at shutdown: %w", derr)
	}
	return errors.Join(derr, m.access.Flush(context.WithoutCancel(ctx)))
}

// RunBackground flushes access times periodically until ctx ends.
func (m *Mirror) RunBackground(ctx context.Context, every time.Duration) {
	m.access.Run(ctx, every)
}

// Store returns the content store (for the admin API and eviction).
func (m *Mirror) Store() store.Store { return m.opts.Store }

// Meta returns the metadata store.
func (m *Mirror) Meta() meta.Store { return m.opts.Meta }

// Fills returns the download manager (for metrics).
func (m *Mirror) Fills() *fill.Manager { return m.fills }

// Forget drops a digest from the in-memory manifest cache (after eviction).
func (m *Mirror) Forget(d digest.Digest) { m.hot.removeDigest(d) }
