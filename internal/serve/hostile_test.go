package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/registrytest"
)

// TestHostileInput: malformed, oversized and write requests each get a
// clean 4xx OCI error, none reaches the upstream, and the mirror keeps
// serving.
func TestHostileInput(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	hex64 := strings.Repeat("a", 64)
	long := strings.Repeat("a", 600)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		// Traversal, in every spelling.
		{"GET", "/v2/../etc/passwd", 400, "NAME_INVALID"},
		{"GET", "/v2/library/../../etc/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/%2e%2e/%2e%2e/etc/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library/%2E%2E/x/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library%2fnginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library%5c..%5cnginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2//library/nginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library//nginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/./library/nginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library/nginx/manifests/..%2f..%2fx", 400, "NAME_INVALID"},
		{"GET", "/v2/library/nginx/blobs/sha256:" + hex64 + "/..", 400, "NAME_INVALID"},
		// Digests and algorithms.
		{"GET", "/v2/library/x/blobs/sha256:xyz", 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/blobs/sha256:" + hex64[:63], 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/blobs/sha256:" + strings.ToUpper(hex64), 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/blobs/sha512:" + hex64, 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/blobs/md5:" + hex64[:32], 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/blobs/sha999:" + hex64, 400, "DIGEST_INVALID"},
		{"GET", "/v2/library/x/manifests/sha256:" + hex64 + "x", 400, "DIGEST_INVALID"},
		{"HEAD", "/v2/library/x/blobs/:" + hex64, 400, ""},
		{"GET", "/v2/library/x/referrers/notadigest", 400, "DIGEST_INVALID"},
		// Names and tags: huge, malformed.
		{"GET", "/v2/" + long + "/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/" + strings.Repeat("a/", 1000) + "b/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/" + strings.Repeat("x", 10000) + "/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/Library/nginx/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/a..b/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/-a/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/a%00b/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/a%20b/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/%C3%B1/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/library/x/manifests/" + strings.Repeat("t", 200), 400, "MANIFEST_INVALID"},
		{"GET", "/v2/library/x/manifests/-bad", 400, "MANIFEST_INVALID"},
		{"GET", "/v2/library/x/tags/list?n=-1", 400, "UNSUPPORTED"},
		{"GET", "/v2/library/x/tags/list?n=abc", 400, "UNSUPPORTED"},
		// Writes, deletes and odd methods.
		{"PUT", "/v2/library/x/manifests/latest", 405, "UNSUPPORTED"},
		{"DELETE", "/v2/library/x/manifests/sha256:" + hex64, 405, "UNSUPPORTED"},
		{"POST", "/v2/library/x/blobs/uploads/", 405, "UNSUPPORTED"},
		{"POST", "/v2/library/x/blobs/uploads/?mount=sha256:" + hex64 + "&from=library/y", 405, "UNSUPPORTED"},
		{"PATCH", "/v2/library/x/blobs/uploads/abc", 405, "UNSUPPORTED"},
		{"PUT", "/v2/library/x/blobs/uploads/abc?digest=sha256:" + hex64, 405, "UNSUPPORTED"},
		{"DELETE", "/v2/library/x/blobs/sha256:" + hex64, 405, "UNSUPPORTED"},
		{"TRACE", "/v2/", 405, "UNSUPPORTED"},
		{"OPTIONS", "/v2/library/x/manifests/latest", 405, "UNSUPPORTED"},
		{"GET", "/v2/_catalog", 404, "UNSUPPORTED"},
		{"GET", "/v2/library/x/nothing/here", 404, "NAME_UNKNOWN"},
	}
	for _, tt := range tests {
		name := tt.method + " " + tt.path
		if len(name) > 100 {
			name = name[:100]
		}
		t.Run(name, func(t *testing.T) {
			resp := e.get(tt.method, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.method != "HEAD" && tt.code != "" {
				if code := ociError(t, resp); code != tt.code {
					t.Fatalf("code %s, want %s", code, tt.code)
				}
			}
		})
	}
	if n := up.Counts.Total.Load(); n != 0 {
		t.Errorf("hostile requests reached the upstream: %v", up.Counts)
	}
	// Hostile headers on a good path: a garbage Range is ignored or 416,
	// X-Forwarded-For from an untrusted peer is ignored.
	img := up.PushRandomImage(t, "library/ok", "v1", 1, 1024)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	for _, rng := range []string{"bytes=99999999999999999999-", "bytes=-", "bytes=5-1", "bytes=" + strings.Repeat("0-1,", 1000) + "0-1", "chars=1-2"} {
		resp := e.get("GET", "/v2/library/ok/blobs/"+ld.String(), "Range", rng, "X-Forwarded-For", "1.2.3.4")
		if resp.StatusCode != 200 && resp.StatusCode != 206 && resp.StatusCode != 416 {
			t.Errorf("Range %q: %d", rng[:min(len(rng), 40)], resp.StatusCode)
		}
	}
	if resp := e.get("GET", "/healthz"); resp.StatusCode != 200 {
		t.Fatal("mirror unhealthy after hostile input")
	}
}

// runApp starts e's app with App.Run (the real http.Server settings:
// MaxHeaderBytes, ReadHeaderTimeout, IdleTimeout) on a free port.
func runApp(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u := registrytest.New(t)
	cfg := config.Default()
	cfg.Listen, cfg.Storage.Path, cfg.Admin.Listen = addr, t.TempDir(), "off"
	up := config.Upstream{Name: "docker.io", Endpoint: u.URL}
	up.ApplyDefaults()
	cfg.Upstreams = []config.Upstream{up}
	if mutate != nil {
		mutate(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHeaderFloodsAndSlowClients: net/http itself answers what is too big
// to parse (431), and drops clients that dawdle over their headers.
func TestHeaderFloodsAndSlowClients(t *testing.T) {
	addr := runApp(t, func(c *config.Config) {
		c.Server.ReadHeaderTimeout = config.Duration(300 * time.Millisecond)
		c.Server.IdleTimeout = config.Duration(300 * time.Millisecond)
	})
	raw := func(req string) (string, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			return "", err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}
	var many strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&many, "X-H%d: %d\r\n", i, i)
	}
	for name, req := range map[string]string{
		"one huge header": "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n",
		"many headers":    "GET /v2/ HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n",
	} {
		line, err := raw(req)
		if !strings.Contains(line, "431") {
			t.Errorf("%s: %q %v, want 431", name, line, err)
		}
	}
	if line, _ := raw("GARBAGE\r\n\r\n"); !strings.Contains(line, "400") {
		t.Errorf("malformed request line: %q", line)
	}
	// Slowloris: headers that never end are cut off at ReadHeaderTimeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil || time.Since(start) > 3*time.Second {
		t.Fatalf("slow client kept for %v (%v)", time.Since(start), err)
	}
	// An idle keep-alive connection is closed after IdleTimeout.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c2)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start = time.Now()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF || time.Since(start) > 3*time.Second {
		t.Fatalf("idle connection kept for %v (%v)", time.Since(start), err)
	}
}
