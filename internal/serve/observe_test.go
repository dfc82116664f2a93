package serve

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/metrics"
	"github.com/regmirror/regmirror/internal/upstream"
	"github.com/regmirror/regmirror/internal/web"
)

type fakeFills struct{}

func (fakeFills) Active() int64  { return 2 }
func (fakeFills) Waiters() int64 { return 5 }

// observed is an observer over two upstreams: one answering /v2/ with
// Docker Hub's rate-limit headers, one on a closed port.
func observed(t *testing.T) (*observer, *atomic.Int64) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Ratelimit-Limit", "100;w=21600")
		w.Header().Set("Ratelimit-Remaining", "76;w=21600")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	met := metrics.New()
	cfg := &config.Config{Storage: config.Storage{MaxSize: 10 << 30}, Upstreams: []config.Upstream{
		{Name: "docker.io", Endpoint: up.URL}, {Name: "gcr.io", Endpoint: closed},
	}}
	clients := make(map[string]*upstream.Client)
	for _, u := range cfg.Upstreams {
		c, err := upstream.New(upstream.Options{Name: u.Name, Endpoint: u.Endpoint, Timeout: 2 * time.Second,
			Transport: met.UpstreamTransport(u.Name, &http.Transport{})})
		if err != nil {
			t.Fatal(err)
		}
		clients[u.Name] = c
	}
	var walks atomic.Int64
	o := newObserver(observerOptions{Config: cfg, Metrics: met, Clients: clients, Fills: fakeFills{},
		Usage: func(ctx context.Context) (metrics.CacheUsage, error) {
			walks.Add(1)
			return metrics.CacheUsage{Bytes: 3 << 30, Objects: 42}, nil
		}})
	return o, &walks
}

func TestObserverStatus(t *testing.T) {
	o, walks := observed(t)
	st := o.status(context.Background())
	if len(st.Upstreams) != 2 || st.Upstreams[0].Name != "docker.io" || st.Upstreams[0].State != web.StateUnknown {
		t.Fatalf("first status: %+v", st.Upstreams)
	}
	if st.Cache.SizeBytes != 3<<30 || st.Cache.LimitBytes != 10<<30 || st.Cache.Objects != 42 || st.Downloads != 2 || st.Waiters != 5 {
		t.Errorf("status numbers: %+v", st)
	}

	// The first look pinged both upstreams in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = o.status(context.Background())
		if st.Upstreams[0].State != web.StateUnknown && st.Upstreams[1].State != web.StateUnknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstreams never probed: %+v", st.Upstreams)
		}
		time.Sleep(20 * time.Millisecond)
	}
	hub, gcr := st.Upstreams[0], st.Upstreams[1]
	if hub.State != web.StateUp || hub.Checked == nil || hub.LatencyMS <= 0 {
		t.Errorf("docker.io: %+v", hub)
	}
	if hub.RateLimit == nil || hub.RateLimit.Remaining != 76 || hub.RateLimit.Limit != 100 {
		t.Errorf("docker.io rate limit: %+v", hub.RateLimit)
	}
	if gcr.State != web.StateDown || gcr.Error == "" {
		t.Errorf("gcr.io on a closed port: %+v", gcr)
	}
	if n := walks.Load(); n != 1 {
		t.Errorf("cache usage walked %d times, want once (cached)", n)
	}

	// The same numbers reach /metrics.
	rec := httptest.NewRecorder()
	o.opts.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`regmirror_upstream_ratelimit_remaining{upstream="docker.io"} 76`,
		"regmirror_downloads_in_flight 2",
		"regmirror_download_waiters 5",
		"regmirror_cache_objects 42",
		"regmirror_cache_limit_bytes 1.073741824e+10",
		`regmirror_upstream_errors_total{reason="network",upstream="gcr.io"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestObserverRoutes(t *testing.T) {
	o, _ := observed(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "fallback", http.StatusNotFound) })
	o.route(mux, "v9")
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for path, want := range map[string]string{
		"/":                 "docker pull " + strings.TrimPrefix(srv.URL, "http://") + "/gcr.io/",
		"/api/status":       `"name":"gcr.io"`,
		"/static/style.css": "prefers-color-scheme",
		"/nope":             "fallback",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b := string(body)
		if !strings.Contains(b, want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if path == "/api/status" {
			var st web.Status
			if err := json.Unmarshal([]byte(b), &st); err != nil || len(st.Upstreams) != 2 {
				t.Errorf("status JSON: %v %s", err, b)
			}
		}
	}
}
