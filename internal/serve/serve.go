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
	"os"
	"path/filepath"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/registry"
	"github.com/regmirror/regmirror/internal/route"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/store/disk"
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
	Handler http.Handler // the public handler: API, homepage, health
}

// Build opens the stores and wires every component. Close releases them.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	dataDir := cfg.Storage.Path
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	ds, err := disk.New(dataDir)
	if err != nil {
		return nil, err
	}
	if n, err := ds.CleanIngest(0); err != nil {
		log.Warn("cleaning temporary files failed", "err", err)
	} else if n > 0 {
		log.Info("removed temporary files left by an earlier run", "count", n)
	}
	db, err := bolt.Open(filepath.Join(dataDir, "meta.db"))
	if err != nil {
		return nil, err
	}
	if db.Recreated() {
		log.Warn("metadata database was corrupt; rebuilding from the objects on disk", "moved_to", db.CorruptPath())
	}
	if n, err := meta.Rebuild(ctx, db, ds, time.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("rebuilding metadata: %w", err)
	} else if n > 0 {
		log.Info("recorded objects found on disk without metadata", "count", n)
	}

	router, err := route.New(cfg.Upstreams, cfg.Routes)
	if err != nil {
		db.Close()
		return nil, err
	}
	clients := make(map[string]*upstream.Client, len(cfg.Upstreams))
	ups := make(map[string]mirror.Upstream, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		pw, err := u.ResolvePassword()
		if err != nil {
			db.Close()
			return nil, err
		}
		c, err := upstream.New(upstream.Options{
			Name: u.Name, Endpoint: u.Endpoint, Username: u.Username, Password: pw,
			Timeout: u.Timeout.D(), DialTimeout: u.DialTimeout.D(), BlobTimeout: u.BlobTimeout.D(),
			MaxInFlight: u.MaxInFlight, UserAgent: "regmirror/" + Version, Logger: log,
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		clients[u.Name] = c
		ups[u.Name] = c
	}
	m := mirror.New(mirror.Options{
		Router: router, Upstreams: ups, Store: ds, Meta: db,
		FillDir:        ds.IngestDir(),
		TagTTL:         cfg.Cache.TagTTL.D(),
		NegativeTTL:    cfg.Cache.NegativeTTL.D(),
		ManifestMemory: int64(cfg.Cache.ManifestMemory),
		BlobTimeout:    maxBlobTimeout(cfg.Upstreams),
		Logger:         log,
	})
	app := &App{Config: cfg, Log: log, Mirror: m, Router: router, Clients: clients, Store: ds, Meta: db}
	api := registry.New(m, registry.Options{Logger: log, Redirect: cfg.Storage.S3.Redirect})
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	mux.Handle("/v2", api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", app.ready)
	mux.HandleFunc("GET /api/resolve", app.resolveAPI)
	mux.HandleFunc("/", app.home)
	app.Handler = accessLog(log, mux)
	return app, nil
}

// Close flushes and closes the stores.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.Mirror.Close(ctx), a.Meta.Close())
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

	a.Log.Info("regmirror listening", "addr", ln.Addr().String(), "data", cfg.Storage.Path, "upstreams", a.Router.Upstreams(), "version", Version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.D().String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	err = srv.Shutdown(sctx)
	// Downloads run detached from requests; give the ones in progress the
	// rest of the shutdown budget to commit.
	for a.Mirror.Fills().Active() > 0 && sctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if cerr := a.Close(context.Background()); cerr != nil {
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
