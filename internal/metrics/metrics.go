// Package metrics exposes regmirror's Prometheus metrics on a registry of
// its own (never the global default one), and keeps the few numbers the
// homepage shows (hit ratio, bytes served today, upstream reachability)
// readable in-process.
//
// Three kinds of input feed it:
//   - Middleware wraps the public HTTP handler and records every request,
//     reading the X-Mirror-Upstream and X-Mirror-Cache response headers;
//   - UpstreamTransport wraps each upstream client's transport and records
//     latency, status codes, errors and bytes received;
//   - Watch* register live sources (downloads, cache usage, rate limits)
//     that are read at scrape time.
//
// The metric names are listed in docs/operations.md.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "regmirror"

// maxUpstreamLabels bounds the distinct upstream label values taken from
// response headers; further names are counted as "other".
const maxUpstreamLabels = 64

// Histogram buckets, in seconds.
var (
	httpBuckets     = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	upstreamBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics is one set of regmirror metrics and the registry they live on.
// It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	httpRequests *prometheus.CounterVec // method, kind, code
	httpDuration [numKinds]prometheus.Observer
	httpBytes    [numKinds]prometheus.Counter
	httpInFlight prometheus.Gauge
	cacheReqs    *prometheus.CounterVec // upstream, result
	cacheBytes   *prometheus.CounterVec // upstream, result

	upDuration *prometheus.HistogramVec // upstream, op
	upRequests *prometheus.CounterVec   // upstream, code
	upErrors   *prometheus.CounterVec   // upstream, reason
	upBytes    *prometheus.CounterVec   // upstream

	evictions    prometheus.Counter
	evictedBytes prometheus.Counter

	reqCells  cowMap[reqKey, prometheus.Counter]
	upCells   cowMap[string, *cacheCells]
	upstreams cowMap[string, *upstreamObs]

	sources sources

	hits, lookups atomic.Int64
	served        atomic.Int64
	today         dayCounter
}

// New returns a Metrics with its own registry, which also carries the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: time.Now}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by method (GET, HEAD, other), path kind and status code.",
	}, []string{"method", "kind", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time from request to the end of the response body, by path kind.",
		Buckets: httpBuckets,
	}, []string{"kind"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_response_bytes_total",
		Help: "Response body bytes written to clients, by path kind.",
	}, []string{"kind"})
	for k := range numKinds {
		m.httpDuration[k] = dur.WithLabelValues(kind(k).String())
		m.httpBytes[k] = bytes.WithLabelValues(kind(k).String())
	}
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "http_requests_in_flight",
		Help: "HTTP requests being answered now.",
	})
	m.cacheReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_requests_total",
		Help: "Content requests by upstream and cache result (hit, revalidated, stale, miss, coalesced, pass).",
	}, []string{"upstream", "result"})
	m.cacheBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_response_bytes_total",
		Help: "Response bytes of content requests by upstream and cache result: hit, revalidated and stale came from the cache.",
	}, []string{"upstream", "result"})
	m.upDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_request_duration_seconds",
		Help:    "Time until an upstream's response headers, by upstream and operation (manifests, blobs, tags, referrers, base, other: tokens and redirects).",
		Buckets: upstreamBuckets,
	}, []string{"upstream", "op"})
	m.upRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_requests_total",
		Help: "Requests sent to upstreams, by upstream and status code (\"error\" when no response arrived).",
	}, []string{"upstream", "code"})
	m.upErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_errors_total",
		Help: "Failed upstream requests, by upstream and reason (network, timeout, server: 5xx, throttled: 429).",
	}, []string{"upstream", "reason"})
	m.upBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_received_bytes_total",
		Help: "Response body bytes received from upstreams.",
	}, []string{"upstream"})
	m.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_evictions_total",
		Help: "Objects evicted from the cache.",
	})
	m.evictedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_evicted_bytes_total",
		Help: "Bytes evicted from the cache.",
	})
	m.reg.MustRegister(m.httpRequests, dur, bytes, m.httpInFlight, m.cacheReqs, m.cacheBytes,
		m.upDuration, m.upRequests, m.upErrors, m.upBytes, m.evictions, m.evictedBytes,
		&m.sources,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry the metrics live on (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (for /metrics on
// the admin listener).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Evicted records that eviction removed objects totalling bytes.
func (m *Metrics) Evicted(objects int, bytes int64) {
	m.evictions.Add(float64(objects))
	m.evictedBytes.Add(float64(bytes))
}

// Snapshot is the in-process view of the request counters, for the
// homepage.
type Snapshot struct {
	// Hits counts content answers from the cache (hit, revalidated, stale);
	// Lookups adds the misses (miss, coalesced). Pass-through answers (tag
	// lists, referrers) are in neither.
	Hits, Lookups int64
	// BytesServed is every response byte since start; BytesServedToday
	// since local midnight.
	BytesServed, BytesServedToday int64
}

// HitRatio is Hits/Lookups, or 0 before the first lookup.
func (s Snapshot) HitRatio() float64 {
	if s.Lookups == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Lookups)
}

// Snapshot returns the current in-process counters.
func (m *Metrics) Snapshot() Snapshot {
	return Snapshot{
		Hits:             m.hits.Load(),
		Lookups:          m.lookups.Load(),
		BytesServed:      m.served.Load(),
		BytesServedToday: m.today.get(m.now()),
	}
}

// dayCounter counts bytes for the current local day. A request finishing
// exactly at midnight may be counted on either side of it.
type dayCounter struct {
	day atomic.Int64
	n   atomic.Int64
}

func dayKey(t time.Time) int64 {
	y, mo, d := t.Date()
	return int64(y)*10000 + int64(mo)*100 + int64(d)
}

func (c *dayCounter) add(t time.Time, n int64) {
	d := dayKey(t)
	if cur := c.day.Load(); cur != d && c.day.CompareAndSwap(cur, d) {
		c.n.Store(0)
	}
	c.n.Add(n)
}

func (c *dayCounter) get(t time.Time) int64 {
	if c.day.Load() != dayKey(t) {
		return 0
	}
	return c.n.Load()
}

// cowMap is a copy-on-write map: lock-free reads without allocation, for
// label values that are created once and read on every request.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// get returns the value for k, creating it with mk on first use.
func (c *cowMap[K, V]) get(k K, mk func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	n := make(map[K]V, 1+c.len())
	if old != nil {
		for key, v := range *old {
			n[key] = v
		}
	}
	v := mk()
	n[k] = v
	c.m.Store(&n)
	return v
}

// lookup returns the value for k without creating it.
func (c *cowMap[K, V]) lookup(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cowMap[K, V]) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
