package serve

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/registrytest"
)

// env is a mirror in front of fake upstreams, all in process.
type env struct {
	t      *testing.T
	app    *App
	srv    *httptest.Server
	host   string // host:port of the mirror
	ups    map[string]*registrytest.Upstream
	cfg    *config.Config
	cancel context.CancelFunc
}

type upSpec struct {
	name    string
	aliases []string
	opts    []registrytest.Option
}

func newEnv(t *testing.T, mutate func(*config.Config), specs ...upSpec) *env {
	t.Helper()
	e := &env{t: t, ups: map[string]*registrytest.Upstream{}}
	cfg := config.Default()
	cfg.Storage.Path = t.TempDir()
	cfg.Admin.Listen = "off"
	cfg.Upstreams = nil
	for _, s := range specs {
		u := registrytest.New(t, s.opts...)
		e.ups[s.name] = u
		up := config.Upstream{Name: s.name, Endpoint: u.URL, Aliases: s.aliases}
		up.ApplyDefaults()
		cfg.Upstreams = append(cfg.Upstreams, up)
	}
	if mutate != nil {
		mutate(cfg)
	}
	e.cfg = cfg
	e.start()
	return e
}

func (e *env) start() {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, e.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e.app, e.cancel = app, cancel
	e.srv = httptest.NewServer(app.Handler)
	e.host = strings.TrimPrefix(e.srv.URL, "http://")
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.app.Close(ctx)
	e.srv = nil
}

// settle waits for the mirror's downloads to commit: a client has its last
// byte once the digest is verified, a moment before the blob is in the store.
func (e *env) settle() {
	e.t.Helper()
	settle(e.t, e.app)
}

func settle(t testing.TB, app *App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Mirror.Fills().Drain(ctx); err != nil {
		t.Fatalf("downloads still running after 30 s: %v", err)
	}
}

// restart stops the mirror and builds it again on the same data directory.
func (e *env) restart() {
	e.stop()
	e.start()
}

func (e *env) ref(s string) name.Reference {
	r, err := name.ParseReference(e.host+"/"+s, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// pull fetches an image (one platform) through the mirror and reads every
// layer, the way a client does. It returns the manifest digest.
func (e *env) pull(ref string, platform string) v1.Hash {
	e.t.Helper()
	opts := []remote.Option{remote.WithContext(context.Background())}
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			e.t.Fatal(err)
		}
		opts = append(opts, remote.WithPlatform(*p))
	}
	img, err := remote.Image(e.ref(ref), opts...)
	if err != nil {
		e.t.Fatalf("pull %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the digest at EOF
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			e.t.Fatalf("layer of %s: %v", ref, err)
		}
		if err := rc.Close(); err != nil {
			e.t.Fatalf("layer of %s: %v", ref, err)
		}
	}
	if _, err := img.RawConfigFile(); err != nil {
		e.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		e.t.Fatal(err)
	}
	e.settle()
	return d
}

// get does a raw request against the mirror.
func (e *env) get(method, path string, hdr ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// ociError reads an OCI error body and returns its first code.
func ociError(t *testing.T, resp *http.Response) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error response has Content-Type %q", ct)
	}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("not an OCI error body: %v", err)
	}
	return body.Errors[0].Code
}

func digestOf(t *testing.T, s string) digest.Digest {
	d, err := digest.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// deleteTag removes a tag on the upstream (through its seed server).
func deleteTag(t *testing.T, up *registrytest.Upstream, repo, tag string) {
	req, _ := http.NewRequest("DELETE", up.SeedURL+"/v2/"+repo+"/manifests/"+tag, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("deleting %s:%s upstream: %d", repo, tag, resp.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func remoteImage(e *env, ref string) (v1.Image, error) {
	return remote.Image(e.ref(ref))
}

// readLayers reads (and so verifies) every layer of img.
func readLayers(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
