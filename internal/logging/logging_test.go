package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBufferedAndFlushed(t *testing.T) {
	var out syncBuf
	l := New(&out, config.Log{Level: "info", Format: "json"})
	l.Debug("hidden")
	l.Info("hello", "k", "v")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), `"msg":"hello"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"k":"v"`) || strings.Contains(out.String(), "hidden") {
		t.Fatalf("log output %q", out.String())
	}
	l.Warn("last")
	if err := l.Close(); err != nil || !strings.Contains(out.String(), "last") {
		t.Fatalf("Close did not flush: %q", out.String())
	}
}

func TestAccessLineFormats(t *testing.T) {
	a := Access{Client: "127.0.0.1:1234", Method: "GET", Path: `/v2/x/manifests/a b"c`, Status: 200, Bytes: 42,
		Duration: 1500 * time.Microsecond, Upstream: "docker.io", Cache: ""}

	var text syncBuf
	l := New(&text, config.Log{Level: "info", Format: "text"})
	l.Access(a)
	l.Close()
	line := text.String()
	for _, want := range []string{" level=INFO msg=request client=127.0.0.1:1234 method=GET ",
		`path="/v2/x/manifests/a b\"c"`, " status=200 bytes=42 duration=1.5ms upstream=docker.io cache=\"\"\n"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line %q lacks %q", line, want)
		}
	}

	var js syncBuf
	l = New(&js, config.Log{Level: "info", Format: "json"})
	a.Path = "/v2/\x01\xff"
	l.Access(a)
	l.Close()
	var m map[string]any
	if err := json.Unmarshal([]byte(js.String()), &m); err != nil {
		t.Fatalf("json line %q: %v", js.String(), err)
	}
	if m["msg"] != "request" || m["status"] != float64(200) || m["path"] != "/v2/\x01\ufffd" || m["duration"] != float64(1500000) {
		t.Errorf("json line %v", m)
	}

	var quiet syncBuf
	l = New(&quiet, config.Log{Level: "warn"})
	l.Access(a)
	l.Close()
	if quiet.String() != "" {
		t.Errorf("access line written at level warn: %q", quiet.String())
	}
}
