package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/admin"
	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/prefetch"
	"github.com/regmirror/regmirror/internal/store"
)

// lifecycle is the cache's life around the mirror: the start-up
// consistency check, eviction, the admin listener and scheduled prefetch.
// Build creates it (newLifecycle, before the mirror, whose metadata store is
// lc.meta(); then attach, and the optional hooks below); Run starts and
// stops it.
type lifecycle struct {
	cfg     *config.Config
	log     *slog.Logger
	raw     meta.Store // the metadata store itself
	store   store.Store
	evictor *evict.Evictor

	// Optional hooks, set before start:
	// metrics is served at /metrics on the admin listener;
	metrics http.Handler
	// hits gives the cache hits and lookups since start, for cache stats;
	hits func() (hits, lookups int64)
	// evicted is told what each sweep removed (metrics);
	evicted func(objects int, bytes int64)
	// leader says whether this node evicts (a Redis lease; nil: always);
	leader func(context.Context) bool
	// rand draws the prefetch schedule's jitter (nil: math/rand; tests fix it).
	rand func() float64

	mu        sync.Mutex
	mirror    *mirror.Mirror
	adminAddr string // where the admin listener listens, once started
}

// newLifecycle prepares eviction for cfg's bounds and, for a local cache
// (disk store, bbolt metadata), checks it: every object record against the
// store's size of the object (a stat each); mismatches are removed and
// fetched again on the next pull. A shared cache (S3, Redis) is not checked
// at each node's start: a stat per object is a request there, and its
// writes are atomic anyway; `cache verify` checks it.
func newLifecycle(ctx context.Context, cfg *config.Config, st store.Store, db meta.Store, log *slog.Logger) (*lifecycle, error) {
	lc := &lifecycle{cfg: cfg, log: log, raw: db, store: st}
	lc.evictor = evict.New(evict.Options{
		Store: st, Meta: db,
		MaxSize: int64(cfg.Storage.MaxSize), LowWater: cfg.Storage.LowWater, MaxAge: cfg.Cache.MaxAge.D(),
		Forget:  lc.forget,
		Flush:   lc.flush,
		Freed:   lc.freed,
		Evicted: lc.onEvicted,
		Leader:  lc.isLeader,
		Log:     log,
	})
	if cfg.Storage.Driver == "s3" || cfg.Coordination.Redis != "" {
		return lc, nil
	}
	res, err := lc.evictor.Reconcile(ctx)
	if err != nil {
		return nil, err
	}
	if res.Missing+res.Mismatched > 0 {
		log.Warn("cache check removed damaged entries; they are fetched again on the next pull",
			"checked", res.Checked, "missing", res.Missing, "size_mismatch", res.Mismatched, "tags", res.TagsRemoved)
	}
	return lc, nil
}

// meta is the metadata store to give the mirror: the real one, reporting
// new objects to the evictor so that passing the limit triggers a sweep.
func (lc *lifecycle) meta() meta.Store { return lc.evictor.Watch(lc.raw) }

// attach connects the mirror: eviction flushes its access times first,
// drops evicted manifests from its memory, and lets its downloads cache
// again after a full disk.
func (lc *lifecycle) attach(m *mirror.Mirror) {
	lc.mu.Lock()
	lc.mirror = m
	lc.mu.Unlock()
}

func (lc *lifecycle) attached() *mirror.Mirror {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.mirror
}

func (lc *lifecycle) forget(d digest.Digest) {
	if m := lc.attached(); m != nil {
		m.Forget(d)
	}
}

func (lc *lifecycle) flush(ctx context.Context) error {
	if m := lc.attached(); m != nil {
		return m.FlushAccess(ctx)
	}
	return nil
}

func (lc *lifecycle) freed() {
	if m := lc.attached(); m != nil {
		m.Fills().ClearDiskFull()
	}
}

func (lc *lifecycle) onEvicted(objects int, bytes int64) {
	if lc.evicted != nil {
		lc.evicted(objects, bytes)
	}
}

func (lc *lifecycle) isLeader(ctx context.Context) bool {
	return lc.leader == nil || lc.leader(ctx)
}

func (lc *lifecycle) diskFull() bool {
	if m := lc.attached(); m != nil {
		return m.Fills().DiskFull()
	}
	return false
}

// start runs eviction, the admin listener (unless admin.listen is "" or
// "off") and scheduled prefetch through public, the mirror's handler. stop
// ends them and waits; call it before closing the stores.
func (lc *lifecycle) start(ctx context.Context, public http.Handler) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }

	if addr := lc.cfg.Admin.Listen; addr != "" && addr != "off" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		lc.mu.Lock()
		lc.adminAddr = ln.Addr().String()
		lc.mu.Unlock()
		srv := &http.Server{
			Handler: admin.New(admin.Options{
				Evictor: lc.evictor, Meta: lc.raw, Store: lc.store, Metrics: lc.metrics,
				Hits: lc.hits, DiskFull: lc.diskFull, Log: lc.log,
			}),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(lc.log.Handler(), slog.LevelDebug),
		}
		lc.log.Info("admin API listening", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				lc.log.Warn("admin listener failed", "err", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx) // long admin requests (verify) are cut off at shutdown
		})
	}
	wg.Go(func() { lc.evictor.Run(ctx) })
	if len(lc.cfg.Prefetch) > 0 {
		s := &prefetch.Scheduler{
			Client: &prefetch.Client{
				Base: "http://regmirror.internal",
				HTTP: &http.Client{Transport: &prefetch.HandlerTransport{Handler: public, RemoteAddr: "scheduled-prefetch"}},
			},
			Log:  lc.log,
			Rand: lc.rand,
		}
		for _, p := range lc.cfg.Prefetch {
			s.Entries = append(s.Entries, prefetch.Entry{Image: p.Image, Platforms: p.Platforms, Interval: p.Interval.D()})
		}
		wg.Go(func() { s.Run(ctx) })
	}
	return stop, nil
}

// addr returns the admin listener's address, or "".
func (lc *lifecycle) addr() string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.adminAddr
}
