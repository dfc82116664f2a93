package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/regmirror/regmirror/internal/breaker"
)

// Defaults for Options.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultDialTimeout = 10 * time.Second
	DefaultUserAgent   = "regmirror"
)

// Options configure a Client for one upstream.
type Options struct {
	Name               string        // configured upstream name, e.g. "docker.io"
	Endpoint           string        // "https://registry-1.docker.io" or "http://127.0.0.1:5001"
	Username, Password string        // optional; Basic or token bought with credentials
	Timeout            time.Duration // until response headers; default 30s
	DialTimeout        time.Duration // connect and TLS handshake; default 10s
	BlobTimeout        time.Duration // not enforced here (the caller's ctx bounds a blob); kept for callers
	MaxInFlight        int           // max concurrent requests to this upstream; 0 = unlimited
	UserAgent          string        // default DefaultUserAgent
	// Transport replaces the tuned default transport (tests). It loses the
	// dial-time address check of the package doc; CheckRedirect still runs.
	Transport http.RoundTripper
	// WrapTransport, if set, wraps the transport in use (default or
	// Transport), e.g. to record metrics. The dial policy stays in force.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	Logger        *slog.Logger // default: discard
	// BreakerFailures consecutive failures (connection errors, timeouts,
	// 5xx) open the circuit breaker: requests then fail fast for
	// BreakerCooldown, after which one probe decides. Defaults 5 and 30s
	// (breaker.DefaultFailures, breaker.DefaultCooldown); a negative
	// BreakerFailures turns the breaker off.
	BreakerFailures int
	BreakerCooldown time.Duration

	// forcePublic (tests): treat the endpoint as a public address.
	forcePublic bool
	// now (tests): the clock of the breaker and Retry-After windows.
	now func() time.Time
}

// Client talks to one upstream registry. It is safe for concurrent use.
type Client struct {
	name      string
	endpoint  *url.URL
	anonymous bool
	auth      *auth.Client // every registry request
	plain     *http.Client // Ping: same transport and redirect policy, no auth
	tokens    *tokenCache
	sem       chan struct{} // nil when unlimited
	protect   *protection   // circuit breaker and Retry-After window
	log       *slog.Logger

	rlMu        sync.Mutex
	rlRemaining int
	rlLimit     int
	rlSeen      bool
}

