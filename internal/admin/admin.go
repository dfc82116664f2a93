package admin

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/store"
)

// Paths of the API.
const (
	PathList   = "/admin/cache/ls"     // GET ?upstream=NAME → []Repo
	PathStats  = "/admin/cache/stats"  // GET → Stats
	PathPrune  = "/admin/cache/prune"  // POST PruneRequest → evict.Result
	PathVerify = "/admin/cache/verify" // POST evict.VerifyOptions → evict.VerifyResult
)

// maxRequestBody bounds the JSON bodies the API reads.
const maxRequestBody = 64 << 10

// Options configures the admin handler.
type Options struct {
	Evictor *evict.Evictor
	Meta    meta.Store
	Store   store.Store
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// Hits (cache hits and lookups since start, from the metrics) and
	// DiskFull feed Stats (optional).
	Hits     func() (hits, lookups int64)
	DiskFull func() bool
	Log      *slog.Logger
}

// New returns the admin listener's handler: the cache API, /metrics and
// /debug/pprof/*.
func New(opts Options) http.Handler {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ops := &Local{Evictor: opts.Evictor, Meta: opts.Meta, Store: opts.Store, Running: true, Hits: opts.Hits, DiskFull: opts.DiskFull}
	a := &api{ops: ops, log: opts.Log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathList, a.list)
	mux.HandleFunc("GET "+PathStats, a.stats)
	mux.HandleFunc("POST "+PathPrune, a.prune)
	mux.HandleFunc("POST "+PathVerify, a.verify)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	// Registered here, never by importing net/http/pprof for its side
	// effect on http.DefaultServeMux.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

type api struct {
	ops *Local
	log *slog.Logger
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	repos, err := a.ops.List(r.Context(), r.URL.Query().Get("upstream"))
	a.reply(w, repos, err)
}

func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	s, err := a.ops.Stats(r.Context())
	a.reply(w, s, err)
}

func (a *api) prune(w http.ResponseWriter, r *http.Request) {
	var req PruneRequest
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.ops.Prune(r.Context(), req)
	if err == nil && !req.DryRun {
		a.log.Info("cache pruned through the admin API", "evicted", res.Evicted, "bytes", res.BytesFreed)
	}
	a.reply(w, res, err)
}

func (a *api) verify(w http.ResponseWriter, r *http.Request) {
	var req evict.VerifyOptions
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.ops.Verify(r.Context(), req)
	if err == nil && len(res.Corrupt) > 0 {
		a.log.Warn("cache verify found corrupt objects", "corrupt", len(res.Corrupt), "repaired", res.Repaired)
	}
	a.reply(w, res, err)
}

// decode reads a JSON body (an empty body is the zero request).
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err == nil && len(body) > maxRequestBody {
		err = errors.New("request body too large")
	}
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return false
	}
	return true
}

func (a *api) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		a.log.Warn("admin request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// apiError is the body of a failed request.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the status is out; a failed write means the client left
}
