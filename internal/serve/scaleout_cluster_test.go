package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/meta/redis/redistest"
	"github.com/regmirror/regmirror/internal/registrytest"
	"github.com/regmirror/regmirror/internal/store/s3"
	"github.com/regmirror/regmirror/internal/store/s3/s3test"
)

// weed is the SeaweedFS server shared by this package's scale-out tests,
// started on first use.
var weed s3test.Lazy

// sharedBucket is created in weed on first use.
var sharedBucket struct {
	once sync.Once
	name string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	weed.Stop()
	os.Exit(code)
}

// cluster is mirror nodes sharing one S3 bucket (SeaweedFS) and one Redis,
// in front of one fake docker.io upstream, all on loopback.
type cluster struct {
	t      testing.TB
	up     *registrytest.Upstream
	redis  *redistest.Server
	s3     *s3test.Server
	bucket string
	// s3Prefix and redisPrefix keep tests apart in the shared servers.
	s3Prefix, redisPrefix string
}

// node is one running mirror of a cluster.
type node struct {
	app    *App
	srv    *httptest.Server
	host   string // 127.0.0.1:port
	cancel context.CancelFunc
}

func newCluster(t testing.TB, upOpts ...registrytest.Option) *cluster {
	t.Helper()
	c := &cluster{t: t, s3: weed.Get(t), redis: redistest.Start(t)}
	// One bucket for all clusters (each under its own prefix): SeaweedFS
	// takes about a second to set up a new bucket's storage on first write.
	sharedBucket.once.Do(func() { sharedBucket.name, sharedBucket.err = c.s3.MakeBucket(context.Background()) })
	if sharedBucket.err != nil {
		t.Fatal(sharedBucket.err)
	}
	c.bucket = sharedBucket.name
	c.s3Prefix = fmt.Sprintf("c%x", rand.Uint32())
	c.redisPrefix = c.s3Prefix + ":"
	c.up = registrytest.New(t, upOpts...)
	return c
}

// addNode starts a node. endpoint replaces the upstream's URL (to put a
// proxy in between); "" means the upstream itself.
func (c *cluster) addNode(endpoint string) *node {
	t := c.t
	t.Helper()
	if endpoint == "" {
		endpoint = c.up.URL
	}
	cfg := config.Default()
	cfg.Storage.Path = t.TempDir()
	cfg.Admin.Listen = "off"
	u := config.Upstream{Name: "docker.io", Endpoint: endpoint}
	u.ApplyDefaults()
	cfg.Upstreams = []config.Upstream{u}
	cfg.Storage.Driver = "s3"
	cfg.Storage.S3 = config.S3{
		Endpoint: c.s3.Endpoint, Bucket: c.bucket, Region: s3test.Region, Insecure: true,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Prefix: c.s3Prefix,
	}
	// The listener first: its address is the node's advertise URL.
	srv := httptest.NewUnstartedServer(nil)
	cfg.Coordination = config.Coordination{Redis: c.redis.URL, Prefix: c.redisPrefix, Advertise: "http://" + srv.Listener.Addr().String()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, cfg, testLogger(t))
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	if _, ok := app.Store.(*s3.Store); !ok {
		cancel()
		srv.Close()
		_ = app.Close(context.Background())
		t.Fatal("serve.Build did not open the S3 store")
	}
	srv.Config.Handler = app.Handler
	srv.Start()
	n := &node{app: app, srv: srv, host: srv.Listener.Addr().String(), cancel: cancel}
	t.Cleanup(func() {
		n.kill()
		srv.Close()
		_ = app.Close(context.Background())
	})
	return n
}

// kill makes the node unreachable at once, dropping the connections it
// serves (clients and peers see a broken transfer), as a crash would.
func (n *node) kill() {
	n.srv.Listener.Close()
	n.srv.CloseClientConnections()
	n.cancel()
}

// testLogger logs to t when REGMIRROR_TEST_LOG is set, else nowhere.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("REGMIRROR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pullImage pulls ref through the mirror at host the way a client does
// (manifest, config, every layer read and verified) and returns its digest.
func pullImage(host, ref string) (v1.Hash, error) {
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(r)
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the digest at EOF
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return v1.Hash{}, err
		}
	}
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// imageBlobs returns the digests of img's config and layers.
func imageBlobs(t testing.TB, img v1.Image) []v1.Hash {
	t.Helper()
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	out := []v1.Hash{cfg}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// slowBlobs slows the upstream's blob bodies to chunk bytes per pause, so
// that downloads overlap and can be interrupted mid-way.
func slowBlobs(chunk int, pause time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(&slowWriter{ResponseWriter: w, ctx: r.Context(), chunk: chunk, pause: pause}, r)
		})
	}
}

type slowWriter struct {
	http.ResponseWriter
	ctx   context.Context
	chunk int
	pause time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), s.chunk)
		w, err := s.ResponseWriter.Write(p[:c])
		n += w
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[c:]
		select {
		case <-time.After(s.pause):
		case <-s.ctx.Done():
			return n, s.ctx.Err()
		}
	}
	return n, nil
}

// tcpProxy forwards connections to a target until killed; killing it drops
// every connection, as if the network path (or the node behind it) died.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(p.kill)
	return p
}

func (p *tcpProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

func (p *tcpProxy) kill() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
