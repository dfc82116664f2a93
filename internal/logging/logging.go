// Package logging builds regmirror's slog logger. Lines are written through
// a buffer that is flushed a few times a second (and on Close), so that the
// access log of a busy mirror costs no write system call per request.
package logging

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/regmirror/regmirror/internal/config"
)

// flushEvery is how stale a log line may be at most.
const flushEvery = 200 * time.Millisecond

// Logger is a *slog.Logger with its buffered writer.
type Logger struct {
	*slog.Logger
	w      *bufferedWriter
	json   bool
	stamps stamps // access-log timestamps, formatted once a second
}

// New returns a logger writing to w in the configured format and level.
func New(w io.Writer, c config.Log) *Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	bw := &bufferedWriter{buf: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	go bw.loop()
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(bw, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(bw, opts)
	}
	return &Logger{Logger: slog.New(h), w: bw, json: c.Format == "json"}
}

// Close flushes what is buffered and stops the flusher.
func (l *Logger) Close() error { return l.w.Close() }

type bufferedWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	done chan struct{}
	once sync.Once
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bufferedWriter) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

func (b *bufferedWriter) loop() {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.flush()
		case <-b.done:
			return
		}
	}
}

func (b *bufferedWriter) Close() error {
	b.once.Do(func() { close(b.done) })
	return b.flush()
}
