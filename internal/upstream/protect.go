package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/regmirror/regmirror/internal/breaker"
)

// ErrBackingOff: the upstream answered 429 with a Retry-After that has not
// passed yet, so the request was not sent. The *Error carrying it has
// StatusCode 429 and the remaining RetryAfter.
var ErrBackingOff = errors.New("upstream asked to wait (Retry-After); request not sent")

// maxRetryAfter bounds how long one Retry-After keeps an upstream off
// limits, so a wrong header cannot silence it for days.
const maxRetryAfter = 6 * time.Hour

// protection holds what shields an upstream from the mirror: the circuit
// breaker and the Retry-After window of its last 429.
type protection struct {
	br  *breaker.Breaker
	now func() time.Time

	mu    sync.Mutex
	until time.Time // no request before this (Retry-After)
}

func newProtection(opts Options, log func(from, to breaker.State)) *protection {
	now := opts.now
	if now == nil {
		now = time.Now
	}
	return &protection{
		now: now,
		br: breaker.New(breaker.Options{
			Failures: opts.BreakerFailures, Cooldown: opts.BreakerCooldown, Now: now, OnChange: log,
		}),
	}
}

// admit decides whether a request may be sent. On success, done must be
// called with the request's outcome (see outcome).
func (p *protection) admit() (done func(breaker.Outcome), retryAfter time.Duration, err error) {
	p.mu.Lock()
	wait := p.until.Sub(p.now())
	p.mu.Unlock()
	if wait > 0 {
		return nil, wait, ErrBackingOff
	}
	done, err = p.br.Allow()
	if err != nil {
		var oe *breaker.OpenError
		if errors.As(err, &oe) {
			retryAfter = oe.Remaining
		}
		return nil, retryAfter, err
	}
	return done, 0, nil
}

// backOff records a 429's Retry-After.
func (p *protection) backOff(d time.Duration) {
	if d <= 0 {
		return
	}
	until := p.now().Add(min(d, maxRetryAfter))
	p.mu.Lock()
	if until.After(p.until) {
		p.until = until
	}
	p.mu.Unlock()
}

// outcome classifies one exchange for the breaker: connection failures,
// timeouts and 5xx answers are failures; any other answer (404, 401, ...)
// shows a working upstream; a caller that gave up, a 429 and a refused
// redirect say nothing about the upstream's health.
func outcome(ctx context.Context, status int, err error) breaker.Outcome {
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil,
		errors.Is(err, ErrRedirectRefused),
		status == http.StatusTooManyRequests:
		return breaker.Ignore
	case status >= 500:
		return breaker.Failure
	case status != 0:
		return breaker.Success
	case err != nil:
		return breaker.Failure
	}
	return breaker.Success
}

// refusedError is the *Error of a request that protection did not let out.
func (c *Client) refusedError(method string, u *url.URL, retryAfter time.Duration, err error) *Error {
	e := &Error{Upstream: c.name, Method: method, URL: redact(u), Anonymous: c.anonymous, RetryAfter: retryAfter, Err: err}
	if errors.Is(err, ErrBackingOff) {
		e.StatusCode = http.StatusTooManyRequests
	}
	return e
}

// BreakerState reports the upstream's circuit breaker state (for metrics
// and the admin API).
func (c *Client) BreakerState() breaker.State { return c.protect.br.State() }
