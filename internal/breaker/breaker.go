// Package breaker is a circuit breaker for one upstream: after a run of
// consecutive failures it opens and fails calls fast for a cool-down, then
// lets a single probe through (half-open); the probe's outcome closes it or
// opens it again.
//
// It knows nothing of HTTP: callers decide what an outcome is (for an
// upstream registry, connection errors, timeouts and 5xx are failures; 404
// and 401 are not) and report it through the function Allow returns.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultFailures = 5
	DefaultCooldown = 30 * time.Second
)

// ErrOpen is wrapped by the error Allow returns while the breaker is open.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is what Allow returns while the breaker is open: it wraps
// ErrOpen and says how long until a probe is allowed.
type OpenError struct {
	Remaining time.Duration // until the next probe; 0 while a probe is running
}

func (e *OpenError) Error() string {
	if e.Remaining <= 0 {
		return fmt.Sprintf("%v: probing", ErrOpen)
	}
	return fmt.Sprintf("%v: retry in %s", ErrOpen, e.Remaining.Round(time.Second))
}

// Unwrap returns ErrOpen.
func (e *OpenError) Unwrap() error { return ErrOpen }

// Outcome is what a call reports back.
type Outcome int

// Outcomes.
const (
	// Success closes a half-open breaker and resets the failure count.
	Success Outcome = iota
	// Failure counts toward opening (and reopens a half-open breaker).
	Failure
	// Ignore says the call proves nothing either way (the caller gave up,
	// or the answer was a refusal unrelated to the upstream's health).
	Ignore
)

// State is the breaker's state, for metrics and logs.
type State int

// States.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String names the state.
func (s State) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// Options configures a Breaker.
type Options struct {
	// Failures is how many consecutive failures open the breaker (default
	// DefaultFailures). A negative value disables the breaker.
	Failures int
	// Cooldown is how long the breaker stays open before a probe (default
	// DefaultCooldown).
	Cooldown time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnChange, if set, is called (outside the lock) on every state change.
	OnChange func(from, to State)
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	opts Options

	mu       sync.Mutex
	state    State
	failures int       // consecutive, while closed
	until    time.Time // end of the cool-down, while open
	probing  bool      // a half-open probe is running
	gen      uint64    // bumped on every opening, to ignore stale reports
}

// New returns a closed Breaker.
func New(opts Options) *Breaker {
	if opts.Failures == 0 {
		opts.Failures = DefaultFailures
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = DefaultCooldown
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Breaker{opts: opts}
}

// Allow asks to make a call. It returns an *OpenError (wrapping ErrOpen)
// when the call must not be made; otherwise done must be called exactly
// once with the call's outcome (later calls are ignored).
func (b *Breaker) Allow() (done func(Outcome), err error) {
	if b == nil || b.opts.Failures < 0 {
		return func(Outcome) {}, nil
	}
	b.mu.Lock()
	probe, halfOpened := false, false
	switch b.state {
	case Open:
		now := b.opts.Now()
		if now.Before(b.until) {
			rem := b.until.Sub(now)
			b.mu.Unlock()
			return nil, &OpenError{Remaining: rem}
		}
		b.state, halfOpened = HalfOpen, true
		fallthrough
	case HalfOpen:
		if b.probing {
			b.mu.Unlock()
			return nil, &OpenError{}
		}
		b.probing, probe = true, true
	}
	gen := b.gen
	b.mu.Unlock()
	if halfOpened {
		b.notify(Open, HalfOpen)
	}
	var once sync.Once
	return func(o Outcome) { once.Do(func() { b.report(o, probe, gen) }) }, nil
}

// report records the outcome of a call allowed in generation gen.
func (b *Breaker) report(o Outcome, probe bool, gen uint64) {
	b.mu.Lock()
	from := b.state
	switch {
	case probe:
		b.probing = false
		switch o {
		case Success:
			b.state, b.failures = Closed, 0
		case Failure:
			b.open()
		}
	case b.state == Closed && gen == b.gen:
		switch o {
		case Success:
			b.failures = 0
		case Failure:
			b.failures++
			if b.failures >= b.opts.Failures {
				b.open()
			}
		}
	default:
		// A call allowed before the breaker last opened finished late:
		// what it says is about a past episode.
	}
	to := b.state
	b.mu.Unlock()
	if to != from {
		b.notify(from, to)
	}
}

// open starts a cool-down. b.mu is held.
func (b *Breaker) open() {
	b.state = Open
	b.failures = 0
	b.gen++
	b.until = b.opts.Now().Add(b.opts.Cooldown)
}

func (b *Breaker) notify(from, to State) {
	if b.opts.OnChange != nil {
		b.opts.OnChange(from, to)
	}
}

// State returns the current state. An open breaker whose cool-down has
// passed reports HalfOpen: the next call will probe.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.opts.Now().Before(b.until) {
		return HalfOpen
	}
	return b.state
}
