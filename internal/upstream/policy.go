package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// maxRedirects bounds a redirect chain (net/http's default).
const maxRedirects = 10

// forbiddenPrefixes are the addresses a public upstream may not send us to,
// beyond what netip's predicates catch: cloud metadata endpoints outside
// link-local, and carrier-grade NAT. oras's lists are the source.
var forbiddenPrefixes = append(auth.DefaultBlockedRealmPrefixes(), auth.PrivateRealmPrefixes()...)

// forbiddenAddr reports whether a is loopback, private, link-local,
// unspecified, multicast or a metadata address.
func forbiddenAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrPolicy decides which hosts the client may connect to besides its
// endpoint.
type addrPolicy struct {
	endpointHost string // hostname of the endpoint, lower-case, no port
	// forcePublic, for tests: treat the endpoint as public whatever it is.
	forcePublic bool
	lookup      func(ctx context.Context, host string) ([]netip.Addr, error)

	mu      sync.Mutex
	known   bool // private is settled
	private bool
}

func newAddrPolicy(endpointHost string, forcePublic bool) *addrPolicy {
	return &addrPolicy{
		endpointHost: strings.ToLower(endpointHost),
		forcePublic:  forcePublic,
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
	}
}

// isEndpoint reports whether host (a hostname, no port) is the endpoint's.
func (p *addrPolicy) isEndpoint(host string) bool {
	return strings.EqualFold(strings.TrimSuffix(host, "."), strings.TrimSuffix(p.endpointHost, "."))
}

// endpointPrivate reports whether the endpoint is a loopback or private
// address, or resolves to one. A failed lookup counts as public (the safe
// side) and is retried next time.
func (p *addrPolicy) endpointPrivate(ctx context.Context) bool {
	if p.forcePublic {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known {
		return p.private
	}
	if priv, ok := literalForbidden(p.endpointHost); ok {
		p.known, p.private = true, priv
		return priv
	}
	addrs, err := p.lookup(ctx, p.endpointHost)
	if err != nil {
		return false
	}
	p.known = true
	for _, a := range addrs {
		if forbiddenAddr(a) {
			p.private = true
		}
	}
	return p.private
}

// literalForbidden answers for hosts that need no lookup: IP literals and
// localhost names. ok is false for any other name.
func literalForbidden(host string) (forbidden, ok bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return forbiddenAddr(a), true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true, true
	}
	return false, false
}

// checkRedirect refuses redirect targets that are plainly forbidden (IP
// literals, localhost) before anything is dialled; names are checked by the
// dial hook once resolved. It also bounds the chain and its schemes.
func (p *addrPolicy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s: unsupported scheme: %w", req.URL.Redacted(), ErrRedirectRefused)
	}
	host := req.URL.Hostname()
	if p.isEndpoint(host) {
		return nil
	}
	if bad, ok := literalForbidden(host); ok && bad && !p.endpointPrivate(req.Context()) {
		return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), ErrRedirectRefused)
	}
	return nil
}

// dialContext dials addr, refusing connections to forbidden addresses for
// hosts other than the endpoint when the endpoint is public.
func (p *addrPolicy) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := *d
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || p.isEndpoint(host) || p.endpointPrivate(ctx) {
			return d.DialContext(ctx, network, addr)
		}
		g := guarded
		g.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if forbiddenAddr(ap.Addr()) {
				return fmt.Errorf("%s is %s: %w", host, ap.Addr(), ErrRedirectRefused)
			}
			return nil
		}
		return g.DialContext(ctx, network, addr)
	}
}

// newTransport is the tuned transport one Client uses for all its requests.
// It never uses a proxy from the environment: the mirror connects only to
// the hosts its configuration and its upstreams name.
func newTransport(opts Options, p *addrPolicy) *http.Transport {
	d := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dialContext(d),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           128,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    opts.DialTimeout,
		ResponseHeaderTimeout:  opts.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
}
