package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/regmirror/regmirror/internal/config"
)

// serveTLS serves h over HTTPS with setup the way the mirror does
// (srv.TLSConfig and ServeTLS with no files) and returns the address.
func serveTLS(t *testing.T, setup *Setup, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: setup.Config, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// quietRegistry is an in-memory registry that does not log.
func quietRegistry() http.Handler { return registry.New(registry.Logger(log.New(io.Discard, "", 0))) }

func getV2(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}

func TestOff(t *testing.T) {
	s, err := New(&config.Config{Listen: ":5000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Enabled() || s.Config != nil {
		t.Error("TLS on without certificate files or ACME")
	}
}

func TestCertFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certPath, keyPath := ca.issue(t, dir, "tls", 100)
	cfg := &config.Config{Listen: ":5443", TLS: config.TLS{CertFile: certPath, KeyFile: keyPath}}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Enabled() {
		t.Fatal("TLS off with certificate files")
	}
	s.files.every = 0 // check the files on every handshake
	addr := serveTLS(t, s, quietRegistry())

	// A client trusting the test CA pulls /v2/, over HTTP/2.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}, ForceAttemptHTTP2: true, DisableKeepAlives: true}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp := getV2(t, c, "https://"+addr+"/v2/")
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 100 {
		t.Error("not served with the configured certificate")
	}
	// A client that does not trust the CA is refused.
	if _, err := http.Get("https://" + addr + "/v2/"); err == nil {
		t.Error("a client without the CA accepted the certificate")
	}

	// Renewal: new files in place; the next handshake serves them.
	newCert, newKey := ca.issue(t, dir, "renewed", 200)
	mustRename(t, newCert, certPath)
	mustRename(t, newKey, keyPath)
	bump(t, certPath, keyPath)
	cli := httpsClient(ca.pool(), "localhost")
	if leaf, _ := cli.peer(t, addr); leaf.SerialNumber.Int64() != 200 {
		t.Errorf("after renewal served serial %v, want 200", leaf.SerialNumber)
	}

	// A broken file keeps the loaded certificate.
	write(t, certPath, []byte("not a certificate"))
	bump(t, certPath)
	if leaf, _ := cli.peer(t, addr); leaf.SerialNumber.Int64() != 200 {
		t.Errorf("after a bad file served serial %v, want the previous 200", leaf.SerialNumber)
	}
	getV2(t, c, "https://"+addr+"/v2/")
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// bump moves modification times forward, as a renewal a second later would.
func bump(t *testing.T, paths ...string) {
	t.Helper()
	at := time.Now().Add(time.Duration(len(paths)) * time.Minute)
	for _, p := range paths {
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		tls  config.TLS
		want string
	}{
		{"missing files", config.TLS{CertFile: filepath.Join(dir, "no.crt"), KeyFile: filepath.Join(dir, "no.key")}, "no such file"},
		{"cert without key", config.TLS{CertFile: "x.crt"}, "go together"},
		{"acme without hosts", config.TLS{ACME: config.ACME{Enabled: true, CacheDir: dir}}, "hosts is required"},
		{"acme bad CA file", config.TLS{ACME: config.ACME{Enabled: true, Hosts: []string{"a.example"}, CacheDir: dir, CAFile: filepath.Join(dir, "none.pem")}}, "caFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&config.Config{Listen: ":443", TLS: tt.tls}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.Config
		method   string
		host     string
		path     string
		wantCode int
		wantLoc  string
	}{
		{"same host, port 443", config.Config{Listen: ":443"}, "GET", "mirror.example.org", "/v2/library/nginx/manifests/latest?x=1",
			301, "https://mirror.example.org/v2/library/nginx/manifests/latest?x=1"},
		{"strips the HTTP port", config.Config{Listen: "0.0.0.0:443"}, "GET", "mirror.example.org:80", "/", 301, "https://mirror.example.org/"},
		{"keeps a non-standard HTTPS port", config.Config{Listen: ":8443"}, "HEAD", "mirror.example.org:8080", "/v2/", 301, "https://mirror.example.org:8443/v2/"},
		{"publicURL wins", config.Config{Listen: ":8443", PublicURL: "https://m.example.org"}, "GET", "10.0.0.1", "/a", 301, "https://m.example.org/a"},
		{"unknown host goes to the first known", config.Config{Listen: ":443", TLS: config.TLS{Hosts: []string{"m.example.org"}}}, "GET", "evil.example", "/", 301, "https://m.example.org/"},
		{"known host kept", config.Config{Listen: ":443", TLS: config.TLS{ACME: config.ACME{Hosts: []string{"a.example", "b.example"}}}}, "GET", "B.example", "/", 301, "https://B.example/"},
		{"IPv6 host", config.Config{Listen: ":443"}, "GET", "[::1]:80", "/v2/", 301, "https://[::1]/v2/"},
		{"POST keeps its method", config.Config{Listen: ":443"}, "POST", "m.example.org", "/v2/x/blobs/uploads/", 308, "https://m.example.org/v2/x/blobs/uploads/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(&tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			s.RedirectHandler().ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLoc {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLoc)
			}
		})
	}
}
