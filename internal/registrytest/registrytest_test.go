package registrytest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

func publicRef(t *testing.T, u *Upstream, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(u.Host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAnonymousBearerPull(t *testing.T) {
	t.Parallel()
	u := New(t, WithBearerAuth())
	idx := u.PushIndex(t, "library/nginx", "latest", "linux/amd64", "linux/arm64")
	want, _ := idx.Digest()
	if got := u.Digest(t, "library/nginx", "latest"); got.String() != want.String() {
		t.Fatalf("Digest = %s, want %s", got, want)
	}
	if n := u.Counts.Total.Load(); n != 0 {
		t.Fatalf("seeding touched the public server: %s", u.Counts)
	}

	got, err := remote.Index(publicRef(t, u, "library/nginx:latest"), remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	im, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index manifests %+v", im.Manifests)
	}
	img, err := got.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := layers[0].Digest()
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()

	c := u.Counts
	if c.Token.Load() == 0 || c.ManifestGet.Load() == 0 || c.BlobGet.Load() == 0 {
		t.Fatalf("counters did not move: %s", c)
	}
	if n := c.BlobGets(digest.Digest(ld.String())); n != 1 {
		t.Fatalf("BlobGets(layer) = %d, want 1 (%s)", n, c)
	}
	c.Reset()
	if c.Total.Load() != 0 || c.BlobGets(digest.Digest(ld.String())) != 0 {
		t.Fatalf("Reset left %s", c)
	}
}

func TestChallengeAndPrivate(t *testing.T) {
	t.Parallel()
	u := New(t, WithBearerAuth(), WithPrivate("secret/"), WithUsers(map[string]string{"alice": "pw"}))
	u.PushRandomImage(t, "secret/app", "v1", 1, 256)

	resp, err := http.Get(u.URL + "/v2/secret/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chal := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 401 || !strings.Contains(chal, `realm="`+u.URL+`/token"`) ||
		!strings.Contains(chal, `scope="repository:secret/app:pull"`) {
		t.Fatalf("status %d challenge %q", resp.StatusCode, chal)
	}

	ref := publicRef(t, u, "secret/app:v1")
	if _, err := remote.Get(ref, remote.WithAuth(authn.Anonymous)); err == nil {
		t.Fatal("anonymous pull of a private repository succeeded")
	}
	auth := remote.WithAuth(&authn.Basic{Username: "alice", Password: "pw"})
	if _, err := remote.Get(ref, auth); err != nil {
		t.Fatalf("pull as alice: %v", err)
	}
	bad := remote.WithAuth(&authn.Basic{Username: "alice", Password: "nope"})
	if _, err := remote.Get(ref, bad); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
}

func TestBasicAuthAndDockerTypes(t *testing.T) {
	t.Parallel()
	u := New(t, WithBasicAuth(), WithUsers(map[string]string{"bob": "pw"}))
	idx := u.PushDockerIndex(t, "team/tool", "1.0", "linux/arm/v7")
	mt, _ := idx.MediaType()
	if mt != "application/vnd.docker.distribution.manifest.list.v2+json" {
		t.Fatalf("media type %s", mt)
	}
	ref := publicRef(t, u, "team/tool:1.0")
	if _, err := remote.Get(ref); err == nil {
		t.Fatal("anonymous pull succeeded")
	}
	desc, err := remote.Get(ref, remote.WithAuth(&authn.Basic{Username: "bob", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := desc.ImageIndex()
	im, _ := got.IndexManifest()
	if p := im.Manifests[0].Platform; p == nil || p.Variant != "v7" {
		t.Fatalf("platform %+v", p)
	}
}

func TestStopDelayAndWrap(t *testing.T) {
	t.Parallel()
	var wrapped atomic.Bool
	u := New(t, WithDelay(20*time.Millisecond), WithHandlerWrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wrapped.Store(true)
			h.ServeHTTP(w, r)
		})
	}))
	img := u.PushRandomImage(t, "a/b", "", 0, 0)
	d, _ := img.Digest()
	start := time.Now()
	if _, err := remote.Get(publicRef(t, u, "a/b@"+d.String())); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 20*time.Millisecond || !wrapped.Load() {
		t.Fatalf("delay or wrap not applied (wrapped=%v)", wrapped.Load())
	}
	u.Stop()
	if _, err := http.Get(u.URL + "/v2/"); err == nil {
		t.Fatal("public server still answers after Stop")
	}
	if _, err := remote.Get(publicRef(t, u, "a/b@"+d.String()), remote.WithTransport(http.DefaultTransport)); err == nil {
		t.Fatal("pull after Stop succeeded")
	}
}

func TestJWTTokens(t *testing.T) {
	t.Parallel()
	u := New(t, WithBearerAuth(), WithJWT(time.Minute))
	resp, err := http.Get(u.URL + "/token?service=registrytest&scope=repository:x/y:pull")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tr.Token, ".")
	if len(parts) != 3 || tr.ExpiresIn != 60 || u.Tokens() != 1 || u.Counts.Token.Load() != 1 {
		t.Fatalf("token %q expires_in %d", tr.Token, tr.ExpiresIn)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(claims), `"exp":`) {
		t.Fatalf("claims %s", claims)
	}
}
