package upstream

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// newClient returns a Client for u's public server.
func newClient(t *testing.T, u *registrytest.Upstream, mod ...func(*Options)) *Client {
	t.Helper()
	return newClientFor(t, u.URL, mod...)
}

func newClientFor(t *testing.T, endpoint string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Name: "test", Endpoint: endpoint, Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withCreds(user, pass string) func(*Options) {
	return func(o *Options) { o.Username, o.Password = user, pass }
}

// onPath wraps the fixture's handler: requests whose path contains substr
// (and whose method is method, when not "") go to h instead.
func onPath(method, substr string, h http.HandlerFunc) registrytest.Option {
	return registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, substr) && (method == "" || r.Method == method) {
				h(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
}

// alterBody wraps the fixture's handler so that GET answers under substr
// come back with their body changed by f and their headers kept.
func alterBody(substr string, f func([]byte) []byte) registrytest.Option {
	return registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, substr) || r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := f(bytes.Clone(rec.Body.Bytes()))
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// serveOn starts h on addr ("127.0.0.2:0"), counting connections.
func serveOn(t *testing.T, addr string, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	cl := &countingListener{Listener: ln}
	s := httptest.NewUnstartedServer(h)
	s.Listener = cl
	s.Start()
	t.Cleanup(s.Close)
	return s, cl
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func digestOf(t *testing.T, s string) digest.Digest {
	t.Helper()
	d, err := digest.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
