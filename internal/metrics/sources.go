package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Fills is what the download manager tells (implemented by *fill.Manager).
type Fills interface {
	Active() int64  // downloads in progress
	Waiters() int64 // requests following a download another request started
}

// CacheUsage is the state of the cache.
type CacheUsage struct {
	Bytes   int64 // content bytes stored
	Objects int64 // objects stored
	Limit   int64 // storage.maxSize; 0 = unlimited
}

// RateLimiter reports an upstream's pull budget (implemented by
// *upstream.Client: Docker Hub's ratelimit-remaining/ratelimit-limit).
type RateLimiter interface {
	RateLimit() (remaining, limit int, ok bool)
}

// WatchFills makes the downloads_in_flight and download_waiters gauges
// read f at scrape time. A later call replaces f.
func (m *Metrics) WatchFills(f Fills) { m.sources.fills.Store(&f) }

// WatchCache makes the cache_size_bytes, cache_objects and
// cache_limit_bytes gauges call usage once per scrape. usage should be
// cheap or cache its answer. A later call replaces it.
func (m *Metrics) WatchCache(usage func() CacheUsage) { m.sources.cache.Store(&usage) }

// WatchRateLimit makes the upstream_ratelimit_remaining and
// upstream_ratelimit_limit gauges of upstream read src at scrape time,
// once src has seen rate-limit headers. A later call for the same upstream
// replaces src.
func (m *Metrics) WatchRateLimit(upstream string, src RateLimiter) {
	m.sources.mu.Lock()
	defer m.sources.mu.Unlock()
	if m.sources.rate == nil {
		m.sources.rate = make(map[string]RateLimiter)
	}
	m.sources.rate[upstream] = src
}

var (
	descDownloads = prometheus.NewDesc(namespace+"_downloads_in_flight",
		"Upstream blob downloads in progress.", nil, nil)
	descWaiters = prometheus.NewDesc(namespace+"_download_waiters",
		"Requests served from a download another request started (coalesced).", nil, nil)
	descCacheSize = prometheus.NewDesc(namespace+"_cache_size_bytes",
		"Bytes of content in the cache.", nil, nil)
	descCacheObjects = prometheus.NewDesc(namespace+"_cache_objects",
		"Objects (blobs and manifests) in the cache.", nil, nil)
	descCacheLimit = prometheus.NewDesc(namespace+"_cache_limit_bytes",
		"Configured cache size limit (storage.maxSize); 0 is unlimited.", nil, nil)
	descRateRemaining = prometheus.NewDesc(namespace+"_upstream_ratelimit_remaining",
		"Pulls left in the upstream's rate-limit window, from its last ratelimit-remaining header.", []string{"upstream"}, nil)
	descRateLimit = prometheus.NewDesc(namespace+"_upstream_ratelimit_limit",
		"Pulls allowed per rate-limit window, from the upstream's last ratelimit-limit header.", []string{"upstream"}, nil)
)

// sources is a collector over the live sources registered with Watch*.
// Metrics of a source that is not registered are absent, not zero.
type sources struct {
	fills atomic.Pointer[Fills]
	cache atomic.Pointer[func() CacheUsage]

	mu   sync.Mutex
	rate map[string]RateLimiter
}

// Describe implements prometheus.Collector.
func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDownloads, descWaiters, descCacheSize, descCacheObjects, descCacheLimit, descRateRemaining, descRateLimit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *sources) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if f := s.fills.Load(); f != nil {
		gauge(descDownloads, float64((*f).Active()))
		gauge(descWaiters, float64((*f).Waiters()))
	}
	if fn := s.cache.Load(); fn != nil {
		u := (*fn)()
		gauge(descCacheSize, float64(u.Bytes))
		gauge(descCacheObjects, float64(u.Objects))
		gauge(descCacheLimit, float64(u.Limit))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, src := range s.rate {
		if rem, lim, ok := src.RateLimit(); ok {
			gauge(descRateRemaining, float64(rem), name)
			gauge(descRateLimit, float64(lim), name)
		}
	}
}
