package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func gather(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

type fakeFills struct{ active, waiters int64 }

func (f fakeFills) Active() int64  { return f.active }
func (f fakeFills) Waiters() int64 { return f.waiters }

type fakeRate struct {
	rem, lim int
	ok       bool
}

func (f *fakeRate) RateLimit() (int, int, bool) { return f.rem, f.lim, f.ok }

func TestSources(t *testing.T) {
	m := New()
	out := gather(t, m)
	for _, absent := range []string{"regmirror_downloads_in_flight", "regmirror_cache_size_bytes", "regmirror_upstream_ratelimit_remaining"} {
		if strings.Contains(out, absent+" ") || strings.Contains(out, absent+"{") {
			t.Errorf("%s reported before a source was registered", absent)
		}
	}
	calls := 0
	m.WatchFills(fakeFills{active: 3, waiters: 7})
	m.WatchCache(func() CacheUsage { calls++; return CacheUsage{Bytes: 1 << 30, Objects: 42, Limit: 2 << 30} })
	hub := &fakeRate{}
	m.WatchRateLimit("docker.io", hub)
	m.Evicted(2, 1000)

	out = gather(t, m)
	if calls != 1 {
		t.Errorf("cache usage read %d times per scrape, want 1", calls)
	}
	for _, want := range []string{
		"regmirror_downloads_in_flight 3\n",
		"regmirror_download_waiters 7\n",
		"regmirror_cache_size_bytes 1.073741824e+09\n",
		"regmirror_cache_objects 42\n",
		"regmirror_cache_limit_bytes 2.147483648e+09\n",
		"regmirror_cache_evictions_total 2\n",
		"regmirror_cache_evicted_bytes_total 1000\n",
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(out, "regmirror_upstream_ratelimit_remaining{") {
		t.Error("rate limit reported before the upstream sent one")
	}
	*hub = fakeRate{rem: 76, lim: 100, ok: true}
	out = gather(t, m)
	for _, want := range []string{
		`regmirror_upstream_ratelimit_remaining{upstream="docker.io"} 76`,
		`regmirror_upstream_ratelimit_limit{upstream="docker.io"} 100`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// Two Metrics in one process: each has its own registry, nothing global.
func TestIndependentInstances(t *testing.T) {
	a, b := New(), New()
	a.Evicted(1, 1)
	if strings.Contains(gather(t, b), "regmirror_cache_evictions_total 1") {
		t.Error("b sees a's counter")
	}
	if err := prometheus.DefaultRegisterer.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "regmirror_cache_evictions_total"})); err != nil {
		t.Errorf("the default registry already holds our metric: %v", err)
	}
}
