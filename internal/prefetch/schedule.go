package prefetch

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Scheduling defaults.
const (
	// DefaultInterval applies to an entry without an interval.
	DefaultInterval = time.Hour
	// maxStartDelay bounds the random delay before an entry's first pull:
	// enough to spread mirrors started together, short enough that a
	// fresh mirror is warmed soon.
	maxStartDelay = 5 * time.Minute
)

// Entry is one image to keep warm.
type Entry struct {
	Image     string
	Platforms []string
	// Interval between pulls (default 1h). Each wait is drawn within ±10%
	// of it. A pull revalidates the tag only when the mirror's cached
	// answer is older than cache.tagTTL, so an interval shorter than the
	// tag TTL keeps blobs warm but does not refresh the tag each time.
	Interval time.Duration
}

// Scheduler pulls each Entry through a Client on its interval.
type Scheduler struct {
	Client  *Client
	Entries []Entry
	Log     *slog.Logger
	// Rand returns a float in [0, 1) (default math/rand/v2); tests fix it.
	Rand func() float64
}

// Run pulls every entry, the first time after a random delay of up to
// min(interval, 5m), then every interval ±10%, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	var wg sync.WaitGroup
	for _, e := range s.Entries {
		if e.Interval <= 0 {
			e.Interval = DefaultInterval
		}
		wg.Go(func() { s.loop(ctx, e, log, rnd) })
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, e Entry, log *slog.Logger, rnd func() float64) {
	wait := time.Duration(rnd() * float64(min(e.Interval, maxStartDelay)))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res, err := s.Client.Image(ctx, e.Image, e.Platforms, nil)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("scheduled prefetch failed", "image", e.Image, "err", err)
		default:
			log.Info("scheduled prefetch", "image", e.Image, "digest", res.Digest, "fetched", res.Fetched,
				"cached", res.Cached, "bytes", res.Bytes, "duration", res.Duration.Round(time.Millisecond))
		}
		wait = Jitter(e.Interval, rnd())
	}
}

// Jitter returns interval scaled by a factor in [0.9, 1.1), from r in [0, 1).
func Jitter(interval time.Duration, r float64) time.Duration {
	return time.Duration(float64(interval) * (0.9 + 0.2*r))
}
