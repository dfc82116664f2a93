package metrics

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Grafana dashboard in deploy/ must only use metrics this package
// exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "regmirror.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}

	// Exercise every series so that /metrics lists them all.
	m := New()
	m.WatchFills(fakeFills{})
	m.WatchCache(func() CacheUsage { return CacheUsage{Limit: 1} })
	m.WatchRateLimit("docker.io", &fakeRate{rem: 1, lim: 2, ok: true})
	m.Evicted(1, 1)
	h := m.Middleware(content("docker.io", "hit", "x", 200))
	serve(t, h, "GET", "/v2/a/manifests/b")
	rt := m.UpstreamTransport("docker.io", roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500, Body: http.NoBody, Request: r}, nil
	}))
	req, _ := http.NewRequest("GET", "http://x/v2/", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	exported := gather(t, m)

	name := regexp.MustCompile(`\b(regmirror|go|process)_[a-z_]+\b`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, metric := range name.FindAllString(tg.Expr, -1) {
				n++
				base := metric
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					base = strings.TrimSuffix(base, suf)
				}
				if !strings.Contains(exported, "\n"+base+"{") && !strings.Contains(exported, "\n"+base+" ") &&
					!strings.Contains(exported, "# TYPE "+base+" ") {
					t.Errorf("panel %q uses %s, which /metrics does not export", p.Title, metric)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d metric references found in the dashboard", n)
	}
}
