// Package tlsconf turns the tls section of the configuration into what the
// listeners need: a *tls.Config for the HTTPS listener (certificate files,
// reloaded when they change, or certificates obtained over ACME) and the
// handler of the plain-HTTP listener, which answers ACME http-01
// challenges and redirects everything else to HTTPS.
package tlsconf

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/crypto/acme/autocert"

	"github.com/regmirror/regmirror/internal/config"
)

// Setup is the TLS side of a running mirror.
type Setup struct {
	// Config is the HTTPS listener's configuration; nil when TLS is off.
	// Serve with srv.TLSConfig = Config and srv.ServeTLS(ln, "", "").
	Config *tls.Config

	acme  *autocert.Manager // nil unless ACME is on
	files *certFile         // nil unless certificate files are used
	redir redirector
	log   *slog.Logger
}

// New builds the TLS setup of cfg: certificate files when tls.certFile is
// set (loaded now, so a bad file fails at start), ACME when
// tls.acme.enabled, else TLS off. ACME keeps its account and certificates
// in tls.acme.cacheDir, by default <storage.path>/acme.
func New(cfg *config.Config, log *slog.Logger) (*Setup, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := cfg.TLS
	s := &Setup{log: log, redir: newRedirector(cfg)}
	switch {
	case t.CertFile != "" || t.KeyFile != "":
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, fmt.Errorf("tls: certFile and keyFile go together")
		}
		f, err := newCertFile(t.CertFile, t.KeyFile, log)
		if err != nil {
			return nil, err
		}
		s.files = f
		s.Config = baseConfig()
		s.Config.GetCertificate = f.GetCertificate
	case t.ACME.Enabled:
		m, err := newACME(t, cfg.Storage.Path, log)
		if err != nil {
			return nil, err
		}
		s.acme = m
		s.Config = baseConfig()
		s.Config.GetCertificate = m.GetCertificate
		s.Config.NextProtos = m.TLSConfig().NextProtos // h2, http/1.1 and acme-tls/1
	}
	return s, nil
}

// Enabled reports whether the mirror serves HTTPS.
func (s *Setup) Enabled() bool { return s.Config != nil }

// RedirectHandler is the handler of the plain-HTTP listener (tls.redirectHTTP):
// ACME http-01 challenges when ACME is on, and a redirect to HTTPS for
// everything else (301 for GET and HEAD, 308 otherwise).
func (s *Setup) RedirectHandler() http.Handler {
	if s.acme != nil {
		return s.acme.HTTPHandler(s.redir)
	}
	return s.redir
}

func baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// redirector sends plain-HTTP requests to the HTTPS address.
type redirector struct {
	base  string   // "https://mirror.example.org" from publicURL; "" to use the request's host
	port  string   // the HTTPS port when not 443
	hosts []string // known host names; another Host header goes to hosts[0]
}

func newRedirector(cfg *config.Config) redirector {
	r := redirector{hosts: slices.Concat(cfg.TLS.ACME.Hosts, cfg.TLS.Hosts)}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme == "https" && u.Host != "" {
		r.base = "https://" + u.Host
	}
	if _, port, err := net.SplitHostPort(cfg.Listen); err == nil && port != "443" {
		r.port = port
	}
	return r
}

// ServeHTTP redirects to the same path on HTTPS.
func (d redirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := d.base
	if target == "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
		if len(d.hosts) > 0 && !slices.ContainsFunc(d.hosts, func(h string) bool { return strings.EqualFold(h, host) }) {
			host = d.hosts[0]
		}
		if host == "" {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		if d.port != "" {
			host = net.JoinHostPort(host, d.port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		target = "https://" + host
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	http.Redirect(w, r, target+r.URL.RequestURI(), code)
}
