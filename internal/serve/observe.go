package serve

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/metrics"
	"github.com/regmirror/regmirror/internal/upstream"
	"github.com/regmirror/regmirror/internal/web"
)

// Timings of the observer.
const (
	// usageEvery: cache usage (a walk of the object records) is
	// recomputed at most this often.
	usageEvery = 30 * time.Second
	// probeAfter: an upstream not heard from for this long is pinged when
	// someone looks at the status, at most once per probeEvery.
	probeAfter   = 2 * time.Minute
	probeEvery   = time.Minute
	probeTimeout = 10 * time.Second
)

// observerOptions are what the observer reads.
type observerOptions struct {
	Config  *config.Config
	Metrics *metrics.Metrics
	Clients map[string]*upstream.Client
	// Fills is the download manager (mirror.Fills()).
	Fills metrics.Fills
	// Usage adds up the cache (evict.Evictor.Usage); nil leaves the cache
	// numbers at zero.
	Usage func(ctx context.Context) (metrics.CacheUsage, error)
	Log   *slog.Logger
}

// observer feeds the homepage's live status and the gauges of /metrics
// from the running mirror.
type observer struct {
	opts observerOptions
	now  func() time.Time

	usageMu   sync.Mutex
	usage     metrics.CacheUsage
	usageAt   time.Time
	usageBusy bool

	probeMu sync.Mutex
	probes  map[string]probe
}

// probe is the outcome of the last ping of an upstream.
type probe struct {
	started, at time.Time
	err         string
	latency     time.Duration
}

// newObserver registers the live gauges (downloads, cache usage, rate
// limits) on opts.Metrics.
func newObserver(opts observerOptions) *observer {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	o := &observer{opts: opts, now: time.Now, probes: make(map[string]probe)}
	if opts.Fills != nil {
		opts.Metrics.WatchFills(opts.Fills)
	}
	if opts.Usage != nil {
		opts.Metrics.WatchCache(func() metrics.CacheUsage { return o.cacheUsage(context.Background()) })
	}
	for name, c := range opts.Clients {
		opts.Metrics.WatchRateLimit(name, c)
	}
	return o
}

// route serves the homepage, its assets and GET /api/status on mux.
func (o *observer) route(mux *http.ServeMux, version string) {
	ups := make([]web.Upstream, 0, len(o.opts.Config.Upstreams))
	for _, u := range o.opts.Config.Upstreams {
		ups = append(ups, web.Upstream{Name: u.Name, Aliases: u.Aliases, Endpoint: u.Endpoint, Implicit: u.IsImplicit()})
	}
	h := web.New(web.Options{PublicURL: o.opts.Config.PublicURL, Upstreams: ups, Status: o.status,
		Version: version, Logger: o.opts.Log})
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /static/", h)
	mux.Handle("GET /api/status", h)
}

// status is the homepage's web.StatusFunc.
func (o *observer) status(ctx context.Context) web.Status {
	snap := o.opts.Metrics.Snapshot()
	u := o.cacheUsage(ctx)
	st := web.Status{
		Time:             o.now(),
		Cache:            web.CacheStatus{SizeBytes: u.Bytes, LimitBytes: int64(o.opts.Config.Storage.MaxSize), Objects: u.Objects},
		HitRatio:         snap.HitRatio(),
		Lookups:          snap.Lookups,
		BytesServedToday: snap.BytesServedToday,
	}
	if f := o.opts.Fills; f != nil {
		st.Downloads, st.Waiters = f.Active(), f.Waiters()
	}
	for _, cu := range o.opts.Config.Upstreams {
		st.Upstreams = append(st.Upstreams, o.upstreamStatus(cu.Name))
	}
	return st
}

// upstreamStatus merges what the metrics transport saw with the last
// ping, whichever is newer, and pings an upstream not heard from lately.
func (o *observer) upstreamStatus(name string) web.UpstreamStatus {
	us := web.UpstreamStatus{Name: name, State: web.StateUnknown}
	s, _ := o.opts.Metrics.Upstream(name)
	o.probeMu.Lock()
	p := o.probes[name]
	o.probeMu.Unlock()

	switch seen := s.LastSeen(); {
	case !seen.IsZero() && !seen.Before(p.at):
		us.State, us.Checked = s.State(), &seen
		if us.State != web.StateUp {
			us.Error = s.Failure
		}
		us.LatencyMS = float64(s.Latency) / float64(time.Millisecond)
	case !p.at.IsZero():
		at := p.at
		us.Checked = &at
		us.State, us.Error = web.StateUp, p.err
		if p.err != "" {
			us.State = web.StateDown
		}
		us.LatencyMS = float64(p.latency) / float64(time.Millisecond)
	}
	if c := o.opts.Clients[name]; c != nil {
		if rem, lim, ok := c.RateLimit(); ok {
			us.RateLimit = &web.RateLimit{Remaining: rem, Limit: lim}
		}
	}
	last := s.LastSeen()
	if p.at.After(last) {
		last = p.at
	}
	if o.now().Sub(last) > probeAfter {
		o.probe(name)
	}
	return us
}

// probe pings an upstream in the background, at most once per probeEvery.
func (o *observer) probe(name string) {
	c := o.opts.Clients[name]
	if c == nil {
		return
	}
	now := o.now()
	o.probeMu.Lock()
	p := o.probes[name]
	if now.Sub(p.started) < probeEvery {
		o.probeMu.Unlock()
		return
	}
	p.started = now
	o.probes[name] = p
	o.probeMu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		start := o.now()
		err := c.Ping(ctx)
		end := o.now()
		o.probeMu.Lock()
		defer o.probeMu.Unlock()
		p := o.probes[name]
		p.at, p.latency, p.err = end, end.Sub(start), ""
		if err != nil {
			p.err = err.Error()
			o.opts.Log.Debug("upstream ping failed", "upstream", name, "err", err)
		}
		o.probes[name] = p
	}()
}

// cacheUsage returns the cache usage, recomputed at most every usageEvery.
// The first call computes it; later ones return the last value while one
// caller refreshes it.
func (o *observer) cacheUsage(ctx context.Context) metrics.CacheUsage {
	if o.opts.Usage == nil {
		return metrics.CacheUsage{Limit: int64(o.opts.Config.Storage.MaxSize)}
	}
	o.usageMu.Lock()
	fresh := !o.usageAt.IsZero() && o.now().Sub(o.usageAt) < usageEvery
	if fresh || (o.usageBusy && !o.usageAt.IsZero()) {
		u := o.usage
		o.usageMu.Unlock()
		return u
	}
	o.usageBusy = true
	o.usageMu.Unlock()

	u, err := o.opts.Usage(ctx)
	o.usageMu.Lock()
	defer o.usageMu.Unlock()
	o.usageBusy = false
	if err != nil {
		o.opts.Log.Warn("cache usage for the status page", "err", err)
		return o.usage
	}
	u.Limit = int64(o.opts.Config.Storage.MaxSize)
	o.usage, o.usageAt = u, o.now()
	return u
}
