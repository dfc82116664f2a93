package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(failures int) (*Breaker, *clock, *[]string) {
	c := &clock{t: time.Unix(1000, 0)}
	var changes []string
	b := New(Options{Failures: failures, Cooldown: 30 * time.Second, Now: c.Now,
		OnChange: func(from, to State) { changes = append(changes, from.String()+">"+to.String()) }})
	return b, c, &changes
}

// call makes one call with outcome o; it reports whether it was allowed.
func call(t *testing.T, b *Breaker, o Outcome) bool {
	t.Helper()
	done, err := b.Allow()
	if err != nil {
		if !errors.Is(err, ErrOpen) {
			t.Fatalf("Allow: %v does not wrap ErrOpen", err)
		}
		return false
	}
	done(o)
	return true
}

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	b, c, changes := newTest(3)
	call(t, b, Failure)
	call(t, b, Failure)
	call(t, b, Success) // resets the run
	call(t, b, Failure)
	call(t, b, Ignore) // neither breaks nor extends the run
	call(t, b, Failure)
	if b.State() != Closed {
		t.Fatalf("state %v after 2 consecutive failures", b.State())
	}
	call(t, b, Failure)
	if b.State() != Open {
		t.Fatalf("state %v after 3 consecutive failures", b.State())
	}
	_, err := b.Allow()
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Remaining != 30*time.Second {
		t.Fatalf("open breaker: %v", err)
	}
	c.Add(29 * time.Second)
	if call(t, b, Success) {
		t.Fatal("call allowed during the cool-down")
	}
	c.Add(time.Second)
	if b.State() != HalfOpen {
		t.Fatalf("state %v after the cool-down", b.State())
	}
	done, err := b.Allow() // the probe
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatal("a second call was allowed while the probe runs")
	}
	done(Success)
	done(Failure) // ignored: done counts once
	if b.State() != Closed {
		t.Fatalf("state %v after a good probe", b.State())
	}
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if len(*changes) != len(want) {
		t.Fatalf("changes %v, want %v", *changes, want)
	}
	for i := range want {
		if (*changes)[i] != want[i] {
			t.Fatalf("changes %v, want %v", *changes, want)
		}
	}
}

func TestFailedProbeReopens(t *testing.T) {
	b, c, _ := newTest(1)
	call(t, b, Failure)
	c.Add(30 * time.Second)
	if !call(t, b, Failure) {
		t.Fatal("probe not allowed")
	}
	if b.State() != Open {
		t.Fatalf("state %v after a failed probe", b.State())
	}
	c.Add(10 * time.Second)
	if call(t, b, Success) {
		t.Fatal("allowed 10s into a new cool-down")
	}
	c.Add(20 * time.Second)
	// An ignored probe (the caller gave up) leaves it half-open: the next
	// call probes again.
	if !call(t, b, Ignore) || b.State() != HalfOpen {
		t.Fatalf("after an ignored probe: %v", b.State())
	}
	if !call(t, b, Success) || b.State() != Closed {
		t.Fatalf("after a good probe: %v", b.State())
	}
}

func TestStaleReportsIgnored(t *testing.T) {
	b, c, _ := newTest(2)
	slow, _ := b.Allow() // a call that outlives the episode
	call(t, b, Failure)
	call(t, b, Failure) // opens
	c.Add(time.Minute)
	call(t, b, Success) // probe closes it
	slow(Failure)
	call(t, b, Failure)
	if b.State() != Closed {
		t.Fatal("a failure from before the last opening counted")
	}
}

func TestDisabledAndNil(t *testing.T) {
	b := New(Options{Failures: -1})
	for range 100 {
		call(t, b, Failure)
	}
	if b.State() != Closed {
		t.Fatal("disabled breaker opened")
	}
	var nb *Breaker
	if !call(t, nb, Failure) || nb.State() != Closed {
		t.Fatal("nil breaker refused")
	}
}

func TestConcurrentUse(t *testing.T) {
	b := New(Options{Failures: 5, Cooldown: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 1000 {
				if done, err := b.Allow(); err == nil {
					done(Outcome((i + j) % 3))
				}
				_ = b.State()
			}
		}()
	}
	wg.Wait()
}
