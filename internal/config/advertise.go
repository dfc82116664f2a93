package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// EnvAdvertise overrides coordination.advertise when set.
const EnvAdvertise = "REGMIRROR_ADVERTISE"

// AdvertiseURL returns this node's base URL for the other nodes, without a
// trailing slash: $REGMIRROR_ADVERTISE if set, else coordination.advertise
// with ${VAR} and $VAR expanded from the environment (an unset variable is
// an error), else http(s)://<listen> when listen names a concrete host
// (not ":5000" or "0.0.0.0:5000"), else "". https when TLS is configured.
func (c *Config) AdvertiseURL() (string, error) {
	raw := os.Getenv(EnvAdvertise)
	if raw == "" {
		var missing []string
		raw = os.Expand(c.Coordination.Advertise, func(name string) string {
			val, ok := os.LookupEnv(name)
			if !ok || val == "" {
				missing = append(missing, "$"+name)
			}
			return val
		})
		if len(missing) > 0 {
			return "", fmt.Errorf("%s: environment variable %s is not set", quote(c.Coordination.Advertise), strings.Join(missing, ", "))
		}
	}
	if raw == "" {
		return c.listenURL(), nil
	}
	if err := checkBaseURL(raw); err != nil {
		return "", err
	}
	u, _ := url.Parse(raw) // checked above
	if unspecifiedHost(u.Hostname()) {
		return "", fmt.Errorf("%s: other nodes cannot connect to an unspecified address", quote(raw))
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// listenURL derives the advertise URL from listen, or returns "".
func (c *Config) listenURL() string {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || unspecifiedHost(host) {
		return ""
	}
	scheme := "http"
	if c.TLS.CertFile != "" || c.TLS.ACME.Enabled {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// unspecifiedHost: empty, 0.0.0.0 or ::, which name no reachable address.
func unspecifiedHost(h string) bool {
	if h == "" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && a.IsUnspecified()
}

// advertise validates coordination.advertise. An empty result is allowed:
// serve then advertises the address of the host's network interface.
func (v *validator) advertise() {
	if _, err := v.c.AdvertiseURL(); err != nil {
		v.fail("coordination.advertise", "%v", err)
	}
}
