package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/regmirror/regmirror/internal/config"
)

// newACME returns an autocert manager for the configured hosts. The host
// list is required: without it anyone could make the mirror ask the CA for
// certificates for any name pointed at it.
func newACME(t config.TLS, dataDir string, log *slog.Logger) (*autocert.Manager, error) {
	hosts := t.ACME.Hosts
	if len(hosts) == 0 {
		hosts = t.Hosts
	}
	if len(hosts) == 0 {
		return nil, errors.New("tls.acme: hosts is required (the names to get certificates for)")
	}
	dir := t.ACME.CacheDir
	if dir == "" {
		dir = filepath.Join(dataDir, "acme")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls.acme: cache directory: %w", err)
	}
	client := &acme.Client{DirectoryURL: t.ACME.DirectoryURL, UserAgent: "regmirror"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = acme.LetsEncryptURL
	}
	if t.ACME.CAFile != "" {
		hc, err := httpClientTrusting(t.ACME.CAFile)
		if err != nil {
			return nil, err
		}
		client.HTTPClient = hc
	}
	log.Info("tls: certificates from ACME", "directory", client.DirectoryURL, "hosts", hosts, "cache", dir)
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(slices.Clone(hosts)...),
		Email:      t.ACME.Email,
		Client:     client,
	}, nil
}

// httpClientTrusting returns a client for the ACME server that trusts the
// system roots plus the PEM certificates in caFile.
func httpClientTrusting(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls.acme.caFile: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.acme.caFile: %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}
