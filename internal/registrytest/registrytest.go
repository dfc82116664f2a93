// Package registrytest is a test fixture: an in-process upstream registry
// (go-containerregistry's in-memory pkg/registry on httptest), optionally
// behind a Docker-Hub-style bearer token server, with request counters and
// helpers to seed images and indexes.
//
// Only tests import this package, so it may use go-containerregistry; the
// mirror binary never links it.
//
// One registry handler (the storage) is served twice: a seed server with no
// auth that tests push fixtures to (SeedURL), and a public server that the
// code under test talks to (URL). Counts only sees the public server, and
// counts requests on arrival (a 401 counts as well as its retry). Blob GETs
// on the public server honour any Range (ggcr's own registry refuses
// open-ended ones). The
// token realm is on the public server's own host:port, so clients that refuse
// private realms on other hosts still accept it.
package registrytest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Service is the service name in the fixture's bearer challenges.
const Service = "registrytest"

// Upstream is a running fake upstream registry. Its servers are closed by
// t.Cleanup.
type Upstream struct {
	URL     string  // http://127.0.0.1:port of the public (possibly auth-fronted) server
	Host    string  // host:port of URL
	SeedURL string  // http://127.0.0.1:port of the no-auth seed server
	Counts  *Counts // requests received by the public server

	cfg    config
	seed   *httptest.Server
	public *httptest.Server
	stop   sync.Once

	mu     sync.Mutex
	tokens map[string]grant // issued tokens
}

// config is what the options set.
type config struct {
	bearer  bool
	basic   bool
	users   map[string]string
	private []string
	delay   time.Duration
	wrap    []func(http.Handler) http.Handler
	jwtTTL  time.Duration
	now     func() time.Time
}

// Option configures New.
type Option func(*config)

// WithBearerAuth fronts the public server with Docker-Hub-style bearer auth:
// 401 with WWW-Authenticate: Bearer realm="<URL>/token",service="registrytest",
// scope="repository:REPO:pull", and a /token endpoint on the same host:port
// that hands out opaque tokens (anonymously unless WithUsers is set too).
func WithBearerAuth() Option { return func(c *config) { c.bearer = true } }

// WithBasicAuth makes the public server demand HTTP Basic credentials from
// the WithUsers table on every request (no token server).
func WithBasicAuth() Option { return func(c *config) { c.basic = true } }

// WithUsers sets the accepted username→password pairs. With bearer auth,
// /token checks Basic credentials when they are sent (wrong ones get 401),
// and a user's token reaches private repositories too.
func WithUsers(users map[string]string) Option {
	return func(c *config) { c.users = users }
}

// WithPrivate makes repositories whose name starts with prefix unreachable
// with an anonymous token: the registry answers 401 insufficient_scope, the
// way Docker Hub answers for private and nonexistent names. It may be given
// more than once.
func WithPrivate(prefix string) Option {
	return func(c *config) { c.private = append(c.private, prefix) }
}

// WithJWT makes /token issue unsigned JWT-shaped tokens whose exp claim is
// ttl from now, with expires_in set to ttl.
func WithJWT(ttl time.Duration) Option { return func(c *config) { c.jwtTTL = ttl } }

// WithClock sets the clock that token lifetimes (the JWT exp claim and
// issued_at) are computed from; tests share it with the client under test.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithDelay delays every public request (tokens included) by d, or until the
// request's context ends.
func WithDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithHandlerWrap wraps the public handler (auth and registry, inside the
// counters and the delay) to inject faults: altered bodies, error statuses,
// redirects. Later wraps are outermost.
func WithHandlerWrap(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = append(c.wrap, wrap) }
}

// New starts a fake upstream registry with referrers support.
func New(t testing.TB, opts ...Option) *Upstream {
	t.Helper()
	u := &Upstream{Counts: newCounts(), tokens: map[string]grant{}}
	u.cfg.now = time.Now
	for _, o := range opts {
		o(&u.cfg)
	}
	store := registry.New(
		registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithReferrersSupport(true),
	)
	u.seed = httptest.NewServer(store)
	u.SeedURL = u.seed.URL

	var h = rangeHandler(store)
	switch {
	case u.cfg.bearer:
		h = u.bearerHandler(h)
	case u.cfg.basic:
		h = u.basicHandler(h)
	}
	for _, w := range u.cfg.wrap {
		h = w(h)
	}
	h = u.delayHandler(h)
	h = u.Counts.handler(h)
	u.public = httptest.NewServer(h)
	u.URL = u.public.URL
	u.Host = strings.TrimPrefix(u.URL, "http://")
	t.Cleanup(func() {
		u.Stop()
		u.seed.Close()
	})
	return u
}

// Stop closes the public server, dropping open connections, so that later
// connections are refused: the upstream went down. The seed server stays up.
func (u *Upstream) Stop() {
	u.stop.Do(func() {
		u.public.CloseClientConnections()
		u.public.Close()
	})
}

func (u *Upstream) delayHandler(next http.Handler) http.Handler {
	if u.cfg.delay <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sleep(r.Context(), u.cfg.delay) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// repoOf returns the repository of a /v2/<name>/(manifests|blobs|tags|referrers)/…
// path, and "" for any other path.
func repoOf(path string) string {
	p, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	for _, kind := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, kind); i > 0 {
			return p[:i]
		}
	}
	return ""
}

// kindOf returns "manifests", "blobs", "tags" or "referrers" for a repository
// path, "base" for /v2/, "token" for /token, else "".
func kindOf(path string) string {
	switch path {
	case "/v2/", "/v2":
		return "base"
	case "/token":
		return "token"
	}
	repo := repoOf(path)
	if repo == "" {
		return ""
	}
	rest := strings.TrimPrefix(path, "/v2/"+repo+"/")
	kind, _, _ := strings.Cut(rest, "/")
	return kind
}
