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

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/tlsconf"
)

// serveMain serves srv on ln: HTTPS when ts is enabled (HTTP/2 included),
// else plain HTTP.
func serveMain(srv *http.Server, ln net.Listener, ts *tlsconf.Setup) error {
	if ts != nil && ts.Enabled() {
		srv.TLSConfig = ts.Config
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// startRedirect runs the plain-HTTP listener of tls.redirectHTTP (ACME
// http-01 challenges, redirects to HTTPS) until stop is called. Without
// TLS or without redirectHTTP it does nothing.
func startRedirect(cfg *config.Config, ts *tlsconf.Setup, log *slog.Logger) (addr string, stop func(context.Context), err error) {
	stop = func(context.Context) {}
	if cfg.TLS.RedirectHTTP == "" {
		return "", stop, nil
	}
	if ts == nil || !ts.Enabled() {
		log.Warn("tls.redirectHTTP is set but TLS is off; not listening there", "addr", cfg.TLS.RedirectHTTP)
		return "", stop, nil
	}
	ln, err := net.Listen("tcp", cfg.TLS.RedirectHTTP)
	if err != nil {
		return "", stop, fmt.Errorf("tls.redirectHTTP listener: %w", err)
	}
	srv := &http.Server{
		Handler:           ts.RedirectHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("redirect listener failed", "err", err)
		}
	})
	log.Info("redirecting HTTP to HTTPS", "addr", ln.Addr().String())
	return ln.Addr().String(), func(ctx context.Context) {
		_ = srv.Shutdown(ctx)
		wg.Wait()
	}, nil
}
