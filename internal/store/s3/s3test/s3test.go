// Package s3test runs a real S3-compatible server for tests: SeaweedFS
// ("weed mini") on loopback, every listener on a port of its own, with its
// data in a temporary directory.
//
// Starting SeaweedFS takes a few seconds, so a test package shares one
// server through a Lazy held by its TestMain:
//
//	var weed s3test.Lazy
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		weed.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) {
//		srv := weed.Get(t) // skips t when the weed binary is missing
//		...
//	}
//
// The weed binary is found in $REGMIRROR_WEED, on $PATH, or in
// $(go env GOPATH)/bin (where scripts/install-deps.sh installs it).
package s3test

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials and region of the servers Start runs.
const (
	AccessKey = "regmirror-test"
	SecretKey = "regmirror-test-secret"
	Region    = "us-east-1"
)

// EnvBinary names the environment variable that can point at the weed binary.
const EnvBinary = "REGMIRROR_WEED"

// ErrNoBinary: the weed binary was not found.
var ErrNoBinary = errors.New("s3test: SeaweedFS binary \"weed\" not found (set " + EnvBinary + ", put it on PATH, or run scripts/install-deps.sh)")

// startTimeout bounds how long Start waits for the S3 API to work.
const startTimeout = 90 * time.Second

// Server is a running weed mini process.
type Server struct {
	// Endpoint is the host:port of the S3 API on 127.0.0.1.
	Endpoint string

	cmd  *exec.Cmd
	dir  string
	done chan struct{} // closed when the process exited
	stop sync.Once
}

// Binary returns the path of the weed binary, or ErrNoBinary.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("s3test: %s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gopath, "bin", "weed")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", ErrNoBinary
}

// Start runs weed mini on loopback with telemetry off, waits until its S3
// API accepts requests, and returns it. The caller must Stop it.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// A short directory: it also holds the unix sockets, whose paths are
	// limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "rmweed-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(10)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{
		"mini",
		"-dir=" + filepath.Join(dir, "data"),
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false", // on by default: it would report to telemetry.seaweedfs.com
		"-webdav=false", "-admin.ui=false",
		"-master.port=" + p(0), "-master.port.grpc=" + p(1),
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-filer.port=" + p(4), "-filer.port.grpc=" + p(5),
		"-s3.port=" + p(6), "-s3.port.grpc=" + p(7),
		"-admin.port=" + p(8), "-admin.port.grpc=" + p(9), "-admin.port.legacy=0",
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// The S3 gateway's admin identity.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+AccessKey, "AWS_SECRET_ACCESS_KEY="+SecretKey)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: start %s: %w", bin, err)
	}
	s := &Server{Endpoint: "127.0.0.1:" + p(6), cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status of a stopped server does not matter
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls until a bucket can be created and removed.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := s.Client()
	if err != nil {
		return err
	}
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("s3test: weed exited during start-up:\n%s", s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("s3test: S3 API not ready after %s (last error: %v):\n%s", startTimeout, last, s.logTail())
		case <-time.After(200 * time.Millisecond):
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		last = c.MakeBucket(rctx, "ready-check", minio.MakeBucketOptions{Region: Region})
		if last == nil {
			last = c.RemoveBucket(rctx, "ready-check")
		}
		rcancel()
		if last == nil {
			return nil
		}
	}
}

// logTail returns the end of weed's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Client returns a minio client for the server, with the admin credentials.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// MakeBucket creates a bucket with a fresh random name and returns it.
func (s *Server) MakeBucket(ctx context.Context) (string, error) {
	c, err := s.Client()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("test-%016x", rand.Uint64())
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		return "", fmt.Errorf("s3test: make bucket %s: %w", name, err)
	}
	return name, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and removes its
// data. It is safe to call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		os.RemoveAll(s.dir)
	})
}

// Lazy starts one Server on first use, for all the tests of a package. Its
// zero value is ready; TestMain calls Stop after m.Run.
type Lazy struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it on first use. It skips t when
// the weed binary is missing and fails t when the server does not start.
func (l *Lazy) Get(t testing.TB) *Server {
	t.Helper()
	l.once.Do(func() { l.srv, l.err = Start() })
	if errors.Is(l.err, ErrNoBinary) {
		t.Skip(l.err)
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.srv
}

// Stop stops the shared server if it was started.
func (l *Lazy) Stop() {
	if l.srv != nil {
		l.srv.Stop()
	}
}

// freePorts returns n distinct ports that were free on 127.0.0.1. They are
// drawn below the Linux ephemeral range (32768+), so that an outgoing
// connection cannot take one before the server binds it.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("s3test: no free ports")
		}
		p := 20000 + rand.IntN(12000)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	return ports, nil
}
