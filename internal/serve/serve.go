// Package serve assembles a running mirror from a Config: the stores, the
// upstream clients, the router, the mirror core, the HTTP handlers and the
// listeners. It is the only place that knows every concrete type.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/coord"
	"github.com/regmirror/regmirror/internal/logging"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/metrics"
	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/registry"
	"github.com/regmirror/regmirror/internal/route"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/tlsconf"
	"github.com/regmirror/regmirror/internal/upstream"
)

// Version is set by the build (-ldflags "-X .../serve.Version=...").
var Version = "dev"

// App is an assembled mirror, ready to serve.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Mirror  *mirror.Mirror
	Router  *route.Router
	Clients map[string]*upstream.Client
	Store   store.Store
	Meta    meta.Store
	Handler http.Handler       // the public handler: API, homepage, health
	Coord   *coord.Coordinator // multi-node coordination; nil for a single node
	Metrics *metrics.Metrics
	TLS     *tlsconf.Setup

	lc *lifecycle // eviction, admin API, scheduled prefetch
}

// Option tunes Build.
type Option func(*options)

type options struct {
	access func(logging.Access)
}

// WithAccessLog sets the writer of access-log lines (logging.Logger.Access
// is the fast one); by default they go through the slog logger.
func WithAccessLog(write func(logging.Access)) Option {
	return func(o *options) { o.access = write }
}

// Build opens the stores and wires every component. Close releases them.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	o := options{access: slogAccess(log)}
	for _, opt := range opts {
		opt(&o)
	}
	st, md, co, fillDir, err := openBackends(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	app, err := build(ctx, cfg, log, o, st, md, co, fillDir)
	if err != nil {
		_ = closeBackends(md, co)
		return nil, err
	}
	return app, nil
}

// build wires the components over opened backends.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, o options, st store.Store, md meta.Store, co *coord.Coordinator, fillDir string) (*App, error) {
	router, err := route.New(cfg.Upstreams, cfg.Routes)
	if err != nil {
		return nil, err
	}
	g, err := newGuard(cfg, log)
	if err != nil {
		return nil, err
	}
	ts, err := tlsconf.New(cfg, log)
	if err != nil {
		return nil, err
	}
	lc, err := newLifecycle(ctx, cfg, st, md, log)
	if err != nil {
		return nil, err
	}
	met := metrics.New()
	maxBlob := map[string]int64{}
	clients := make(map[string]*upstream.Client, len(cfg.Upstreams))
	ups := make(map[string]mirror.Upstream, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		pw, err := u.ResolvePassword()
		if err != nil {
			return nil, err
		}
		c, err := upstream.New(upstream.Options{
			Name: u.Name, Endpoint: u.Endpoint, Username: u.Username, Password: pw,
			Timeout: u.Timeout.D(), DialTimeout: u.DialTimeout.D(), BlobTimeout: u.BlobTimeout.D(),
			MaxInFlight: u.MaxInFlight, UserAgent: "regmirror/" + Version, Logger: log,
			BreakerFailures: u.BreakerFailures, BreakerCooldown: u.BreakerCooldown.D(),
			WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return met.UpstreamTransport(u.Name, rt) },
		})
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		clients[u.Name] = c
		ups[u.Name] = c
		maxBlob[u.Name] = int64(u.MaxBlobSize)
	}
	m := mirror.New(mirror.Options{
		Router: router, Upstreams: ups, Store: st, Meta: lc.meta(),
		Coord:          fillCoordinator(co),
		FillDir:        fillDir,
		TagTTL:         cfg.Cache.TagTTL.D(),
		NegativeTTL:    cfg.Cache.NegativeTTL.D(),
		ManifestMemory: int64(cfg.Cache.ManifestMemory),
		BlobTimeout:    maxBlobTimeout(cfg.Upstreams),
		IdleTimeout:    cfg.Cache.BlobIdleTimeout.D(),
		MaxBlobSizes:   maxBlob,
		Access:         g.accessCheck(),
		Logger:         log,
	})
	lc.attach(m)
	lc.metrics = met.Handler()
	lc.evicted = met.Evicted
	lc.hits = func() (int64, int64) { s := met.Snapshot(); return s.Hits, s.Lookups }
	if co != nil {
		lc.leader = func(ctx context.Context) bool { return co.IsLeader(ctx, "evict") }
	}
	app := &App{Config: cfg, Log: log, Mirror: m, Router: router, Clients: clients, Store: st, Meta: md,
		Coord: co, Metrics: met, TLS: ts, lc: lc}

	obs := newObserver(observerOptions{Config: cfg, Metrics: met, Clients: clients, Fills: m.Fills(), Log: log,
		Usage: func(ctx context.Context) (metrics.CacheUsage, error) {
			u, err := lc.evictor.Usage(ctx)
			return metrics.CacheUsage{Bytes: u.Bytes, Objects: int64(u.Objects)}, err
		}})
	api := registry.New(m, registry.Options{Logger: log, Redirect: cfg.Storage.S3.Redirect})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", app.ready)
	mux.HandleFunc("GET /api/resolve", app.resolveAPI)
	obs.route(mux, Version)
	mux.HandleFunc("/", notFound)
	// The API goes straight to its handler (it parses its own paths); the
	// mux has the rest. Metrics and the access log see every request,
	// refusals included.
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/v2" || strings.HasPrefix(p, "/v2/") {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	app.Handler = met.Middleware(g.wrap(front), accessLog(o.access))
	return app, nil
}

// Close lets downloads in progress finish (cancelling them when ctx ends),
// then flushes and closes the stores.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.Mirror.Close(ctx), closeBackends(a.Meta, a.Coord))
}

// Run serves until ctx ends, then shuts down gracefully: stop accepting,
// let in-flight requests (and the downloads they follow) finish within
// server.shutdownTimeout.
func (a *App) Run(ctx context.Context) error {
	cfg := a.Config
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	_, stopRedirect, err := startRedirect(cfg, a.TLS, a.Log)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug),
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go a.Mirror.RunBackground(bg, 10*time.Second)
	if a.Coord != nil {
		go a.Coord.Run(bg)
	}
	stopLC, err := a.lc.start(bg, a.Handler)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopLC()

	a.Log.Info("regmirror listening", "addr", ln.Addr().String(), "tls", a.TLS.Enabled(), "data", cfg.Storage.Path,
		"upstreams", a.Router.Upstreams(), "version", Version)
	errc := make(chan error, 1)
	go func() { errc <- serveMain(srv, ln, a.TLS) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.D().String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	err = srv.Shutdown(sctx)
	stopRedirect(sctx)
	stopLC()
	// Downloads run detached from requests; Close gives the ones in progress
	// the rest of the shutdown budget to commit.
	if cerr := a.Close(sctx); cerr != nil {
		a.Log.Warn("closing stores", "err", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func maxBlobTimeout(ups []config.Upstream) time.Duration {
	var d time.Duration
	for _, u := range ups {
		d = max(d, u.BlobTimeout.D())
	}
	return d
}
