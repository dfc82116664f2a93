package web

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fixtureOptions is a mirror of five public registries and a private one.
func fixtureOptions(status StatusFunc) Options {
	return Options{
		Upstreams: []Upstream{
			{Name: "docker.io", Aliases: []string{"index.docker.io", "registry-1.docker.io"}, Endpoint: "https://registry-1.docker.io", Implicit: true},
			{Name: "gcr.io", Endpoint: "https://gcr.io", Implicit: true},
			{Name: "registry.k8s.io", Aliases: []string{"k8s.gcr.io"}, Endpoint: "https://registry.k8s.io", Implicit: true},
			{Name: "quay.io", Endpoint: "https://quay.io", Implicit: true},
			{Name: "ghcr.io", Endpoint: "https://ghcr.io", Implicit: true},
			{Name: "registry.corp.example.com", Endpoint: "https://registry.corp.example.com", Example: "platform/api:1.4"},
		},
		Status:  status,
		Version: "v1.2.3",
	}
}

func fakeStatus(context.Context) Status {
	checked := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	return Status{
		Time:    checked,
		Version: "v1.2.3",
		Upstreams: []UpstreamStatus{
			{Name: "docker.io", State: StateUp, LatencyMS: 84, Checked: &checked, RateLimit: &RateLimit{Remaining: 76, Limit: 100}},
			{Name: "gcr.io", State: StateDown, Checked: &checked, Error: "timeout"},
			{Name: "registry.k8s.io", State: StateLimited, Error: "status 429"},
			{Name: "quay.io", State: StateUnknown},
			{Name: "ghcr.io", State: "<bogus>"},
		},
		Cache:            CacheStatus{SizeBytes: 3 << 30, LimitBytes: 10 << 30, Objects: 1234},
		HitRatio:         0.875,
		Lookups:          800,
		BytesServedToday: 5 << 30,
		Downloads:        2,
		Waiters:          3,
	}
}

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// contains checks that body holds each text as the template escapes it.
func contains(t *testing.T, body string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(body, html.EscapeString(s)) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		want   string
	}{
		{"default", "/", nil, `<html lang="en">`},
		{"browser prefers Chinese", "/", map[string]string{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, `<html lang="zh-CN">`},
		{"browser prefers English", "/", map[string]string{"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.8"}, `<html lang="en">`},
		{"q values win over order", "/", map[string]string{"Accept-Language": "fr;q=1, en;q=0.5, zh-TW;q=0.7"}, `<html lang="zh-CN">`},
		{"unsupported only", "/", map[string]string{"Accept-Language": "fr-FR, de"}, `<html lang="en">`},
		{"query wins", "/?lang=zh", map[string]string{"Accept-Language": "en"}, `<html lang="zh-CN">`},
		{"cookie", "/", map[string]string{"Cookie": langCookie + "=zh", "Accept-Language": "en"}, `<html lang="zh-CN">`},
		{"query over cookie", "/?lang=en", map[string]string{"Cookie": langCookie + "=zh"}, `<html lang="en">`},
	}
	h := New(fixtureOptions(fakeStatus))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.target, tt.hdr)
			if !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("want %s", tt.want)
			}
		})
	}
	rec := get(t, h, "/?lang=zh", nil)
	if c := rec.Header().Get("Set-Cookie"); !strings.Contains(c, langCookie+"=zh") {
		t.Errorf("?lang= not remembered: Set-Cookie %q", c)
	}
	contains(t, rec.Body.String(), "容器镜像拉取加速器", "English")
}

func TestMessagesComplete(t *testing.T) {
	for k, m := range messages {
		if m[0] == "" || m[1] == "" {
			t.Errorf("message %q lacks a translation", k)
		}
	}
	for _, k := range jsKeys {
		if _, ok := messages["js."+k]; !ok {
			t.Errorf("script message %q missing", k)
		}
	}
}

