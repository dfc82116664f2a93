package logging

import (
	"bytes"
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
