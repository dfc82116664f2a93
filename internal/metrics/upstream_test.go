package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUpstreamTransport(t *testing.T) {
	status := http.StatusOK
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "0123456789")
	}))
	defer up.Close()

	m := New()
	c := &http.Client{Transport: m.UpstreamTransport("docker.io", nil)}
	get := func(path string) {
		t.Helper()
		resp, err := c.Get(up.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, ok := m.Upstream("docker.io"); !ok {
		t.Fatal("no stats for an upstream with a transport")
	}
	if s, _ := m.Upstream("docker.io"); s.State() != StateUnknown {
		t.Errorf("state before any request = %s", s.State())
	}
	get("/v2/library/nginx/manifests/latest")
	get("/v2/library/nginx/blobs/sha256:00")
	s, _ := m.Upstream("docker.io")
	if s.State() != StateUp || s.Requests != 2 || s.Latency <= 0 {
		t.Errorf("after two successes: %+v state %s", s, s.State())
	}

	status = http.StatusTooManyRequests
	get("/v2/library/nginx/manifests/latest")
	if s, _ := m.Upstream("docker.io"); s.State() != StateLimited {
		t.Errorf("after a 429: state %s", s.State())
	}
	status = http.StatusServiceUnavailable
	get("/v2/library/nginx/manifests/latest")
	if s, _ := m.Upstream("docker.io"); s.State() != StateDown || s.Failure != "status 503" {
		t.Errorf("after a 503: %+v state %s", s, s.State())
	}
	status = http.StatusNotFound // a definite answer: the upstream is up
	get("/v2/library/nope/manifests/latest")
	if s, _ := m.Upstream("docker.io"); s.State() != StateUp {
		t.Errorf("after a 404: state %s", s.State())
	}

	checks := []struct {
		name      string
		got, want float64
	}{
		{"200", testutil.ToFloat64(m.upRequests.WithLabelValues("docker.io", "200")), 2},
		{"429", testutil.ToFloat64(m.upRequests.WithLabelValues("docker.io", "429")), 1},
		{"503", testutil.ToFloat64(m.upRequests.WithLabelValues("docker.io", "503")), 1},
		{"throttled", testutil.ToFloat64(m.upErrors.WithLabelValues("docker.io", "throttled")), 1},
		{"server", testutil.ToFloat64(m.upErrors.WithLabelValues("docker.io", "server")), 1},
		{"network", testutil.ToFloat64(m.upErrors.WithLabelValues("docker.io", "network")), 0},
		{"bytes", testutil.ToFloat64(m.upBytes.WithLabelValues("docker.io")), 50},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Latency histograms by operation: 4 manifests, 1 blob.
	if n := testutil.CollectAndCount(m.upDuration); n != int(numKinds) {
		t.Errorf("%d duration series, want one per operation", n)
	}
	if !strings.Contains(gather(t, m), `regmirror_upstream_request_duration_seconds_count{op="manifests",upstream="docker.io"} 4`) {
		t.Error("manifest latency count is not 4")
	}
}

func TestUpstreamTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	m := New()
	c := &http.Client{Transport: m.UpstreamTransport("gcr.io", &http.Transport{})}
	if _, err := c.Get("http://" + addr + "/v2/"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	s, _ := m.Upstream("gcr.io")
	if s.State() != StateDown || s.Failure == "" {
		t.Errorf("after a refused connection: %+v", s)
	}
	if got := testutil.ToFloat64(m.upErrors.WithLabelValues("gcr.io", "network")); got != 1 {
		t.Errorf("network errors = %v", got)
	}
	if got := testutil.ToFloat64(m.upRequests.WithLabelValues("gcr.io", "error")); got != 1 {
		t.Errorf("requests{code=error} = %v", got)
	}

	// A timeout, and a cancellation that must not count against the upstream.
	m.UpstreamTransport("quay.io", nil)
	rt := &transport{obs: m.upstreamObsFor("quay.io"), now: time.Now, base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, r.Context().Err()
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://quay.io/v2/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	req2, _ := http.NewRequestWithContext(ctx2, "GET", "http://quay.io/v2/", nil)
	_, _ = rt.RoundTrip(req2)
	if got := testutil.ToFloat64(m.upErrors.WithLabelValues("quay.io", "timeout")); got != 1 {
		t.Errorf("timeouts = %v", got)
	}
	if s, _ := m.Upstream("quay.io"); s.Requests != 1 || s.Failure != "timeout" {
		t.Errorf("quay.io stats = %+v (a cancellation must not count)", s)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUpstreamStatsState(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		s    UpstreamStats
		want string
	}{
		{UpstreamStats{}, StateUnknown},
		{UpstreamStats{LastSuccess: t0}, StateUp},
		{UpstreamStats{LastSuccess: t0, LastFailure: t0.Add(-time.Second), Failure: "timeout"}, StateUp},
		{UpstreamStats{LastSuccess: t0, LastFailure: t0.Add(time.Second), Failure: "timeout"}, StateDown},
		{UpstreamStats{LastFailure: t0, Failure: "status 429"}, StateLimited},
	}
	for _, tt := range tests {
		if got := tt.s.State(); got != tt.want {
			t.Errorf("%+v: state %s, want %s", tt.s, got, tt.want)
		}
	}
}