func TestSnippetsPlainHTTP(t *testing.T) {
	h := New(fixtureOptions(fakeStatus))
	body := get(t, h, "/", map[string]string{"Host": "mirror.test:5000"}).Body.String()
	contains(t, body,
		"docker pull mirror.test:5000/nginx",
		"docker pull mirror.test:5000/gcr.io/distroless/static:latest",
		"docker pull mirror.test:5000/docker.io/library/nginx:latest",
		"docker pull mirror.test:5000/registry.k8s.io/pause:3.10",
		"docker pull mirror.test:5000/registry.corp.example.com/platform/api:1.4",
		"docker pull mirror.test:5000/pause:3.10",
		"docker pull mirror.test:5000/distroless/static-debian11",
		"{\n  \"registry-mirrors\": [\"http://mirror.test:5000\"],\n  \"insecure-registries\": [\"mirror.test:5000\"]\n}",
		"[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d\"",
		"[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"",
		"/etc/containerd/certs.d/docker.io/hosts.toml",
		"server = \"https://registry-1.docker.io\"\n\n[host.\"http://mirror.test:5000\"]\n  capabilities = [\"pull\", \"resolve\"]",
		"server = \"https://gcr.io\"\n\n[host.\"http://mirror.test:5000\"]\n  capabilities = [\"pull\", \"resolve\"]",
		"sudo tee /etc/containerd/certs.d/quay.io/hosts.toml >/dev/null <<'EOF'\nserver = \"https://quay.io\"",
		"mirrors:\n  docker.io:\n    endpoint:\n      - \"http://mirror.test:5000\"\n  gcr.io:\n",
		"  registry.corp.example.com:\n    endpoint:\n      - \"http://mirror.test:5000\"",
		"config_path = \"/etc/containerd/certs.d\"\nnodes:",
		"[[registry]]\nprefix = \"ghcr.io\"\nlocation = \"ghcr.io\"\n\n[[registry.mirror]]\nlocation = \"mirror.test:5000/ghcr.io\"\ninsecure = true",
		"crane manifest --insecure mirror.test:5000/gcr.io/distroless/static:latest",
		"docker.io → gcr.io → registry.k8s.io → quay.io → ghcr.io",
	)
	// Every upstream has its own hosts.toml and registries.conf entry.
	for _, u := range fixtureOptions(nil).Upstreams {
		contains(t, body, "/etc/containerd/certs.d/"+u.Name+"/hosts.toml", "prefix = \""+u.Name+"\"", "  "+u.Name+":\n    endpoint:")
	}
}

func TestSnippetsPublicURL(t *testing.T) {
	opts := fixtureOptions(fakeStatus)
	opts.PublicURL = "https://mirror.example.org"
	body := get(t, New(opts), "/", map[string]string{"Host": "10.0.0.5:5000"}).Body.String()
	contains(t, body,
		"{\n  \"registry-mirrors\": [\"https://mirror.example.org\"]\n}",
		"[host.\"https://mirror.example.org\"]",
		"location = \"mirror.example.org/docker.io\"\n",
		"docker pull mirror.example.org/gcr.io/distroless/static:latest",
	)
	for _, bad := range []string{"10.0.0.5", "insecure-registries", "insecure = true", "--insecure"} {
		if strings.Contains(body, bad) {
			t.Errorf("page with publicURL contains %q", bad)
		}
	}
}

func TestHTTPSRequestWithoutPublicURL(t *testing.T) {
	req := httptest.NewRequest("GET", "https://mirror.example.net/", nil)
	rec := httptest.NewRecorder()
	New(fixtureOptions(nil)).ServeHTTP(rec, req)
	contains(t, rec.Body.String(), "\"registry-mirrors\": [\"https://mirror.example.net\"]\n}")
}

func TestForgedHost(t *testing.T) {
	body := get(t, New(fixtureOptions(nil)), "/", map[string]string{"Host": `x"><script>alert(1)</script>`}).Body.String()
	if strings.Contains(body, "alert(1)") || strings.Contains(body, "<script>alert") {
		t.Error("a forged Host header reached the page")
	}
	contains(t, body, "docker pull mirror.example.org/nginx")
}

