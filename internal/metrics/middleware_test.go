package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPathKind(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		path string
		want kind
	}{
		{"/v2/", kindBase},
		{"/v2", kindBase},
		{"/v2/library/nginx/manifests/latest", kindManifests},
		{"/v2/gcr.io/distroless/static/manifests/" + dg, kindManifests},
		{"/v2/library/nginx/blobs/" + dg, kindBlobs},
		{"/v2/a/b/c/d/blobs/" + dg, kindBlobs},
		{"/v2/library/nginx/tags/list", kindTags},
		{"/v2/library/nginx/referrers/" + dg, kindReferrers},
		{"/v2/foo/manifests/manifests/tags", kindManifests}, // repository foo/manifests, tag "tags"
		{"/v2/foo/blobs/uploads", kindOther},
		{"/v2/foo/blobs/uploads/", kindOther},
		{"/v2/foo/blobs/uploads/1234", kindOther},
		{"/v2/_catalog", kindOther},
		{"/v2/manifests/latest", kindOther}, // no repository
		{"/v2x/foo/manifests/latest", kindOther},
		{"/", kindOther},
		{"/api/status", kindOther},
		{"/healthz", kindOther},
		{"", kindOther},
	}
	for _, tt := range tests {
		if got := pathKind(tt.path); got != tt.want {
			t.Errorf("pathKind(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

// content answers like internal/registry does: headers, then a body.
func content(upstream, cache, body string, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if upstream != "" {
			w.Header().Set(headerUpstream, upstream)
		}
		if cache != "" {
			w.Header().Set(headerCache, cache)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func serve(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestMiddlewareCounts(t *testing.T) {
	m := New()
	day := time.Date(2025, 3, 1, 12, 0, 0, 0, time.Local)
	m.now = func() time.Time { return day }
	mux := http.NewServeMux()
	mux.Handle("/v2/library/nginx/manifests/latest", content("docker.io", "hit", "{}", 200))
	mux.Handle("/v2/library/nginx/blobs/", content("docker.io", "miss", "0123456789", 200))
	mux.Handle("/v2/gcr.io/distroless/static/manifests/latest", content("gcr.io", "stale", "abc", 200))
	mux.Handle("/v2/library/nginx/tags/list", content("docker.io", "pass", "tags", 200))
	mux.Handle("/v2/nope/manifests/latest", content("", "", "", 404))
	h := m.Middleware(mux)

	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	serve(t, h, "GET", "/v2/library/nginx/manifests/latest")
	serve(t, h, "HEAD", "/v2/library/nginx/manifests/latest")
	serve(t, h, "GET", "/v2/library/nginx/blobs/"+dg)
	serve(t, h, "GET", "/v2/gcr.io/distroless/static/manifests/latest")
	serve(t, h, "GET", "/v2/library/nginx/tags/list")
	serve(t, h, "GET", "/v2/nope/manifests/latest")
	serve(t, h, "DELETE", "/v2/nope/manifests/latest")

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"GET manifests 200", testutil.ToFloat64(m.httpRequests.WithLabelValues("GET", "manifests", "200")), 2},
		{"HEAD manifests 200", testutil.ToFloat64(m.httpRequests.WithLabelValues("HEAD", "manifests", "200")), 1},
		{"GET blobs 200", testutil.ToFloat64(m.httpRequests.WithLabelValues("GET", "blobs", "200")), 1},
		{"GET manifests 404", testutil.ToFloat64(m.httpRequests.WithLabelValues("GET", "manifests", "404")), 1},
		{"other manifests 404", testutil.ToFloat64(m.httpRequests.WithLabelValues("other", "manifests", "404")), 1},
		{"docker.io hit", testutil.ToFloat64(m.cacheReqs.WithLabelValues("docker.io", "hit")), 2},
		{"docker.io miss", testutil.ToFloat64(m.cacheReqs.WithLabelValues("docker.io", "miss")), 1},
		{"docker.io pass", testutil.ToFloat64(m.cacheReqs.WithLabelValues("docker.io", "pass")), 1},
		{"gcr.io stale", testutil.ToFloat64(m.cacheReqs.WithLabelValues("gcr.io", "stale")), 1},
		{"docker.io hit bytes", testutil.ToFloat64(m.cacheBytes.WithLabelValues("docker.io", "hit")), 2}, // HEAD wrote nothing
		{"docker.io miss bytes", testutil.ToFloat64(m.cacheBytes.WithLabelValues("docker.io", "miss")), 10},
		{"manifest bytes", testutil.ToFloat64(m.httpBytes[kindManifests]), 5},
		{"blob bytes", testutil.ToFloat64(m.httpBytes[kindBlobs]), 10},
		{"in flight", testutil.ToFloat64(m.httpInFlight), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.cacheReqs); n != 2*numResults {
		t.Errorf("cache_requests_total has %d series, want %d (6 results x 2 upstreams)", n, 2*numResults)
	}

	s := m.Snapshot()
	// hits: 2 docker.io hit + 1 gcr.io stale; lookups add 1 miss; pass is neither.
	if s.Hits != 3 || s.Lookups != 4 || s.HitRatio() != 0.75 {
		t.Errorf("snapshot = %+v ratio %v, want 3 hits of 4 lookups", s, s.HitRatio())
	}
	if s.BytesServed != 19 || s.BytesServedToday != 19 {
		t.Errorf("bytes served = %d, today %d, want 19", s.BytesServed, s.BytesServedToday)
	}
	m.now = func() time.Time { return day.Add(24 * time.Hour) }
	if got := m.Snapshot().BytesServedToday; got != 0 {
		t.Errorf("bytes served the next day = %d, want 0", got)
	}
	serve(t, h, "GET", "/v2/library/nginx/tags/list")
	if got := m.Snapshot(); got.BytesServedToday != 4 || got.BytesServed != 23 {
		t.Errorf("after a request the next day: %+v", got)
	}
}

func TestMiddlewareUpstreamLabelBound(t *testing.T) {
	m := New()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(headerUpstream, r.URL.Query().Get("u"))
		w.Header().Set(headerCache, "hit")
	}))
	for i := range maxUpstreamLabels + 10 {
		serve(t, h, "GET", "/v2/x/manifests/latest?u=up"+strings.Repeat("x", i))
	}
	if n := testutil.CollectAndCount(m.cacheReqs); n != (maxUpstreamLabels+1)*numResults {
		t.Errorf("%d series, want %d", n, (maxUpstreamLabels+1)*numResults)
	}
	if got := testutil.ToFloat64(m.cacheReqs.WithLabelValues("other", "hit")); got != 10 {
		t.Errorf("other = %v, want 10", got)
	}
}

// readFromRecorder notes whether ReadFrom was used.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom bool
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFrom = true
	return io.Copy(r.ResponseRecorder, src)
}

func TestMiddlewareKeepsReaderFrom(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	if err := os.WriteFile(p, []byte(strings.Repeat("x", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	m := New()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(p)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("wrapped writer is not an io.ReaderFrom")
		}
		w.Header().Set(headerCache, "hit")
		w.Header().Set(headerUpstream, "docker.io")
		_, _ = io.Copy(w, f)
	}))
	rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/a/blobs/sha256:00", nil))
	if !rec.readFrom {
		t.Error("the underlying writer's ReadFrom was not used")
	}
	if rec.Body.Len() != 100000 {
		t.Errorf("body %d bytes", rec.Body.Len())
	}
	if got := testutil.ToFloat64(m.cacheBytes.WithLabelValues("docker.io", "hit")); got != 100000 {
		t.Errorf("bytes = %v", got)
	}

	// Through a real server too: http.ServeContent and a flush.
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, p)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v2/a/blobs/x")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 100000 {
		t.Errorf("got %d bytes", n)
	}
}

func TestMiddlewareAllocations(t *testing.T) {
	m := New()
	h := m.Middleware(content("docker.io", "hit", "", 200))
	req := httptest.NewRequest("GET", "/v2/library/nginx/manifests/latest", nil)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // create the series
	allocs := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) })
	// The wrapper itself, and the deferred closure.
	t.Logf("allocs %v", allocs)
	if allocs > 3 {
		t.Errorf("%v allocations per request, want at most 3", allocs)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
