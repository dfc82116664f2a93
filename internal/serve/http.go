package serve

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/regmirror/regmirror/internal/logging"
	"github.com/regmirror/regmirror/internal/metrics"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/reference"
	"github.com/regmirror/regmirror/internal/registry"
)

// ready answers /readyz: 200 when the data directory is writable.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp(filepath.Join(a.Config.Storage.Path, "ingest"), "ready-*")
	if err == nil {
		name := f.Name()
		f.Close()
		err = os.Remove(name)
	}
	if err != nil {
		http.Error(w, "storage not writable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// ResolveAnswer is the JSON of GET /api/resolve.
type ResolveAnswer struct {
	Image     string `json:"image"`
	Upstream  string `json:"upstream"`
	Repo      string `json:"repository"`
	Reference string `json:"reference"`
	How       string `json:"how"`
	Pull      string `json:"pull"`
}

// resolveAPI answers GET /api/resolve?image=<reference>: which upstream
// serves an image through this mirror, how that was decided, and the pull
// command to use.
func (a *App) resolveAPI(w http.ResponseWriter, r *http.Request) {
	image := strings.TrimSpace(r.URL.Query().Get("image"))
	ref, err := reference.Parse(image)
	if err != nil {
		oci.WriteError(w, oci.NewError(oci.CodeNameInvalid, "%v", err))
		return
	}
	t, err := a.Mirror.ResolveOnly(r.Context(), ref.Name, "", ref.TagOrDigest())
	if err != nil {
		var oe *oci.Error
		if !errors.As(err, &oe) {
			oe = oci.NewError(oci.CodeUnavailable, "%v", err)
		}
		oci.WriteError(w, oe)
		return
	}
	host := a.publicHost(r)
	ans := ResolveAnswer{
		Image: image, Upstream: t.Upstream, Repo: t.Repo, Reference: ref.TagOrDigest(), How: string(t.How),
		Pull: "docker pull " + host + "/" + ref.Name + ref.Suffix(),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// publicHost is the mirror's host name as users write it: publicURL's host
// when configured, else the request's Host.
func (a *App) publicHost(r *http.Request) string {
	if u := a.Config.PublicURL; u != "" {
		u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
		return strings.TrimSuffix(u, "/")
	}
	return r.Host
}

// notFound answers every path nothing else serves (the homepage has
// GET /): an OCI error, like every other failure.
func notFound(w http.ResponseWriter, r *http.Request) {
	oci.WriteError(w, oci.NewError(oci.CodeNameUnknown, "not found"))
}

// accessLog turns each finished request into an access-log line: client,
// method, path, status, bytes, duration, upstream and cache result. It runs
// as a hook of the metrics middleware, which owns the response wrapper.
func accessLog(write func(logging.Access)) func(metrics.Request, http.Header) {
	return func(r metrics.Request, h http.Header) {
		write(logging.Access{
			Client: r.RemoteAddr, Method: r.Method, Path: r.URL.RequestURI(),
			Status: r.Status, Bytes: r.Bytes, Duration: r.Duration, Time: r.End,
			Upstream: h.Get(registry.HeaderUpstream), Cache: h.Get(registry.HeaderCache),
		})
	}
}

// slogAccess writes access lines through a plain *slog.Logger (when Build
// is not given the faster logging.Logger.Access).
func slogAccess(log *slog.Logger) func(logging.Access) {
	return func(a logging.Access) {
		log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("client", a.Client),
			slog.String("method", a.Method),
			slog.String("path", a.Path),
			slog.Int("status", a.Status),
			slog.Int64("bytes", a.Bytes),
			slog.Duration("duration", a.Duration),
			slog.String("upstream", a.Upstream),
			slog.String("cache", a.Cache),
		)
	}
}
