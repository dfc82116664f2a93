package limit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// hit sends one request from remote (with an optional X-Forwarded-For) and
// returns the recorder.
func hit(h http.Handler, remote, xff string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRequestRate(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	trusted, _ := ParsePrefixes([]string{"10.0.0.1"})
	exempt, _ := ParsePrefixes([]string{"192.168.0.0/16"})
	l := New(Options{RequestsPerSecond: 1, Burst: 2, TrustedProxies: trusted, Exempt: exempt, Now: clk.Now})
	h := l.Wrap(ok)

	for i := range 2 {
		if w := hit(h, "1.1.1.1:1", ""); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i, w.Code)
		}
	}
	w := hit(h, "1.1.1.1:2", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the rate: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	var body struct{ Errors []struct{ Code string } }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != "TOOMANYREQUESTS" {
		t.Fatalf("429 body %q", w.Body.String())
	}
	if l.Rejected() != 1 {
		t.Fatalf("Rejected() = %d", l.Rejected())
	}

	// Other clients have their own buckets; exempt ones have none.
	if w := hit(h, "2.2.2.2:1", ""); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
	for range 10 {
		if w := hit(h, "192.168.3.4:1", ""); w.Code != 200 {
			t.Fatalf("exempt client limited: %d", w.Code)
		}
	}
	// Behind a trusted proxy, the forwarded client is the one counted.
	for i, want := range []int{200, 200, 429} {
		if w := hit(h, "10.0.0.1:1", "3.3.3.3"); w.Code != want {
			t.Fatalf("proxied request %d: %d, want %d", i, w.Code, want)
		}
	}
	if w := hit(h, "10.0.0.1:1", "4.4.4.4"); w.Code != 200 {
		t.Fatalf("another client behind the proxy: %d", w.Code)
	}

	clk.Add(time.Second) // one token back
	if w := hit(h, "1.1.1.1:1", ""); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}
	if w := hit(h, "1.1.1.1:1", ""); w.Code != 429 {
		t.Fatalf("second request after a second: %d", w.Code)
	}
}

func TestIPv6CountedPer64(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	l := New(Options{RequestsPerSecond: 1, Burst: 1, Now: clk.Now})
	h := l.Wrap(ok)
	if w := hit(h, "[2001:db8:0:1::1]:1", ""); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := hit(h, "[2001:db8:0:1::ffff]:1", ""); w.Code != 429 {
		t.Fatalf("same /64: %d, want 429", w.Code)
	}
	if w := hit(h, "[2001:db8:0:2::1]:1", ""); w.Code != 200 {
		t.Fatalf("other /64: %d", w.Code)
	}
}

func TestDefaultBurst(t *testing.T) {
	l := New(Options{RequestsPerSecond: 2})
	h := l.Wrap(ok)
	for i := range minBurst {
		if w := hit(h, "1.1.1.1:1", ""); w.Code != 200 {
			t.Fatalf("request %d of the default burst: %d", i, w.Code)
		}
	}
}

func TestClientTableIsBounded(t *testing.T) {
	l := New(Options{RequestsPerSecond: 1, MaxClients: 100})
	h := l.Wrap(ok)
	for i := range 5000 {
		hit(h, fmt.Sprintf("10.%d.%d.1:1", i/256, i%256), "")
	}
	if n := l.Clients(); n != 100 {
		t.Fatalf("%d clients tracked, want 100", n)
	}
}

func TestDisabledAndUnpacedPassThrough(t *testing.T) {
	if h := New(Options{}).Wrap(ok); fmt.Sprintf("%p", h) != fmt.Sprintf("%p", ok) {
		t.Fatal("a Limiter without limits wrapped the handler")
	}
	// Without a bandwidth limit the handler gets the original writer, so
	// http.ServeContent can still use sendfile.
	var paced bool
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, paced = w.(*pacedWriter) })
	hit(New(Options{RequestsPerSecond: 5}).Wrap(probe), "1.1.1.1:1", "")
	if paced {
		t.Fatal("writer wrapped without a bandwidth limit")
	}
	hit(New(Options{ClientBandwidth: 1 << 20}).Wrap(probe), "1.1.1.1:1", "")
	if !paced {
		t.Fatal("writer not paced under a bandwidth limit")
	}
	exempt, _ := ParsePrefixes([]string{"1.1.1.1"})
	hit(New(Options{ClientBandwidth: 1 << 20, Exempt: exempt}).Wrap(probe), "1.1.1.1:1", "")
	if paced {
		t.Fatal("exempt client paced")
	}
}

// download fetches url with a real client, checking the size.
func download(t *testing.T, url, xff string, size int) time.Duration {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != int64(size) {
		t.Errorf("read %d of %d bytes: %v", n, size, err)
	}
	return time.Since(start)
}

func blobServer(t *testing.T, l *Limiter, size int) *httptest.Server {
	payload := make([]byte, size)
	srv := httptest.NewServer(l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(payload)
	})))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientBandwidth(t *testing.T) {
	t.Parallel()
	const rate, size = 1 << 20, 2<<20 + 512<<10 // 2.5 MiB at 1 MiB/s: 1.5s after the 1s burst
	srv := blobServer(t, New(Options{ClientBandwidth: rate}), size)
	if d := download(t, srv.URL, "", size); d < 1200*time.Millisecond {
		t.Fatalf("2.5 MiB at 1 MiB/s took %v", d)
	}
}

func TestTotalBandwidth(t *testing.T) {
	t.Parallel()
	const size = 1<<20 + 256<<10 // two clients × 1.25 MiB at 1 MiB/s in total: 1.5s after the burst
	trusted, _ := ParsePrefixes([]string{"127.0.0.1"})
	srv := blobServer(t, New(Options{TotalBandwidth: 1 << 20, TrustedProxies: trusted}), size)
	start := time.Now()
	var wg sync.WaitGroup
	for _, ip := range []string{"5.5.5.5", "6.6.6.6"} {
		wg.Add(1)
		go func() { defer wg.Done(); download(t, srv.URL, ip, size) }()
	}
	wg.Wait()
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Fatalf("2×1.25 MiB at 1 MiB/s in total took %v", d)
	}
}
