// Package limit protects the mirror from clients that take more than their
// share: a request rate per client (token bucket), bandwidth per client and
// in total (responses paced by byte buckets), and a progress deadline on
// writes that drops clients who stop reading (WriteProgress).
//
// A client is an IP address (IPv4) or a /64 (IPv6), as seen by ClientIP:
// the peer address, or the X-Forwarded-For hop a trusted proxy vouches for.
// Per-client state lives in a bounded LRU table, so a flood of addresses
// costs bounded memory.
package limit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/oci"
)

// Defaults.
const (
	// DefaultMaxClients bounds the per-client table (about 200 bytes each).
	DefaultMaxClients = 65536
	// minBurst is the smallest default request burst: a docker pull sends a
	// handful of manifest and blob requests at once.
	minBurst = 10
	// writeChunk is the largest write paced at once; byte buckets hold at
	// least this much.
	writeChunk = 32 << 10
)

// Options configures a Limiter. Zero values turn a limit off.
type Options struct {
	// RequestsPerSecond is the sustained request rate per client.
	RequestsPerSecond float64
	// Burst is how many requests a client may make at once; 0 means the
	// rate rounded up, but at least 10.
	Burst int
	// ClientBandwidth and TotalBandwidth are in bytes per second.
	ClientBandwidth, TotalBandwidth int64
	// TrustedProxies may set X-Forwarded-For / X-Real-IP; Exempt clients
	// are not limited at all.
	TrustedProxies, Exempt Prefixes
	// MaxClients bounds the per-client table (default DefaultMaxClients);
	// the least recently seen client is forgotten first.
	MaxClients int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// OptionsFrom converts the configuration's limits.
func OptionsFrom(c config.Limits) (Options, error) {
	tp, err := ParsePrefixes(c.TrustedProxies)
	if err != nil {
		return Options{}, fmt.Errorf("limits.trustedProxies: %w", err)
	}
	ex, err := ParsePrefixes(c.Exempt)
	if err != nil {
		return Options{}, fmt.Errorf("limits.exempt: %w", err)
	}
	return Options{
		RequestsPerSecond: c.RequestsPerSecond, Burst: c.Burst,
		ClientBandwidth: int64(c.ClientBandwidth), TotalBandwidth: int64(c.TotalBandwidth),
		TrustedProxies: tp, Exempt: ex,
	}, nil
}

// Limiter enforces Options on the requests it wraps. It is safe for
// concurrent use.
type Limiter struct {
	opts    Options
	clients *table
	total   *rate.Limiter // nil without TotalBandwidth

	rejected atomic.Int64
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.Burst <= 0 {
		opts.Burst = max(int(math.Ceil(opts.RequestsPerSecond)), minBurst)
	}
	l := &Limiter{opts: opts}
	l.clients = newTable(opts.MaxClients, l.newClient)
	if opts.TotalBandwidth > 0 {
		l.total = byteBucket(opts.TotalBandwidth)
	}
	return l
}

// Enabled reports whether any limit is set; a disabled Limiter's Wrap
// returns the handler unchanged.
func (l *Limiter) Enabled() bool {
	o := l.opts
	return o.RequestsPerSecond > 0 || o.ClientBandwidth > 0 || o.TotalBandwidth > 0
}

// Rejected counts requests answered 429 so far.
func (l *Limiter) Rejected() int64 { return l.rejected.Load() }

// Clients is the number of clients currently tracked.
func (l *Limiter) Clients() int { return l.clients.len() }

// Wrap limits the requests to next. Over the request rate, a client gets
// 429 TOOMANYREQUESTS with Retry-After; under a bandwidth limit, the
// response is paced (and, since pacing needs plain writes, not sent with
// sendfile). Exempt clients pass untouched.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	if !l.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, ok := ClientIP(r, l.opts.TrustedProxies)
		if !ok || l.opts.Exempt.Contains(ip) {
			next.ServeHTTP(w, r)
			return
		}
		c := l.clients.get(ClientKey(ip))
		if c.req != nil {
			now := l.opts.Now()
			res := c.req.ReserveN(now, 1)
			if d := res.DelayFrom(now); !res.OK() || d > 0 {
				res.CancelAt(now)
				l.rejected.Add(1)
				oci.WriteError(w, &oci.Error{
					Code:       oci.CodeTooManyRequests,
					Message:    "too many requests from your address; slow down",
					RetryAfter: max(d, time.Second),
				})
				return
			}
		}
		if buckets := l.buckets(c); len(buckets) > 0 {
			w = &pacedWriter{ResponseWriter: w, ctx: r.Context(), buckets: buckets}
		}
		next.ServeHTTP(w, r)
	})
}

// buckets returns the byte buckets a response to c is paced by.
func (l *Limiter) buckets(c *client) []*rate.Limiter {
	var b []*rate.Limiter
	if c.bw != nil {
		b = append(b, c.bw)
	}
	if l.total != nil {
		b = append(b, l.total)
	}
	return b
}

// client is one client's buckets.
type client struct {
	req *rate.Limiter // requests; nil without a request rate
	bw  *rate.Limiter // bytes; nil without ClientBandwidth
}

func (l *Limiter) newClient() *client {
	c := &client{}
	if l.opts.RequestsPerSecond > 0 {
		c.req = rate.NewLimiter(rate.Limit(l.opts.RequestsPerSecond), l.opts.Burst)
	}
	if l.opts.ClientBandwidth > 0 {
		c.bw = byteBucket(l.opts.ClientBandwidth)
	}
	return c
}

// byteBucket is a bucket of bytesPerSec that holds a second's worth, and
// at least one writeChunk so every paced write fits.
func byteBucket(bytesPerSec int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(min(max(bytesPerSec, writeChunk), math.MaxInt32)))
}

// pacedWriter paces writes through byte buckets. It deliberately has no
// ReadFrom: io.Copy then hands it buffers to pace instead of a file to
// sendfile.
type pacedWriter struct {
	http.ResponseWriter
	ctx     context.Context
	buckets []*rate.Limiter
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		for _, bk := range p.buckets {
			if err := bk.WaitN(p.ctx, n); err != nil {
				return written, err
			}
		}
		m, err := p.ResponseWriter.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
