package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/regmirror/regmirror/internal/registrytest"
)

func forcePublic(o *Options) { o.forcePublic = true }

func TestBlobRedirectPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		public  bool
		host    string // redirect target host, port added
		refused bool
	}{
		{"public endpoint, loopback literal", true, "127.0.0.2", true},
		{"public endpoint, localhost", true, "localhost", true},
		{"private endpoint, loopback literal", false, "127.0.0.2", false},
		{"public endpoint, same host other port", true, "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			listen := tt.host
			if listen == "localhost" {
				listen = "127.0.0.1"
			}
			cdn, ln := serveOn(t, listen+":0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "blob")
			}))
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(cdn.URL, "http://"))
			target := fmt.Sprintf("http://%s:%s/blob", tt.host, port)
			u := registrytest.New(t, onPath(http.MethodGet, "/blobs/", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, http.StatusTemporaryRedirect)
			}))
			var mods []func(*Options)
			if tt.public {
				mods = append(mods, forcePublic)
			}
			c := newClient(t, u, mods...)
			b, err := c.GetBlob(context.Background(), "a/b", digestOf(t, "sha256:"+strings.Repeat("a", 64)), 0)
			if tt.refused {
				if !errors.Is(err, ErrRedirectRefused) {
					t.Fatalf("err = %v, want ErrRedirectRefused", err)
				}
				if n := ln.accepts.Load(); n != 0 {
					t.Fatalf("%d connections made to a refused address", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readBlob(t, b); string(got) != "blob" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// TestDialGuard checks the connect-time hook that covers names resolving to
// forbidden addresses (here given as a literal, which CheckRedirect would
// have caught earlier).
func TestDialGuard(t *testing.T) {
	t.Parallel()
	_, ln := serveOn(t, "127.0.0.2:0", http.NotFoundHandler())
	addr := ln.Addr().String()
	dial := func(public bool) error {
		p := newAddrPolicy("127.0.0.1", public)
		conn, err := p.dialContext(&net.Dialer{})(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(true); !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("public endpoint: dial %s: %v, want ErrRedirectRefused", addr, err)
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("refused dial connected %d times", n)
	}
	if err := dial(false); err != nil {
		t.Fatalf("private endpoint: %v", err)
	}
	p := newAddrPolicy("127.0.0.2", true)
	conn, err := p.dialContext(&net.Dialer{})(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("the endpoint itself must always be reachable: %v", err)
	}
	conn.Close()
}

// TestRealmPolicy: a token realm on another loopback host is refused for a
// public endpoint (without connecting) and followed for a private one.
func TestRealmPolicy(t *testing.T) {
	t.Parallel()
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprint("public=", public), func(t *testing.T) {
			t.Parallel()
			var u *registrytest.Upstream
			// The realm server forwards to the fixture's own /token.
			realm, ln := serveOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Get(u.URL + "/token?" + r.URL.RawQuery)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				w.WriteHeader(resp.StatusCode)
				io.Copy(w, resp.Body)
			}))
			u = registrytest.New(t, registrytest.WithBearerAuth(), registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(realmRewriter{w, u.URL, realm.URL}, r)
				})
			}))
			u.PushRandomImage(t, "a/b", "v1", 0, 0)
			var mods []func(*Options)
			if public {
				mods = append(mods, forcePublic)
			}
			_, err := newClient(t, u, mods...).GetManifest(context.Background(), "a/b", "v1")
			if public {
				if !errors.Is(err, ErrRedirectRefused) || ln.accepts.Load() != 0 {
					t.Fatalf("err = %v, %d connections; want ErrRedirectRefused and none", err, ln.accepts.Load())
				}
				return
			}
			if err != nil || ln.accepts.Load() == 0 {
				t.Fatalf("err = %v, %d connections to the realm", err, ln.accepts.Load())
			}
		})
	}
}

// realmRewriter moves the bearer realm of a challenge to another server.
type realmRewriter struct {
	http.ResponseWriter
	from, to string
}

func (rw realmRewriter) WriteHeader(code int) {
	if ch := rw.Header().Get("WWW-Authenticate"); ch != "" {
		rw.Header().Set("WWW-Authenticate", strings.Replace(ch, rw.from, rw.to, 1))
	}
	rw.ResponseWriter.WriteHeader(code)
}

func TestForbiddenAddr(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true,
		"169.254.169.254": true, "100.100.100.200": true, "168.63.129.16": true, "0.0.0.0": true,
		"::": true, "fe80::1": true, "fd00:ec2::254": true, "::ffff:127.0.0.1": true, "100.64.0.1": true,
		"8.8.8.8": false, "2001:4860:4860::8888": false, "104.18.0.1": false,
	}
	for s, want := range tests {
		if got := forbiddenAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("forbiddenAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestEndpointPrivate(t *testing.T) {
	t.Parallel()
	lookupErr := errors.New("no DNS")
	tests := []struct {
		host   string
		addrs  []string
		err    error
		forced bool
		want   bool
	}{
		{host: "127.0.0.1", want: true},
		{host: "10.0.0.5", want: true},
		{host: "localhost", want: true},
		{host: "registry.localhost", want: true},
		{host: "::1", want: true},
		{host: "8.8.8.8", want: false},
		{host: "registry.corp", addrs: []string{"10.2.3.4"}, want: true},
		{host: "registry-1.docker.io", addrs: []string{"54.236.113.205"}, want: false},
		{host: "dual.example", addrs: []string{"54.236.113.205", "192.168.0.9"}, want: true},
		{host: "offline.example", err: lookupErr, want: false},
		{host: "127.0.0.1", forced: true, want: false},
	}
	for _, tt := range tests {
		p := newAddrPolicy(tt.host, tt.forced)
		lookups := 0
		p.lookup = func(context.Context, string) ([]netip.Addr, error) {
			lookups++
			var out []netip.Addr
			for _, a := range tt.addrs {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, tt.err
		}
		if got := p.endpointPrivate(context.Background()); got != tt.want {
			t.Errorf("%s: endpointPrivate = %v, want %v", tt.host, got, tt.want)
		}
		p.endpointPrivate(context.Background())
		if tt.err == nil && lookups > 1 {
			t.Errorf("%s: %d lookups, want the answer cached", tt.host, lookups)
		}
		if tt.err != nil && lookups != 2 {
			t.Errorf("%s: failed lookup not retried (%d lookups)", tt.host, lookups)
		}
	}
}