func TestQueryPrefill(t *testing.T) {
	body := get(t, New(fixtureOptions(nil)), `/?q=nginx"><b>`, nil).Body.String()
	if !strings.Contains(body, `value="nginx&#34;&gt;&lt;b&gt;"`) {
		t.Error("?q= not pre-filled, or not escaped")
	}
}

func TestStatusSection(t *testing.T) {
	h := New(fixtureOptions(fakeStatus))
	body := get(t, h, "/", nil).Body.String()
	contains(t, body, "87.5%", "5.0 GiB", "3.0 GiB / 10.0 GiB", "1234 objects", "84 ms", "76 / 100",
		"reachable", "unreachable", "rate limited", "not contacted yet", "timeout", "status 429")
	if !strings.Contains(body, "2 (&#43;3)") {
		t.Error("downloads and waiters not shown")
	}
	if strings.Contains(body, "&lt;bogus&gt;") || strings.Contains(body, "dot-<") {
		t.Error("an unknown state reached the page")
	}
	zh := get(t, h, "/?lang=zh", nil).Body.String()
	contains(t, zh, "1234 个对象", "正常", "不可达", "被限流")

	noStatus := get(t, New(fixtureOptions(nil)), "/", nil).Body.String()
	if strings.Contains(noStatus, `id="status"`) {
		t.Error("status section shown without a StatusFunc")
	}
	if rec := get(t, New(fixtureOptions(nil)), "/api/status", nil); rec.Code != http.StatusNotFound {
		t.Errorf("/api/status without a StatusFunc: %d", rec.Code)
	}
}

func TestStatusAPI(t *testing.T) {
	rec := get(t, New(fixtureOptions(fakeStatus)), "/api/status", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "upstreams", "cache", "hitRatio", "lookups", "bytesServedToday", "downloads", "waiters"} {
		if _, ok := got[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, rec.Body)
		}
	}
	ups := got["upstreams"].([]any)
	first := ups[0].(map[string]any)
	if first["name"] != "docker.io" || first["state"] != "up" || first["latencyMs"] != 84.0 ||
		first["rateLimit"].(map[string]any)["remaining"] != 76.0 {
		t.Errorf("first upstream = %v", first)
	}
	if _, ok := ups[3].(map[string]any)["checked"]; ok {
		t.Error("checked present for an upstream never contacted")
	}
}

func TestStaticAssets(t *testing.T) {
	h := New(fixtureOptions(nil))
	body := get(t, h, "/", nil).Body.String()
	for _, name := range []string{"app.js", "theme.js", "style.css", "favicon.svg"} {
		url := h.assets.url(name)
		if !strings.Contains(body, url) {
			t.Errorf("page does not reference %s", url)
		}
		rec := get(t, h, url, nil)
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d", url, rec.Code)
		}
		if !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q", url, rec.Header().Get("Cache-Control"))
		}
		etag := rec.Header().Get("ETag")
		if rec := get(t, h, url, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", url, rec.Code)
		}
	}
	for name, ct := range map[string]string{"app.js": "javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"} {
		if got := get(t, h, "/static/"+name, nil).Header().Get("Content-Type"); !strings.Contains(got, ct) {
			t.Errorf("%s: Content-Type %q", name, got)
		}
	}
}

func TestRoutes(t *testing.T) {
	h := New(fixtureOptions(fakeStatus))
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 200},
		{"HEAD", "/", 200},
		{"GET", "/static/nope.js", 404},
		{"GET", "/static/../web.go", 404},
		{"GET", "/index.html", 404},
		{"GET", "/api/status", 200},
		{"POST", "/", 405},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
	rec := get(t, h, "/", nil)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(rec.Body.String(), "</html>") {
		t.Error("page not rendered completely")
	}
	_, _ = io.Copy(io.Discard, rec.Body)
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 3 << 40: "3.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
