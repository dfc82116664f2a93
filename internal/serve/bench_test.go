package serve

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/logging"
	"github.com/regmirror/regmirror/internal/registrytest"
)

// Hot-path benchmarks: a cached manifest by tag (within tagTTL) and a
// cached blob, through the whole public handler (access log, router,
// mirror, registry API) with no network in between. Run with
//
//	go test -run '^$' -bench Cached -benchmem ./internal/serve/
//
// "log" variants keep the access log (text, info level, to io.Discard), as
// a deployed mirror would; "nolog" ones measure the handler alone.
// scripts/bench.sh measures the same paths over real sockets (W2, W4).

// benchApp builds a mirror in front of one fake docker.io upstream holding
// library/bench:latest (one layer of layerSize bytes). It is newEnv's
// wiring, for a *testing.B.
func benchApp(b *testing.B, lg benchLogger, layerSize int64) (*App, *registrytest.Upstream, string) {
	b.Helper()
	up := registrytest.New(b)
	img := up.PushRandomImage(b, "library/bench", "latest", 1, layerSize)
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	ld, err := layers[0].Digest()
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.Path = b.TempDir()
	cfg.Admin.Listen = "off"
	u := config.Upstream{Name: "docker.io", Endpoint: up.URL}
	u.ApplyDefaults()
	cfg.Upstreams = []config.Upstream{u}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, cfg, lg.logger, lg.opts...)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		_ = app.Close(context.Background())
	})
	return app, up, ld.String()
}

// benchLogger is a logger and the Build options that go with it.
type benchLogger struct {
	logger *slog.Logger
	opts   []Option
}

var benchLoggers = []struct {
	name string
	log  func() benchLogger
}{
	{"nolog", func() benchLogger { return benchLogger{logger: slog.New(slog.DiscardHandler)} }},
	// The server's own logger: buffered, with the hand-formatted access line.
	{"log", func() benchLogger {
		l := logging.New(io.Discard, config.Log{Level: "info", Format: "text"})
		return benchLogger{logger: l.Logger, opts: []Option{WithAccessLog(l.Access)}}
	}},
}

// serveOnce runs one request through h and fails unless it answers 200.
func serveOnce(b *testing.B, h http.Handler, method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "+
		"application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	return rec
}

// BenchmarkCachedManifest is W4 without the sockets: HEAD and GET of a tag
// answered from the cache. It fails if the loop reached the upstream.
func BenchmarkCachedManifest(b *testing.B) {
	const path = "/v2/library/bench/manifests/latest"
	for _, lg := range benchLoggers {
		app, up, _ := benchApp(b, lg.log(), 1024)
		serveOnce(b, app.Handler, http.MethodGet, path) // caches the tag
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			b.Run(lg.name+"/"+method, func(b *testing.B) {
				up.Counts.Reset()
				b.ReportAllocs()
				for b.Loop() {
					serveOnce(b, app.Handler, method, path)
				}
				if n := up.Counts.Total.Load(); n != 0 {
					b.Fatalf("cached manifest made %d upstream requests: %v", n, up.Counts)
				}
			})
		}
		b.Run(lg.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					method := http.MethodHead
					if i%2 == 1 {
						method = http.MethodGet
					}
					serveOnce(b, app.Handler, method, path)
				}
			})
		})
	}
}

// BenchmarkCachedBlob is a GET of a cached 1 MiB blob into a writer that
// counts and drops the bytes (a recorder would spend the time growing its
// buffer). Over a socket the file would go out with sendfile; here it is
// copied, so the figure that matters is the handler's allocations.
func BenchmarkCachedBlob(b *testing.B) {
	const size = 1 << 20
	for _, lg := range benchLoggers {
		app, up, d := benchApp(b, lg.log(), size)
		path := "/v2/library/bench/blobs/" + d
		serveOnce(b, app.Handler, http.MethodGet, path) // caches the blob
		req := httptest.NewRequest(http.MethodGet, path, nil)
		b.Run(lg.name, func(b *testing.B) {
			up.Counts.Reset()
			b.ReportAllocs()
			w := &discardWriter{h: http.Header{}, buf: make([]byte, 256<<10)}
			for b.Loop() {
				clear(w.h)
				w.status, w.n = 0, 0
				app.Handler.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.n == 0 {
					b.Fatalf("GET blob: status %d, %d bytes", w.status, w.n)
				}
			}
			b.SetBytes(w.n)
			if c := up.Counts.Total.Load(); c != 0 {
				b.Fatalf("cached blob made %d upstream requests: %v", c, up.Counts)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps the status and counts the
// body bytes. Its ReadFrom reads with one reused buffer, standing in for
// the server's sendfile.
type discardWriter struct {
	h      http.Header
	status int
	n      int64
	buf    []byte
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += int64(len(p))
	return len(p), nil
}

func (w *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	w.WriteHeader(http.StatusOK)
	var total int64
	for {
		n, err := r.Read(w.buf)
		total += int64(n)
		w.n += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
