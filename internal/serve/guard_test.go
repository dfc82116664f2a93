package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/store"
)

// mirrorOption reads an unexported mirror option by reflection, to tell
// whether Build wires a setting yet; ok is false when the field does not
// exist. They guard against the wiring being lost.
func mirrorOption(e *env, name string) (v reflect.Value, ok bool) {
	f := reflect.ValueOf(e.app.Mirror).Elem().FieldByName("opts").FieldByName(name)
	return f, f.IsValid()
}

func requireAccessWired(e *env) {
	if f, ok := mirrorOption(e, "Access"); !ok || f.IsNil() {
		e.t.Fatal("access rules are not wired into mirror.Options.Access by Build yet")
	}
}

func requireIdleTimeoutWired(e *env) {
	if f, ok := mirrorOption(e, "IdleTimeout"); !ok || time.Duration(f.Int()) != e.cfg.Cache.BlobIdleTimeout.D() {
		e.t.Fatal("cache.blobIdleTimeout is not wired into mirror.Options.IdleTimeout by Build yet")
	}
}

// ociMessage reads an OCI error body and returns its first code and message.
func ociMessage(t *testing.T, resp *http.Response) (code, message string) {
	t.Helper()
	var body struct {
		Errors []struct{ Code, Message string }
	}
	if err := decodeJSON(resp, &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("not an OCI error body: %v", err)
	}
	return body.Errors[0].Code, body.Errors[0].Message
}

// fetch GETs path from the mirror with headers, reading the whole body.
func (e *env) fetch(path string, hdr ...string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestRateLimitWithRealClients(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Limits.RequestsPerSecond = 1
		c.Limits.Burst = 4
	}, upSpec{name: "docker.io"})
	for i := range 4 {
		if resp := e.get("GET", "/v2/"); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp := e.get("GET", "/v2/library/x/manifests/latest")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := ociError(t, resp); code != "TOOMANYREQUESTS" {
		t.Fatalf("code %s", code)
	}
	if e.ups["docker.io"].Counts.Total.Load() != 0 {
		t.Fatal("a refused request reached the upstream")
	}
	for range 10 {
		if resp := e.get("GET", "/healthz"); resp.StatusCode != 200 {
			t.Fatalf("/healthz limited: %d", resp.StatusCode)
		}
	}
}

func TestBandwidthLimitWithRealClients(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Limits.ClientBandwidth = 1 << 20
		c.Limits.TrustedProxies = []string{"127.0.0.1"}
		c.Limits.Exempt = []string{"192.0.2.0/24"}
	}, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/big", "latest", 1, 5<<19) // one ~2.5 MiB layer
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	path := "/v2/library/big/blobs/" + ld.String()

	timed := func(client string) time.Duration {
		t.Helper()
		start := time.Now()
		resp, body, err := e.fetch(path, "X-Forwarded-For", client)
		if err != nil || resp.StatusCode != 200 || sha(body) != ld.String() {
			t.Fatalf("GET as %s: %v %v", client, resp, err)
		}
		return time.Since(start)
	}
	if d := timed("192.0.2.10"); d > time.Second { // exempt, fills the cache
		t.Errorf("exempt client took %v", d)
	}
	if d := timed("198.51.100.7"); d < 1200*time.Millisecond { // cached, 1 MiB/s
		t.Errorf("2.5 MiB at 1 MiB/s took %v", d)
	}
	if d := timed("192.0.2.11"); d > time.Second {
		t.Errorf("exempt client took %v from the cache", d)
	}
}

