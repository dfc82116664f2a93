package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newTestProxy starts an upstream that answers every request with its own
// name and the path, and a reqproxy in front of it.
func newTestProxy(t *testing.T, split bool) (*httptest.Server, *proxy, *strings.Builder) {
	t.Helper()
	up := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			fmt.Fprintf(w, "%s %s %s", name, r.Method, r.Host)
			_, _ = w.Write([]byte(strings.Repeat("x", 1000-len(name)-len(r.Method)-len(r.Host)-2)))
		}))
		t.Cleanup(s.Close)
		return s
	}
	read, write := up("read"), ""
	if split {
		write = up("write").URL
	}
	logs := &strings.Builder{}
	p, err := newProxy(read.URL, write, "none", logs, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	return front, p, logs
}

func do(t *testing.T, method, url, body string) (int, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestProxyCountsAndResets(t *testing.T) {
	front, _, logs := newTestProxy(t, false)
	for _, path := range []string{"/v2/", "/v2/a/manifests/1", "/v2/a/blobs/sha256:aa", "/v2/a/blobs/sha256:aa", "/token"} {
		if code, body, err := do(t, "GET", front.URL+path, ""); err != nil || code != 200 || !strings.HasPrefix(body, "read GET") {
			t.Fatalf("GET %s: %d %q %v", path, code, body, err)
		}
	}
	_, body, _ := do(t, "GET", front.URL+"/_counts", "")
	var c countsJSON
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	if c.Total != 5 || c.Requests["GET blobs"] != 2 || c.Requests["GET token"] != 1 || c.Blobs["sha256:aa"]["GET"] != 2 {
		t.Fatalf("counts %s", body)
	}
	if !strings.Contains(logs.String(), "R GET /v2/a/blobs/sha256:aa status=200 bytes=1000 kind=blobs") {
		t.Errorf("log lacks the blob line:\n%s", logs)
	}
	if code, _, _ := do(t, "POST", front.URL+"/_reset", ""); code != http.StatusNoContent {
		t.Fatalf("reset: %d", code)
	}
	_, body, _ = do(t, "GET", front.URL+"/_counts", "")
	if !strings.Contains(body, `"total": 0`) {
		t.Fatalf("after reset: %s", body)
	}
}

func TestProxySplit(t *testing.T) {
	front, _, _ := newTestProxy(t, true)
	tests := []struct{ method, path, want string }{
		{"GET", "/v2/a/manifests/1", "read"},
		{"HEAD", "/v2/a/blobs/sha256:1", ""},
		{"PUT", "/v2/a/manifests/1", "write"},
		{"POST", "/v2/a/blobs/uploads/", "write"},
		{"GET", "/v2/a/blobs/uploads/abc", "write"},
		{"DELETE", "/v2/a/manifests/1", "write"},
	}
	for _, tt := range tests {
		code, body, err := do(t, tt.method, front.URL+tt.path, "x")
		if err != nil || code != 200 || !strings.HasPrefix(body, tt.want) {
			t.Errorf("%s %s: %d %q %v, want from %s", tt.method, tt.path, code, body, err, tt.want)
		}
		if tt.want != "" && !strings.Contains(body, strings.TrimPrefix(front.URL, "http://")) {
			t.Errorf("%s %s: Host header not kept: %q", tt.method, tt.path, body)
		}
	}
}

func TestProxyFaults(t *testing.T) {
	front, _, _ := newTestProxy(t, false)
	setFault := func(spec string) {
		t.Helper()
		if code, body, _ := do(t, "POST", front.URL+"/_fault", spec); code != http.StatusNoContent {
			t.Fatalf("set fault %q: %d %s", spec, code, body)
		}
	}

	setFault("status=503,times=1")
	if code, body, _ := do(t, "GET", front.URL+"/v2/a/manifests/1", ""); code != 503 || !strings.Contains(body, "UNAVAILABLE") {
		t.Fatalf("status fault: %d %q", code, body)
	}
	if code, _, _ := do(t, "GET", front.URL+"/v2/a/manifests/1", ""); code != 200 {
		t.Fatalf("after times=1: %d", code)
	}

	setFault("delay-first-byte=300ms")
	start := time.Now()
	if code, _, _ := do(t, "GET", front.URL+"/v2/", ""); code != 200 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("delay fault: %d after %v", code, time.Since(start))
	}

	setFault("truncate=10,kind=blobs")
	if _, body, err := do(t, "GET", front.URL+"/v2/a/blobs/sha256:1", ""); err == nil || len(body) != 10 {
		t.Fatalf("truncate fault: %d bytes, err %v", len(body), err)
	}

	setFault("drop")
	if _, _, err := do(t, "GET", front.URL+"/v2/", ""); err == nil {
		t.Fatal("drop fault: request succeeded")
	}

	setFault("none")
	if code, _, _ := do(t, "GET", front.URL+"/v2/", ""); code != 200 {
		t.Fatalf("after none: %d", code)
	}
	if code, _, _ := do(t, "POST", front.URL+"/_fault", "bogus"); code != http.StatusBadRequest {
		t.Fatalf("bad spec: %d", code)
	}
	_, body, _ := do(t, "GET", front.URL+"/_fault", "")
	if strings.TrimSpace(body) != "none" {
		t.Fatalf("GET /_fault = %q", body)
	}
}
