package registry

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/oci"
)

// Response headers regmirror adds to every content answer.
const (
	// HeaderUpstream names the upstream that served the answer.
	HeaderUpstream = "X-Mirror-Upstream"
	// HeaderCache says how: hit, miss, coalesced, revalidated, stale, pass.
	HeaderCache = "X-Mirror-Cache"
)

// Options configures the API handler.
type Options struct {
	Logger *slog.Logger
	// Redirect lets cached blob GETs be answered with a redirect to the
	// store (S3 presigned URLs) when the store supports it.
	Redirect bool
}

// Server is the /v2/ API as an http.Handler.
type Server struct {
	m    *mirror.Mirror
	log  *slog.Logger
	opts Options
}

// New returns the API handler for m.
func New(m *mirror.Mirror, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{m: m, log: opts.Logger, opts: opts}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, rt Route) error

// ServeHTTP parses the route once, checks the method, and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Docker-Distribution-Api-Version"] = apiVersion
	rt, err := ParseRoute(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	var h handlerFunc
	switch {
	case rt.Kind == KindUpload || !read:
		// One place answers every push, upload and delete.
		writeError(w, r, s.log, oci.NewError(oci.CodeUnsupported, "this is a read-only mirror: %s is not supported", r.Method))
		return
	case rt.Kind == KindBase:
		h = s.base
	case rt.Kind == KindCatalog:
		writeError(w, r, s.log, oci.NewError(oci.CodeUnsupported, "the catalog is not available on a mirror").WithStatus(http.StatusNotFound))
		return
	case rt.Kind == KindManifest:
		h = s.manifest
	case rt.Kind == KindBlob && r.Method == http.MethodHead:
		h = s.headBlob
	case rt.Kind == KindBlob:
		h = s.getBlob
	case rt.Kind == KindTags:
		h = s.tags
	case rt.Kind == KindReferrers:
		h = s.referrers
	}
	if err := h(w, r, rt); err != nil {
		writeError(w, r, s.log, err)
	}
}

// base answers GET /v2/: the API version check
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#determining-support).
func (s *Server) base(w http.ResponseWriter, r *http.Request, _ Route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
	return nil
}

// apiVersion is the Docker-Distribution-API-Version value, shared by every
// answer (net/http never modifies header values).
var apiVersion = []string{"registry/2.0"}

func setOrigin(h http.Header, upstream string, res mirror.CacheResult) {
	if upstream != "" {
		h[HeaderUpstream] = []string{upstream}
	}
	if res != "" {
		h[HeaderCache] = []string{string(res)}
	}
}

func setLength(h http.Header, n int64) {
	if n >= 0 {
		h.Set("Content-Length", strconv.FormatInt(n, 10))
	}
}

// nsParam returns the ?ns= parameter containerd sends, without parsing a
// query that is not there (most requests have none).
func nsParam(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("ns")
}