// New returns a Client for opts.Endpoint. Nothing is contacted until the
// first call.
func New(opts Options) (*Client, error) {
	ep, err := url.Parse(opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: endpoint: %w", opts.Name, err)
	}
	if (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" || ep.User != nil ||
		(ep.Path != "" && ep.Path != "/") || ep.RawQuery != "" {
		return nil, fmt.Errorf("upstream %s: endpoint %q must be http(s)://host[:port] with no path or credentials", opts.Name, ep.Redacted())
	}
	ep.Path = ""
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	policy := newAddrPolicy(ep.Hostname(), opts.forcePublic)
	rt := opts.Transport
	if rt == nil {
		rt = newTransport(opts, policy)
	}
	if opts.WrapTransport != nil {
		rt = opts.WrapTransport(rt)
	}
	hc := &http.Client{Transport: rt, CheckRedirect: policy.checkRedirect}
	c := &Client{
		name:      opts.Name,
		endpoint:  ep,
		anonymous: opts.Username == "" && opts.Password == "",
		plain:     hc,
		tokens:    newTokenCache(),
		log:       opts.Logger.With("upstream", opts.Name),
	}
	c.auth = &auth.Client{
		Client: hc,
		Header: http.Header{"User-Agent": {opts.UserAgent}},
		Cache:  c.tokens,
		// The dial hook enforces the address policy for realms; oras keeps
		// its scheme and https→http downgrade checks.
		BlockedRealmPrefixes: []netip.Prefix{},
	}
	if !c.anonymous {
		c.auth.Credential = auth.StaticCredential(ep.Host, auth.Credential{Username: opts.Username, Password: opts.Password})
	}
	if opts.MaxInFlight > 0 {
		c.sem = make(chan struct{}, opts.MaxInFlight)
	}
	c.protect = newProtection(opts, func(from, to breaker.State) {
		c.log.Warn("upstream circuit breaker "+to.String(), "from", from.String())
	})
	return c, nil
}

// Name is the configured upstream name.
func (c *Client) Name() string { return c.name }

// Endpoint is the upstream's base URL (scheme and host, no path).
func (c *Client) Endpoint() *url.URL {
	u := *c.endpoint
	return &u
}

// RateLimit returns the last Docker Hub style rate-limit headers seen
// (ratelimit-remaining: 76;w=21600, ratelimit-limit: 100;w=21600); ok is
// false until an answer carried them.
func (c *Client) RateLimit() (remaining int, limit int, ok bool) {
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	return c.rlRemaining, c.rlLimit, c.rlSeen
}

// request is one exchange with the upstream.
type request struct {
	method string
	repo   string // for the token scope; "" for /v2/
	path   string // after /v2/
	query  url.Values
	header http.Header
	noAuth bool // Ping
}

// do sends r and returns the answer when its status is 2xx; anything else
// is an *Error. The caller closes the body and then calls release (release
// is idempotent).
//
// While the upstream's Retry-After window from an earlier 429 is open, or
// its circuit breaker is open, nothing is sent: the *Error says 429 with
// the remaining RetryAfter (wrapping ErrBackingOff), or status 0 wrapping
// breaker.ErrOpen. Each exchange's outcome, up to the response headers,
// feeds the breaker.
func (c *Client) do(ctx context.Context, r request) (resp *http.Response, release func(), err error) {
	u := *c.endpoint
	u.Path = "/v2/" + r.path
	u.RawQuery = r.query.Encode()
	done, wait, perr := c.protect.admit()
	if perr != nil {
		return nil, nil, c.refusedError(r.method, &u, wait, perr)
	}
	if err := c.acquire(ctx); err != nil {
		done(breaker.Ignore) // our own queue, not the upstream's health
		return nil, nil, c.transportError(r.method, &u, err)
	}
	defer func() {
		status := 0
		var ue *Error
		if resp != nil {
			status = resp.StatusCode
		} else if errors.As(err, &ue) {
			status = ue.StatusCode
		}
		done(outcome(ctx, status, err))
	}()
	rel := sync.OnceFunc(c.releaseSlot)
	defer func() {
		if err != nil {
			rel()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), nil)
	if err != nil {
		return nil, nil, c.transportError(r.method, &u, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	start := time.Now()
	if r.noAuth {
		req.Header.Set("User-Agent", c.auth.Header.Get("User-Agent"))
		resp, err = c.plain.Do(req)
	} else {
		if r.repo != "" {
			req = req.WithContext(auth.WithScopesForHost(ctx, u.Host, auth.ScopeRepository(r.repo, auth.ActionPull)))
		}
		resp, err = c.auth.Do(req)
	}
	if err != nil {
		c.log.DebugContext(ctx, "upstream request failed", "method", r.method, "url", redact(&u), "err", err)
		return nil, nil, c.transportError(r.method, &u, err)
	}
	c.noteRateLimit(resp.Header)
	c.log.DebugContext(ctx, "upstream request", "method", r.method, "url", redact(&u),
		"status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := c.statusError(resp)
		if se.StatusCode == http.StatusTooManyRequests {
			c.protect.backOff(se.RetryAfter)
		}
		return nil, nil, se
	}
	return resp, rel, nil
}

func (c *Client) acquire(ctx context.Context) error {
	if c.sem == nil {
		return ctx.Err()
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) releaseSlot() {
	if c.sem != nil {
		<-c.sem
	}
}

// noteRateLimit records Docker Hub's rate-limit headers when present.
func (c *Client) noteRateLimit(h http.Header) {
	rem, okR := parseRateLimit(h.Get("Ratelimit-Remaining"))
	lim, okL := parseRateLimit(h.Get("Ratelimit-Limit"))
	if !okR && !okL {
		return
	}
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	if okR {
		c.rlRemaining = rem
	}
	if okL {
		c.rlLimit = lim
	}
	c.rlSeen = true
}

// parseRateLimit reads "100;w=21600" (the count before any parameters).
func parseRateLimit(v string) (int, bool) {
	n, _, _ := strings.Cut(v, ";")
	i, err := strconv.Atoi(strings.TrimSpace(n))
	return i, err == nil && i >= 0
}

// readCapped reads all of body, failing with ErrManifestTooLarge past max.
func readCapped(body io.Reader, size, max int64) ([]byte, error) {
	if size > max {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", size, max, ErrManifestTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes: %w", max, ErrManifestTooLarge)
	}
	return b, nil
}

// bodyError wraps a failure while reading or checking a 2xx body.
func (c *Client) bodyError(resp *http.Response, err error) error {
	if errors.Is(err, ErrManifestTooLarge) || errors.Is(err, ErrDigestMismatch) {
		return fmt.Errorf("upstream %s: %s %s: %w", c.name, resp.Request.Method, redact(resp.Request.URL), err)
	}
	return c.transportError(resp.Request.Method, resp.Request.URL, err)
}
