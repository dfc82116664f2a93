package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
)

const pebbleInstall = "go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 (scripts/install-deps.sh does it)"

// pebbleBinary finds letsencrypt's test ACME server: $PEBBLE, then PATH,
// then $(go env GOPATH)/bin.
func pebbleBinary(t *testing.T) string {
	if p := os.Getenv("PEBBLE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		if p := filepath.Join(gp, "bin", "pebble"); fileExists(p) {
			return p
		}
	}
	t.Skip("pebble (the ACME test server) is not installed: " + pebbleInstall)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pebble is a running pebble on loopback.
type pebble struct {
	dir, mgmt string // https://127.0.0.1:port/dir and the management base URL
	client    *http.Client
}

// startPebble runs pebble with a TLS certificate from ca, validation
// switched off (PEBBLE_VA_ALWAYS_VALID: no DNS, no connection back to us)
// and no random nonce rejection.
func startPebble(t *testing.T, ca *testCA) *pebble {
	bin := pebbleBinary(t)
	dir := t.TempDir()
	certPath, keyPath := ca.issue(t, dir, "pebble", 7)
	api, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", api),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    certPath,
		"privateKey":                     keyPath,
		"httpPort":                       freePort(t),
		"tlsPort":                        freePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	write(t, cfgPath, b)

	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting pebble: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	p := &pebble{
		dir:  fmt.Sprintf("https://127.0.0.1:%d/dir", api),
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}},
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := p.client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roots returns pebble's issuing root, which changes on every start.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if resp.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: %s %q", resp.Status, b)
	}
	return pool
}

// clientFor reaches addr as host, trusting roots.
func clientFor(addr, host string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: true,
	}}
}

func TestACMEWithPebble(t *testing.T) {
	const host = "mirror.regmirror.test"
	ca := newTestCA(t)
	p := startPebble(t, ca)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "acme-ca.pem")
	write(t, caFile, ca.pem)
	cfg := &config.Config{Listen: "127.0.0.1:8443", Storage: config.Storage{Path: dir}, TLS: config.TLS{
		ACME: config.ACME{Enabled: true, Hosts: []string{host}, Email: "ops@regmirror.test", DirectoryURL: p.dir, CAFile: caFile},
	}}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s, quietRegistry())

	// The first handshake obtains the certificate; the client trusts only
	// pebble's root.
	resp := getV2(t, clientFor(addr, host, p.roots(t)), "https://"+host+"/v2/")
	leaf := resp.TLS.PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, host) {
		t.Errorf("certificate names %v, want %s", leaf.DNSNames, host)
	}
	if !fileExists(filepath.Join(dir, "acme", host)) || !fileExists(filepath.Join(dir, "acme", "acme_account+key")) {
		entries, _ := os.ReadDir(filepath.Join(dir, "acme"))
		t.Errorf("cache directory <data>/acme lacks the certificate or account key: %v", entries)
	}

	// A name outside tls.acme.hosts gets no certificate.
	other := &tls.Config{RootCAs: p.roots(t), ServerName: "other.regmirror.test"}
	if conn, err := tls.Dial("tcp", addr, other); err == nil {
		conn.Close()
		t.Error("handshake for a host outside the policy succeeded")
	}

	// The HTTP listener answers challenges itself and redirects the rest.
	h := s.RedirectHandler()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/.well-known/acme-challenge/unknown-token", nil)
	req.Host = host
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown challenge token: %d, want 404 from the ACME handler", rec.Code)
	}
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("GET", "/v2/", nil)
	req.Host = host
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "https://"+host+":8443/v2/" {
		t.Errorf("redirect: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	// After a restart the certificate comes from the cache directory, even
	// with the ACME server gone.
	s2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.acme.Client.DirectoryURL = "https://127.0.0.1:1/dir" // nothing there
	addr2 := serveTLS(t, s2, quietRegistry())
	resp = getV2(t, clientFor(addr2, host, p.roots(t)), "https://"+host+"/v2/")
	if !resp.TLS.PeerCertificates[0].Equal(leaf) {
		t.Error("restarted setup did not reuse the cached certificate")
	}
}
