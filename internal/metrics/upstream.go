package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of upstream_errors_total.
const (
	reasonNetwork   = "network"
	reasonTimeout   = "timeout"
	reasonServer    = "server"
	reasonThrottled = "throttled"
)

// latencyWeight is the weight of a new sample in the moving average of an
// upstream's latency.
const latencyWeight = 0.2

// UpstreamStats is what the mirror has recently seen of one upstream, for
// the homepage status.
type UpstreamStats struct {
	Requests int64
	// LastSuccess is the last answer that was neither 5xx nor 429;
	// LastFailure the last network error, timeout, 5xx or 429, with Failure
	// saying which ("timeout", "status 503", a network error's text).
	LastSuccess, LastFailure time.Time
	Failure                  string
	// Latency is a moving average of the time to response headers.
	Latency time.Duration
}

// Upstream states returned by UpstreamStats.State.
const (
	StateUnknown = "unknown" // nothing seen yet
	StateUp      = "up"      // the last exchange succeeded
	StateDown    = "down"    // the last exchange failed
	StateLimited = "limited" // the last exchange was answered 429
)

// State summarises the stats: which of the last success or failure is newer.
func (s UpstreamStats) State() string {
	switch {
	case s.LastSuccess.IsZero() && s.LastFailure.IsZero():
		return StateUnknown
	case !s.LastSuccess.Before(s.LastFailure):
		return StateUp
	case s.Failure == "status 429":
		return StateLimited
	}
	return StateDown
}

// LastSeen is the newer of LastSuccess and LastFailure.
func (s UpstreamStats) LastSeen() time.Time {
	if s.LastSuccess.After(s.LastFailure) {
		return s.LastSuccess
	}
	return s.LastFailure
}

// upstreamObs holds the pre-resolved series and recent stats of one upstream.
type upstreamObs struct {
	duration [numKinds]prometheus.Observer
	errors   map[string]prometheus.Counter // by reason, fixed at creation
	bytes    prometheus.Counter
	codes    cowMap[int, prometheus.Counter]
	requests *prometheus.CounterVec
	name     string

	mu    sync.Mutex
	stats UpstreamStats
}

func (m *Metrics) upstreamObsFor(name string) *upstreamObs {
	return m.upstreams.get(name, func() *upstreamObs {
		o := &upstreamObs{name: name, requests: m.upRequests, bytes: m.upBytes.WithLabelValues(name),
			errors: make(map[string]prometheus.Counter, 4)}
		for k := range numKinds {
			o.duration[k] = m.upDuration.WithLabelValues(name, kind(k).String())
		}
		for _, r := range []string{reasonNetwork, reasonTimeout, reasonServer, reasonThrottled} {
			o.errors[r] = m.upErrors.WithLabelValues(name, r)
		}
		return o
	})
}

// UpstreamTransport wraps base (http.DefaultTransport when nil) so that
// every request to the named upstream is measured: time to response
// headers, status code, errors, and body bytes received. Use one per
// upstream client, in upstream.Options.Transport or around the client's
// own transport.
func (m *Metrics) UpstreamTransport(name string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, obs: m.upstreamObsFor(name), now: m.now}
}

// Upstream returns the recent stats of an upstream; ok is false when no
// transport was made for that name.
func (m *Metrics) Upstream(name string) (s UpstreamStats, ok bool) {
	o, ok := m.upstreams.lookup(name)
	if !ok {
		return UpstreamStats{}, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats, true
}

type transport struct {
	base http.RoundTripper
	obs  *upstreamObs
	now  func() time.Time
}

// RoundTrip measures one exchange.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.now()
	resp, err := t.base.RoundTrip(req)
	end := t.now()
	t.obs.observe(req, resp, err, end, end.Sub(start))
	if err == nil && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &countingBody{ReadCloser: resp.Body, c: t.obs.bytes}
	}
	return resp, err
}

func (o *upstreamObs) observe(req *http.Request, resp *http.Response, err error, at time.Time, d time.Duration) {
	if err != nil {
		o.code(0).Inc()
		if errors.Is(err, context.Canceled) {
			return // the caller gave up: says nothing about the upstream
		}
		reason := reasonNetwork
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			reason = reasonTimeout
		}
		o.errors[reason].Inc()
		msg := reason
		if reason == reasonNetwork {
			msg = truncate(err.Error(), 160)
		}
		o.note(at, 0, false, msg)
		return
	}
	o.duration[pathKind(req.URL.Path)].Observe(d.Seconds())
	o.code(resp.StatusCode).Inc()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		o.errors[reasonThrottled].Inc()
		o.note(at, d, false, "status 429")
	case resp.StatusCode >= 500:
		o.errors[reasonServer].Inc()
		o.note(at, d, false, "status "+strconv.Itoa(resp.StatusCode))
	default:
		o.note(at, d, true, "")
	}
}

// code returns the requests counter of a status (0: no response).
func (o *upstreamObs) code(status int) prometheus.Counter {
	return o.codes.get(status, func() prometheus.Counter {
		label := "error"
		if status != 0 {
			label = strconv.Itoa(status)
		}
		return o.requests.WithLabelValues(o.name, label)
	})
}

// note records the outcome of one exchange; d is the time to response
// headers, or 0 when no response arrived.
func (o *upstreamObs) note(at time.Time, d time.Duration, ok bool, failure string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := &o.stats
	s.Requests++
	if ok {
		s.LastSuccess = at
	} else {
		s.LastFailure, s.Failure = at, failure
	}
	switch {
	case d <= 0:
	case s.Latency == 0:
		s.Latency = d
	default:
		s.Latency = time.Duration(float64(s.Latency)*(1-latencyWeight) + float64(d)*latencyWeight)
	}
}

// countingBody counts the bytes read from an upstream response body.
type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.Add(float64(n))
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
