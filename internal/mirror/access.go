package mirror

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
)

// accessLog batches access times in memory and writes them to the metadata
// store in one transaction per flush, so a cache hit costs no disk write.
type accessLog struct {
	meta meta.Objects
	log  *slog.Logger

	mu      sync.Mutex
	pending map[digest.Digest]time.Time
}

func newAccessLog(m meta.Objects, log *slog.Logger) *accessLog {
	return &accessLog{meta: m, log: log, pending: make(map[digest.Digest]time.Time)}
}

func (a *accessLog) touch(d digest.Digest, t time.Time) {
	a.mu.Lock()
	a.pending[d] = t
	a.mu.Unlock()
}

// Flush writes pending access times.
func (a *accessLog) Flush(ctx context.Context) error {
	a.mu.Lock()
	batch := a.pending
	a.pending = make(map[digest.Digest]time.Time, len(batch))
	a.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return a.meta.Touch(ctx, batch)
}

// Run flushes every interval until ctx ends, then once more.
func (a *accessLog) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := a.Flush(context.WithoutCancel(ctx)); err != nil {
				a.log.Warn("flushing access times failed", "err", err)
			}
			return
		case <-t.C:
			if err := a.Flush(ctx); err != nil {
				a.log.Warn("flushing access times failed", "err", err)
			}
		}
	}
}
