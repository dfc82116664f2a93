package upstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/breaker"
	"github.com/regmirror/regmirror/internal/registrytest"
)

func withClock(c *fakeClock) func(*Options) { return func(o *Options) { o.now = c.Now } }

// statusFlip answers manifest requests with the status in *code when it is
// not 0, and passes them on otherwise.
func statusFlip(code *atomic.Int64, retryAfter string) registrytest.Option {
	return onPathIf("/manifests/", func() bool { return code.Load() != 0 }, func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(int(code.Load()))
	})
}

func onPathIf(substr string, cond func() bool, h http.HandlerFunc) registrytest.Option {
	return registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, substr) && cond() {
				h(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
}

func TestBreakerOpensOnServerErrors(t *testing.T) {
	t.Parallel()
	var code atomic.Int64
	code.Store(503)
	u := registrytest.New(t, statusFlip(&code, ""))
	u.PushRandomImage(t, "a/b", "v1", 1, 100)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := newClient(t, u, withClock(clk), func(o *Options) { o.BreakerFailures, o.BreakerCooldown = 3, 30*time.Second })
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.GetManifest(ctx, "a/b", "v1"); err == nil {
			t.Fatalf("request %d succeeded against a failing upstream", i)
		}
	}
	if c.BreakerState() != breaker.Open {
		t.Fatalf("breaker %v after 3 failures", c.BreakerState())
	}
	sent := u.Counts.Total.Load()
	_, err := c.GetManifest(ctx, "a/b", "v1")
	var ue *Error
	if !errors.As(err, &ue) || ue.StatusCode != 0 || !errors.Is(err, breaker.ErrOpen) || ue.Upstream != "test" {
		t.Fatalf("open breaker answered %v", err)
	}
	if ue.RetryAfter != 30*time.Second {
		t.Errorf("RetryAfter %v, want the cool-down left", ue.RetryAfter)
	}
	if _, err := c.HeadBlob(ctx, "a/b", digestOf(t, "sha256:"+strings.Repeat("0", 64))); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("blob HEAD while open: %v", err)
	}
	if n := u.Counts.Total.Load() - sent; n != 0 {
		t.Fatalf("%d requests reached the upstream while the breaker was open", n)
	}

	code.Store(0) // the upstream recovers
	clk.Add(30 * time.Second)
	if _, err := c.GetManifest(ctx, "a/b", "v1"); err != nil {
		t.Fatalf("probe after the cool-down: %v", err)
	}
	if c.BreakerState() != breaker.Closed {
		t.Fatalf("breaker %v after a good probe", c.BreakerState())
	}
}

func TestBreakerIgnoresDefiniteAnswers(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth(), registrytest.WithPrivate("secret/"))
	c := newClient(t, u, func(o *Options) { o.BreakerFailures = 2 })
	ctx := context.Background()
	for range 5 {
		_, _ = c.GetManifest(ctx, "no/such", "v1")    // 404
		_, _ = c.GetManifest(ctx, "secret/app", "v1") // 401
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for range 5 {
		_, _ = c.GetManifest(canceled, "no/such", "v1") // the caller gave up
	}
	if c.BreakerState() != breaker.Closed {
		t.Fatalf("breaker %v after 404s, 401s and cancellations", c.BreakerState())
	}
}

func TestBreakerOpensOnConnectionErrors(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t)
	u.Stop()
	c := newClient(t, u, func(o *Options) { o.BreakerFailures = 2 })
	ctx := context.Background()
	for range 2 {
		if _, err := c.GetManifest(ctx, "a/b", "v1"); errors.Is(err, breaker.ErrOpen) {
			t.Fatal("opened too early")
		}
	}
	if _, err := c.GetManifest(ctx, "a/b", "v1"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after 2 refused connections: %v", err)
	}
	off := newClient(t, u, func(o *Options) { o.BreakerFailures = -1 })
	for range 5 {
		if _, err := off.GetManifest(ctx, "a/b", "v1"); errors.Is(err, breaker.ErrOpen) {
			t.Fatal("a disabled breaker opened")
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	var code atomic.Int64
	code.Store(429)
	u := registrytest.New(t, statusFlip(&code, "30"))
	u.PushRandomImage(t, "a/b", "v1", 1, 100)
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := newClient(t, u, withClock(clk))
	ctx := context.Background()
	if _, err := c.GetManifest(ctx, "a/b", "v1"); err == nil {
		t.Fatal("429 not reported")
	}
	code.Store(0)
	sent := u.Counts.Total.Load()
	clk.Add(10 * time.Second)
	_, err := c.GetManifest(ctx, "a/b", "v1")
	var ue *Error
	if !errors.As(err, &ue) || ue.StatusCode != http.StatusTooManyRequests || !errors.Is(err, ErrBackingOff) {
		t.Fatalf("inside the Retry-After window: %v", err)
	}
	if ue.RetryAfter != 20*time.Second {
		t.Errorf("RetryAfter %v, want the 20s left", ue.RetryAfter)
	}
	if n := u.Counts.Total.Load() - sent; n != 0 {
		t.Fatalf("%d requests sent inside the Retry-After window", n)
	}
	if c.BreakerState() != breaker.Closed {
		t.Fatal("a 429 counted as a failure")
	}
	clk.Add(20 * time.Second)
	if _, err := c.GetManifest(ctx, "a/b", "v1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestTooManyWithoutRetryAfterDoesNotBlock(t *testing.T) {
	t.Parallel()
	var code atomic.Int64
	code.Store(429)
	u := registrytest.New(t, statusFlip(&code, ""))
	u.PushRandomImage(t, "a/b", "v1", 1, 100)
	c := newClient(t, u)
	if _, err := c.GetManifest(context.Background(), "a/b", "v1"); err == nil {
		t.Fatal("429 not reported")
	}
	code.Store(0)
	if _, err := c.GetManifest(context.Background(), "a/b", "v1"); err != nil {
		t.Fatal(err)
	}
}

// TestMaxInFlightBoundsConcurrency: however many callers, the upstream
// never sees more than MaxInFlight requests at once.
func TestMaxInFlightBoundsConcurrency(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int64
	slow := registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := cur.Add(1)
			defer cur.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			next.ServeHTTP(w, r)
		})
	})
	u := registrytest.New(t, slow)
	d, _ := pushLayer(t, u, "a/b")
	c := newClient(t, u, func(o *Options) { o.MaxInFlight = 3 })
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.HeadBlob(context.Background(), "a/b", d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak concurrency at the upstream %d, want 3", p)
	}
}

// TestTokenBodyIsBounded: a token endpoint answering an endless body makes
// the request fail; it is not read into memory.
func TestTokenBodyIsBounded(t *testing.T) {
	t.Parallel()
	var u *registrytest.Upstream
	huge := registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hugetoken" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"token":"`))
				chunk := []byte(strings.Repeat("a", 64<<10))
				for range 1024 { // 64 MiB if anyone read it all
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				w.Write([]byte(`"}`))
				return
			}
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+u.URL+`/hugetoken",service="x"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	u = registrytest.New(t, huge)
	c := newClient(t, u)
	_, err := c.GetManifest(context.Background(), "a/b", "v1")
	var ue *Error
	if !errors.As(err, &ue) || ue.Upstream != "test" {
		t.Fatalf("huge token body: %v", err)
	}
}
