package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/regmirror/regmirror/internal/glob"
)

// hostRe is the syntax of an upstream name or alias: a DNS name or IPv4
// address with an optional port, as it appears as the first component of a
// repository name ("docker.io", "localhost:5000", "127.0.0.1:5000").
var hostRe = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$`)

// ValidHost reports whether s can name an upstream: a host name or IPv4
// address, with an optional port.
func ValidHost(s string) bool { return len(s) <= 255 && hostRe.MatchString(s) }

// Validate checks the whole configuration and returns every problem found,
// each an *Error naming the key (and its line when the value came from a
// file), joined with errors.Join. It does not touch the network or files.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.top()
	v.storage()
	v.cache()
	v.upstreams()
	v.routes()
	v.tls()
	v.limits()
	v.misc()
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
	// names maps each lower-cased upstream name and alias to the index of
	// its upstream, for duplicate detection and for routes.
	names map[string]int
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.c.file, Line: v.c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of key, or of its closest parent that has one.
func (c *Config) lineOf(key string) int {
	for key != "" {
		if l, ok := c.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func (v *validator) top() {
	c := v.c
	if c.Listen == "" {
		v.fail("listen", "must not be empty")
	} else if err := checkAddr(c.Listen); err != nil {
		v.fail("listen", "%v", err)
	}
	if c.PublicURL != "" {
		if err := checkBaseURL(c.PublicURL); err != nil {
			v.fail("publicURL", "%v", err)
		}
	}
	if a := c.Admin.Listen; a != "" && a != "off" {
		if err := checkAddr(a); err != nil {
			v.fail("admin.listen", "%v (or \"off\" to disable)", err)
		} else if a == c.Listen {
			v.fail("admin.listen", "same address as listen")
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log.level", "%s is not one of debug, info, warn, error", quote(c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		v.fail("log.format", "%s is not one of text, json", quote(c.Log.Format))
	}
	v.nonNegative("server.readHeaderTimeout", int64(c.Server.ReadHeaderTimeout))
	v.nonNegative("server.idleTimeout", int64(c.Server.IdleTimeout))
	v.nonNegative("server.shutdownTimeout", int64(c.Server.ShutdownTimeout))
	v.nonNegative("server.writeStallTimeout", int64(c.Server.WriteStallTimeout))
}

func (v *validator) storage() {
	s := v.c.Storage
	if s.Path == "" {
		v.fail("storage.path", "must not be empty (it also holds the metadata database)")
	}
	v.nonNegative("storage.maxSize", int64(s.MaxSize))
	if !(s.LowWater > 0 && s.LowWater <= 1) || math.IsNaN(s.LowWater) {
		v.fail("storage.lowWater", "%v is not in (0, 1]", s.LowWater)
	}
	switch s.Driver {
	case "filesystem":
	case "s3":
		if s.S3.Endpoint == "" {
			v.fail("storage.s3.endpoint", "required with driver s3")
		}
		if s.S3.Bucket == "" {
			v.fail("storage.s3.bucket", "required with driver s3")
		}
	default:
		v.fail("storage.driver", "%s is not one of filesystem, s3", quote(s.Driver))
	}
}

func (v *validator) cache() {
	c := v.c.Cache
	v.nonNegative("cache.tagTTL", int64(c.TagTTL))
	v.nonNegative("cache.negativeTTL", int64(c.NegativeTTL))
	v.nonNegative("cache.maxAge", int64(c.MaxAge))
	v.nonNegative("cache.manifestMemory", int64(c.ManifestMemory))
	v.nonNegative("cache.blobIdleTimeout", int64(c.BlobIdleTimeout))
}

func (v *validator) upstreams() {
	v.names = map[string]int{}
	if len(v.c.Upstreams) == 0 {
		v.fail("upstreams", "at least one upstream is required")
	}
	for i := range v.c.Upstreams {
		u := &v.c.Upstreams[i]
		key := fmt.Sprintf("upstreams[%d]", i)
		v.hostName(key+".name", u.Name, i)
		for j, a := range u.Aliases {
			v.hostName(fmt.Sprintf("%s.aliases[%d]", key, j), a, i)
		}
		if err := checkBaseURL(u.Endpoint); err != nil {
			v.fail(key+".endpoint", "%v", err)
		}
		hasPassword := u.Password != "" || u.PasswordFile != ""
		switch {
		case u.Password != "" && u.PasswordFile != "":
			v.fail(key+".passwordFile", "set either password or passwordFile, not both")
		case u.Username != "" && !hasPassword:
			v.fail(key+".username", "needs a password or passwordFile")
		case u.Username == "" && hasPassword:
			v.fail(key+".username", "required when a password is set")
		}
		v.nonNegative(key+".timeout", int64(u.Timeout))
		v.nonNegative(key+".dialTimeout", int64(u.DialTimeout))
		v.nonNegative(key+".blobTimeout", int64(u.BlobTimeout))
		v.nonNegative(key+".maxInFlight", int64(u.MaxInFlight))
		v.nonNegative(key+".maxBlobSize", int64(u.MaxBlobSize))
		if u.BreakerFailures < -1 {
			v.fail(key+".breakerFailures", "must be -1 (off) or more")
		}
		v.nonNegative(key+".breakerCooldown", int64(u.BreakerCooldown))
		v.globs(key+".allow", u.Allow)
		v.globs(key+".deny", u.Deny)
	}
}

// hostName checks an upstream name or alias and that no other upstream
// (or the same one) already uses it.
func (v *validator) hostName(key, name string, idx int) {
	switch {
	case name == "":
		v.fail(key, "must not be empty")
		return
	case !ValidHost(name):
		v.fail(key, "%s is not a registry host name (like \"docker.io\" or \"localhost:5000\")", quote(name))
		return
	}
	lower := strings.ToLower(name)
	if prev, dup := v.names[lower]; dup {
		v.fail(key, "%s is already used by upstreams[%d] (names and aliases must be unique, ignoring case)", quote(name), prev)
		return
	}
	v.names[lower] = idx
}

func (v *validator) routes() {
	for i, r := range v.c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if _, err := glob.Compile(r.Match); err != nil {
			v.fail(key+".match", "%v", err)
		}
		if r.Upstream == "" {
			v.fail(key+".upstream", "must not be empty")
		} else if _, ok := v.names[strings.ToLower(r.Upstream)]; !ok {
			v.fail(key+".upstream", "%s is not a configured upstream name or alias", quote(r.Upstream))
		}
	}
}

func (v *validator) tls() {
	t := v.c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.fail("tls", "certFile and keyFile go together")
	}
	if t.ACME.Enabled && t.CertFile != "" {
		v.fail("tls.acme.enabled", "cannot be used together with certFile")
	}
	if t.ACME.DirectoryURL != "" {
		if u, err := url.Parse(t.ACME.DirectoryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.fail("tls.acme.directoryURL", "%s is not an absolute http(s) URL", quote(t.ACME.DirectoryURL))
		}
	}
	if t.RedirectHTTP != "" {
		if err := checkAddr(t.RedirectHTTP); err != nil {
			v.fail("tls.redirectHTTP", "%v", err)
		}
	}
	for i, h := range t.Hosts {
		if !ValidHost(h) {
			v.fail(fmt.Sprintf("tls.hosts[%d]", i), "%s is not a host name", quote(h))
		}
	}
	for i, h := range t.ACME.Hosts {
		if !ValidHost(h) {
			v.fail(fmt.Sprintf("tls.acme.hosts[%d]", i), "%s is not a host name", quote(h))
		}
	}
}

func (v *validator) limits() {
	l := v.c.Limits
	if l.RequestsPerSecond < 0 || math.IsNaN(l.RequestsPerSecond) || math.IsInf(l.RequestsPerSecond, 0) {
		v.fail("limits.requestsPerSecond", "must be a number >= 0")
	}
	v.nonNegative("limits.burst", int64(l.Burst))
	v.nonNegative("limits.clientBandwidth", int64(l.ClientBandwidth))
	v.nonNegative("limits.totalBandwidth", int64(l.TotalBandwidth))
	v.prefixes("limits.trustedProxies", l.TrustedProxies)
	v.prefixes("limits.exempt", l.Exempt)
}

func (v *validator) misc() {
	c := v.c
	v.globs("access.allow", c.Access.Allow)
	v.globs("access.deny", c.Access.Deny)
	for i, tok := range c.Auth.Tokens {
		if strings.TrimSpace(tok) == "" {
			v.fail(fmt.Sprintf("auth.tokens[%d]", i), "must not be empty")
		}
	}
	if r := c.Coordination.Redis; r != "" {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			v.fail("coordination.redis", "want a redis://host:port/db URL")
		}
	}
	v.advertise()
	for i, p := range c.Prefetch {
		key := fmt.Sprintf("prefetch[%d]", i)
		if p.Image == "" {
			v.fail(key+".image", "must not be empty")
		}
		v.nonNegative(key+".interval", int64(p.Interval))
		for j, pl := range p.Platforms {
			if n := len(strings.Split(pl, "/")); n < 2 || n > 3 || strings.Contains(pl, "//") || strings.HasSuffix(pl, "/") {
				v.fail(fmt.Sprintf("%s.platforms[%d]", key, j), "%s is not os/arch[/variant]", quote(pl))
			}
		}
	}
}

func (v *validator) nonNegative(key string, n int64) {
	if n < 0 {
		v.fail(key, "must not be negative")
	}
}

func (v *validator) globs(key string, patterns []string) {
	for i, p := range patterns {
		if _, err := glob.Compile(p); err != nil {
			v.fail(fmt.Sprintf("%s[%d]", key, i), "%v", err)
		}
	}
}

func (v *validator) prefixes(key string, cidrs []string) {
	for i, s := range cidrs {
		if _, err := netip.ParsePrefix(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		v.fail(fmt.Sprintf("%s[%d]", key, i), "%s is not an IP address or CIDR prefix", quote(s))
	}
}

// checkAddr checks a listen address, "host:port" or ":port".
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s is not a host:port address", quote(addr))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: bad port %s", quote(addr), quote(port))
	}
	return nil
}

// checkBaseURL checks an absolute http(s) URL with no path beyond "/", no
// query, no fragment and no credentials.
func checkBaseURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%s is not a URL", quote(s))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s: scheme must be http or https", quote(s))
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%s: missing host", quote(s))
	case u.User != nil:
		return fmt.Errorf("%s: credentials do not belong in the URL (use username and password)", quote(u.Redacted()))
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%s: must not have a path (the API lives at /v2/)", quote(s))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%s: must not have a query or fragment", quote(s))
	}
	return nil
}