func writeHtpasswd(t *testing.T, user, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMirrorAuthentication(t *testing.T) {
	htpasswd := writeHtpasswd(t, "ci", "s3cret")
	e := newEnv(t, func(c *config.Config) {
		c.Auth = config.Auth{Htpasswd: htpasswd, Tokens: []string{"tok-abc"}, Realm: "test mirror"}
	}, upSpec{name: "docker.io"})
	want, _ := e.ups["docker.io"].PushRandomImage(t, "library/app", "v1", 2, 4096).Digest()

	// docker login starts with GET /v2/ and expects a Basic challenge.
	resp := e.get("GET", "/v2/")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="test mirror"` ||
		resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("/v2/ without credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code := ociError(t, resp); code != "UNAUTHORIZED" {
		t.Fatalf("code %s", code)
	}
	basic := func(u, p string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, p)
		return r.Header.Get("Authorization")
	}
	for _, c := range []struct {
		auth string
		want int
	}{
		{basic("ci", "s3cret"), 200},
		{basic("ci", "wrong"), 401},
		{"Bearer tok-abc", 200},
		{"Bearer nope", 401},
	} {
		if resp := e.get("GET", "/v2/", "Authorization", c.auth); resp.StatusCode != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.auth, resp.StatusCode, c.want)
		}
	}
	if resp := e.get("GET", "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz needs auth: %d", resp.StatusCode)
	}
	// A real client: anonymous is refused, a logged-in pull works.
	if _, err := remote.Image(e.ref("library/app:v1")); err == nil {
		t.Fatal("anonymous pull succeeded")
	}
	img, err := remote.Image(e.ref("library/app:v1"), remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	if err := readLayers(img); err != nil {
		t.Fatal(err)
	}
}

func TestDenyList(t *testing.T) {
	const msg = "evil is blocked by policy; ask #platform"
	e := newEnv(t, func(c *config.Config) {
		c.Access = config.Access{Deny: []string{"docker.io/library/evil"}, DenyMessage: msg}
	}, upSpec{name: "docker.io"}, upSpec{name: "gcr.io"})
	requireAccessWired(e)
	hub := e.ups["docker.io"]
	hub.PushRandomImage(t, "library/evil", "latest", 1, 1024)
	good, _ := hub.PushRandomImage(t, "library/good", "latest", 1, 1024).Digest()
	e.ups["gcr.io"].PushRandomImage(t, "evil", "latest", 1, 1024)

	for _, path := range []string{
		"/v2/library/evil/manifests/latest",       // docker's registry-mirrors form
		"/v2/evil/manifests/latest",               // implicit: docker.io is searched first
		"/v2/docker.io/evil/manifests/latest",     // explicit
		"/v2/evil/manifests/latest?ns=docker.io",  // containerd
		"/v2/library/evil/tags/list",              // any API
		"/v2/library/evil/blobs/" + good.String(), // even a blob by digest
	} {
		resp := e.get("GET", path)
		code, message := ociMessage(t, resp)
		if resp.StatusCode != 403 || code != "DENIED" || message != msg {
			t.Errorf("GET %s: %d %s %q", path, resp.StatusCode, code, message)
		}
	}
	if n := hub.Counts.Total.Load(); n != 0 {
		t.Fatalf("refused requests reached the upstream: %v", hub.Counts)
	}
	if got := e.pull("library/good:latest", ""); got != good {
		t.Fatal("allowed image not served")
	}
	if resp := e.get("GET", "/v2/gcr.io/evil/manifests/latest"); resp.StatusCode != 200 {
		t.Fatalf("gcr.io/evil is not denied: %d", resp.StatusCode)
	}
}

// TestDenyListCoversCachedContent: a rule added later also refuses what is
// already in the cache, by tag and by digest, without asking the upstream.
func TestDenyListCoversCachedContent(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Cache.TagTTL = config.Duration(time.Hour) }, upSpec{name: "docker.io"})
	hub := e.ups["docker.io"]
	d, _ := hub.PushRandomImage(t, "library/old", "1", 1, 1024).Digest()
	e.pull("library/old:1", "")
	e.cfg.Upstreams[0].Deny = []string{"library/old"}
	e.cfg.Upstreams[0].DenyMessage = "withdrawn"
	e.restart()
	requireAccessWired(e)
	hub.Counts.Reset()
	for _, path := range []string{"/v2/library/old/manifests/1", "/v2/library/old/manifests/" + d.String(), "/v2/old/manifests/" + d.String()} {
		for _, method := range []string{"GET", "HEAD"} {
			resp := e.get(method, path)
			if resp.StatusCode != 403 {
				t.Errorf("%s %s: %d", method, path, resp.StatusCode)
			}
		}
	}
	if hub.Counts.Total.Load() != 0 {
		t.Fatalf("upstream contacted: %v", hub.Counts)
	}
}

// storeHas reports whether the mirror's store holds d.
func storeHas(t *testing.T, e *env, d string) bool {
	t.Helper()
	e.settle()
	_, err := e.app.Store.Stat(context.Background(), digestOf(t, d))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestMaxBlobSizePerUpstream(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Upstreams[0].MaxBlobSize = 100 << 10 }, upSpec{name: "docker.io"})
	if f, ok := mirrorOption(e, "MaxBlobSizes"); !ok || f.Len() == 0 {
		t.Fatal("upstreams[].maxBlobSize is not wired into mirror.Options.MaxBlobSizes by Build yet")
	}
	img := e.ups["docker.io"].PushRandomImage(t, "library/fat", "v1", 1, 256<<10)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	resp := e.get("GET", "/v2/library/fat/blobs/"+ld.String())
	code, msg := ociMessage(t, resp)
	if resp.StatusCode != 403 || code != "SIZE_INVALID" {
		t.Fatalf("oversized blob: %d %s %q", resp.StatusCode, code, msg)
	}
	waitNoFills(t, e)
	if storeHas(t, e, ld.String()) {
		t.Fatal("oversized blob cached")
	}
	cfg, _ := img.ConfigName() // small: served
	if resp := e.get("GET", "/v2/library/fat/blobs/"+cfg.String()); resp.StatusCode != 200 {
		t.Fatalf("small blob: %d", resp.StatusCode)
	}
}
