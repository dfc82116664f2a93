package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// StatusFunc returns the mirror's live numbers. It is called for every
// page render and every GET /api/status (the page polls every few
// seconds), so it should be cheap or cache what is expensive.
type StatusFunc func(ctx context.Context) Status

// Status is the JSON of GET /api/status.
type Status struct {
	Time      time.Time        `json:"time"`
	Version   string           `json:"version,omitempty"`
	Upstreams []UpstreamStatus `json:"upstreams"`
	Cache     CacheStatus      `json:"cache"`
	// HitRatio is the share of content requests answered from the cache
	// (0..1); meaningful when Lookups > 0.
	HitRatio float64 `json:"hitRatio"`
	Lookups  int64   `json:"lookups"`
	// BytesServedToday counts response bytes since local midnight.
	BytesServedToday int64 `json:"bytesServedToday"`
	// Downloads in progress from upstreams, and requests waiting on them.
	Downloads int64 `json:"downloads"`
	Waiters   int64 `json:"waiters"`
}

// Upstream states.
const (
	StateUp      = "up"
	StateDown    = "down"
	StateLimited = "limited" // answered 429 Too Many Requests
	StateUnknown = "unknown"
)

// UpstreamStatus is what the mirror recently saw of one upstream.
type UpstreamStatus struct {
	Name string `json:"name"`
	// State is StateUp, StateDown, StateLimited or StateUnknown.
	State string `json:"state"`
	// LatencyMS is a recent average time to response headers.
	LatencyMS float64 `json:"latencyMs,omitempty"`
	// Checked is when the upstream last answered or failed; nil when never.
	Checked *time.Time `json:"checked,omitempty"`
	// Error describes the last failure when State is down or limited.
	Error string `json:"error,omitempty"`
	// RateLimit is the remaining pull budget (Docker Hub), when known.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// RateLimit is an upstream's pull budget from its last rate-limit headers.
type RateLimit struct {
	Remaining int `json:"remaining"`
	Limit     int `json:"limit"`
}

// CacheStatus is the state of the content cache.
type CacheStatus struct {
	SizeBytes  int64 `json:"sizeBytes"`
	LimitBytes int64 `json:"limitBytes"` // 0: unlimited
	Objects    int64 `json:"objects"`
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	if h.opts.Status == nil {
		http.NotFound(w, r)
		return
	}
	st := h.opts.Status(r.Context())
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	if st.Upstreams == nil {
		st.Upstreams = []UpstreamStatus{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(st)
}
