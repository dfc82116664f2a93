package serve

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// home is a placeholder until the homepage is embedded.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		oci.WriteError(w, oci.NewError(oci.CodeNameUnknown, "not found"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("regmirror: a pull-through mirror for container images.\n" +
		"Docker: add \"registry-mirrors\": [\"http://" + a.publicHost(r) + "\"] to daemon.json.\n" +
		"Explicit: docker pull " + a.publicHost(r) + "/gcr.io/distroless/static:latest\n"))
}

// statusWriter records the status and bytes of a response for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom keeps sendfile working through the wrapper: io.Copy hands the
// file to the underlying writer's ReadFrom.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one line per request: client, method, path, status,
// bytes, duration, upstream and cache result.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("client", r.RemoteAddr),
				slog.String("method", r.Method),
				slog.String("path", r.URL.RequestURI()),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("upstream", sw.Header().Get(registry.HeaderUpstream)),
				slog.String("cache", sw.Header().Get(registry.HeaderCache)),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}
