package tlsconf

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheckEvery is how often, at most, the certificate files are checked
// for changes (on a handshake; there is no background goroutine).
const recheckEvery = 10 * time.Second

// certFile serves a certificate from files and reloads it when the files
// change (a renewal by certbot or cert-manager). A reload that fails keeps
// the previous certificate and is logged.
type certFile struct {
	certPath, keyPath string
	log               *slog.Logger
	every             time.Duration
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // modification times and sizes of both files
	checked time.Time
}

func newCertFile(certPath, keyPath string, log *slog.Logger) (*certFile, error) {
	f := &certFile{certPath: certPath, keyPath: keyPath, log: log, every: recheckEvery, now: time.Now}
	stamp, err := f.stat()
	if err != nil {
		return nil, err
	}
	if err := f.load(stamp); err != nil {
		return nil, err
	}
	f.checked = f.now()
	return f, nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (f *certFile) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= f.every {
		f.checked = now
		stamp, err := f.stat()
		switch {
		case err != nil:
			f.log.Warn("tls: checking certificate files; keeping the loaded certificate", "err", err)
		case stamp != f.stamp:
			if err := f.load(stamp); err != nil {
				f.log.Warn("tls: reloading certificate failed; keeping the loaded certificate", "err", err)
			}
		}
	}
	return f.cert, nil
}

func (f *certFile) stat() (string, error) {
	var stamp string
	for _, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		stamp += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return stamp, nil
}

// load reads the pair; on success it becomes the served certificate.
func (f *certFile) load(stamp string) error {
	c, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", f.certPath, f.keyPath, err)
	}
	f.cert, f.stamp = &c, stamp
	if c.Leaf != nil {
		f.log.Info("tls: certificate loaded", "file", f.certPath, "names", c.Leaf.DNSNames,
			"not_after", c.Leaf.NotAfter.Format(time.RFC3339))
		if f.now().After(c.Leaf.NotAfter) {
			f.log.Warn("tls: the certificate has expired", "file", f.certPath, "not_after", c.Leaf.NotAfter.Format(time.RFC3339))
		}
	}
	return nil
}
