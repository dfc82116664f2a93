package serve

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/registrytest"
)

// fourUpstreams stands for docker.io (token auth), gcr.io, registry.k8s.io
// (alias k8s.gcr.io) and quay.io, in that search order.
func fourUpstreams(opts ...registrytest.Option) []upSpec {
	return []upSpec{
		{name: "docker.io", aliases: []string{"index.docker.io", "registry-1.docker.io"}, opts: append([]registrytest.Option{registrytest.WithBearerAuth()}, opts...)},
		{name: "gcr.io"},
		{name: "registry.k8s.io", aliases: []string{"k8s.gcr.io"}},
		{name: "quay.io"},
	}
}

func TestRoutingRules(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Routes = []config.Route{{Match: "distroless/**", Upstream: "gcr.io"}}
	}, fourUpstreams()...)
	hub, gcr, k8s, quay := e.ups["docker.io"], e.ups["gcr.io"], e.ups["registry.k8s.io"], e.ups["quay.io"]
	hubNginx, _ := hub.PushRandomImage(t, "library/nginx", "latest", 1, 1024).Digest()
	gcrStatic, _ := gcr.PushRandomImage(t, "distroless/static", "latest", 1, 1024).Digest()
	k8sPause, _ := k8s.PushRandomImage(t, "pause", "3.9", 1, 1024).Digest()
	hubProm, _ := hub.PushRandomImage(t, "prometheus/prometheus", "v2", 1, 1024).Digest()
	quayProm, _ := quay.PushRandomImage(t, "prometheus/prometheus", "v2", 1, 1024).Digest()
	// Squatting: a distroless/static on Docker Hub must not win over the rule.
	hub.PushRandomImage(t, "distroless/static", "latest", 1, 1024)

	tests := []struct {
		path     string
		digest   string
		upstream string
	}{
		{"/v2/library/nginx/manifests/latest", hubNginx.String(), "docker.io"},                      // Docker registry-mirrors
		{"/v2/nginx/manifests/latest", hubNginx.String(), "docker.io"},                              // implicit, library/ added
		{"/v2/docker.io/nginx/manifests/latest", hubNginx.String(), "docker.io"},                    // explicit, library/ added
		{"/v2/index.docker.io/library/nginx/manifests/latest", hubNginx.String(), "docker.io"},      // alias
		{"/v2/gcr.io/distroless/static/manifests/latest", gcrStatic.String(), "gcr.io"},             // explicit
		{"/v2/distroless/static/manifests/latest", gcrStatic.String(), "gcr.io"},                    // operator rule beats search
		{"/v2/pause/manifests/3.9", k8sPause.String(), "registry.k8s.io"},                           // implicit search, 3rd upstream
		{"/v2/k8s.gcr.io/pause/manifests/3.9", k8sPause.String(), "registry.k8s.io"},                // alias
		{"/v2/pause/manifests/3.9?ns=registry.k8s.io", k8sPause.String(), "registry.k8s.io"},        // containerd
		{"/v2/prometheus/prometheus/manifests/v2", hubProm.String(), "docker.io"},                   // same name twice: first wins
		{"/v2/quay.io/prometheus/prometheus/manifests/v2", quayProm.String(), "quay.io"},            // explicit
		{"/v2/prometheus/prometheus/manifests/v2?ns=quay.io", quayProm.String(), "quay.io"},         // containerd ns
		{"/v2/quay.io/prometheus/prometheus/manifests/v2?ns=quay.io", quayProm.String(), "quay.io"}, // ns + prefix
		{"/v2/library/nginx/manifests/latest?ns=docker.io", hubNginx.String(), "docker.io"},
	}
	for _, tt := range tests {
		resp := e.get("GET", tt.path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", tt.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Docker-Content-Digest"); got != tt.digest {
			t.Errorf("%s: digest %s, want %s", tt.path, got, tt.digest)
		}
		if got := resp.Header.Get("X-Mirror-Upstream"); got != tt.upstream {
			t.Errorf("%s: X-Mirror-Upstream %q, want %q", tt.path, got, tt.upstream)
		}
	}
}

func TestUnconfiguredHostsAreNeverDialled(t *testing.T) {
	// A recorder on a loopback port: it must see no connection at all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()

	e := newEnv(t, nil, fourUpstreams()...)
	for _, path := range []string{
		"/v2/x/manifests/latest?ns=" + addr,
		"/v2/" + addr + "/x/manifests/latest",
		"/v2/evil.example/x/manifests/latest",
		"/v2/localhost/x/manifests/latest",
		"/v2/evil.example/x/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"/v2/x/tags/list?ns=evil.example",
	} {
		resp := e.get("GET", path)
		if resp.StatusCode != 404 || ociError(t, resp) != "NAME_UNKNOWN" {
			t.Errorf("%s: status %d, want 404 NAME_UNKNOWN", path, resp.StatusCode)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the mirror connected to an unconfigured host %d times", n)
	}
}

// failing makes an upstream answer 503 to everything while on.
type failing struct{ on atomic.Bool }

func (f *failing) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.on.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestImplicitSearchNeverFallsThroughOnFailure(t *testing.T) {
	var hubDown failing
	e := newEnv(t, nil, fourUpstreams(registrytest.WithHandlerWrap(hubDown.wrap))...)
	k8s := e.ups["registry.k8s.io"]
	k8s.PushRandomImage(t, "coredns", "1.11", 1, 1024)
	k8s.PushRandomImage(t, "etcd", "3.5", 1, 1024)

	// Resolved while Docker Hub was healthy (it said "not found").
	if resp := e.get("GET", "/v2/etcd/manifests/3.5"); resp.StatusCode != 200 {
		t.Fatalf("etcd: %d", resp.StatusCode)
	}

	hubDown.on.Store(true)
	// A never-resolved name must not fall through to registry.k8s.io.
	resp := e.get("GET", "/v2/coredns/manifests/1.11")
	if resp.StatusCode < 500 || ociError(t, resp) != "UNAVAILABLE" {
		t.Fatalf("coredns with docker.io failing: status %d, want 5xx", resp.StatusCode)
	}
	// A name resolved earlier still works, from its remembered resolution.
	resp = e.get("GET", "/v2/etcd/manifests/3.5")
	if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Upstream") != "registry.k8s.io" {
		t.Fatalf("etcd after docker.io failed: %d %s", resp.StatusCode, resp.Header.Get("X-Mirror-Upstream"))
	}
	// And the resolution survives a restart.
	e.restart()
	if resp := e.get("GET", "/v2/etcd/manifests/3.5?x=1"); resp.StatusCode != 200 {
		t.Fatalf("etcd after restart: %d", resp.StatusCode)
	}
	if n := k8s.Counts.ManifestGet.Load(); n == 0 {
		t.Fatal("counter sanity")
	}
}

func TestResolutionIsRememberedAndNegativeCached(t *testing.T) {
	e := newEnv(t, nil, fourUpstreams()...)
	hub, k8s := e.ups["docker.io"], e.ups["registry.k8s.io"]
	k8s.PushRandomImage(t, "pause", "3.9", 1, 1024)
	k8s.PushRandomImage(t, "pause", "3.10", 1, 1024)
	e.get("GET", "/v2/pause/manifests/3.9")

	// Another tag of a resolved name: no search, so Docker Hub sees nothing.
	hub.Counts.Reset()
	if resp := e.get("GET", "/v2/pause/manifests/3.10"); resp.StatusCode != 200 {
		t.Fatalf("3.10: %d", resp.StatusCode)
	}
	if n := hub.Counts.Total.Load(); n != 0 {
		t.Errorf("resolved name searched again: docker.io got %d requests", n)
	}

	// A typo fans out once, then the negative cache answers.
	e.get("GET", "/v2/paus/manifests/3.9")
	hub.Counts.Reset()
	resp := e.get("GET", "/v2/paus/manifests/3.9")
	if resp.StatusCode != 404 || hub.Counts.Total.Load() != 0 {
		t.Errorf("negative cache: status %d, docker.io got %d requests", resp.StatusCode, hub.Counts.Total.Load())
	}
}

func TestBlobOfNeverResolvedNameResolvesByHEAD(t *testing.T) {
	e := newEnv(t, nil, fourUpstreams()...)
	quay := e.ups["quay.io"]
	img := quay.PushRandomImage(t, "coreos/etcd", "v3", 1, 4096)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	resp := e.get("GET", "/v2/coreos/etcd/blobs/"+d.String())
	if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Upstream") != "quay.io" {
		t.Fatalf("blob: %d from %q", resp.StatusCode, resp.Header.Get("X-Mirror-Upstream"))
	}
	if quay.Counts.BlobHead.Load() == 0 {
		t.Error("expected the search to HEAD the blob")
	}
}

func TestResolveAPI(t *testing.T) {
	e := newEnv(t, nil, fourUpstreams()...)
	e.ups["registry.k8s.io"].PushRandomImage(t, "pause", "3.9", 1, 1024)
	for _, c := range []struct{ image, upstream, repo, how string }{
		{"pause:3.9", "registry.k8s.io", "pause", "implicit"},
		{"pause:3.9", "registry.k8s.io", "pause", "cached resolution"},
		{"gcr.io/distroless/static:latest", "gcr.io", "distroless/static", "prefix"},
		{"k8s.gcr.io/pause:3.9", "registry.k8s.io", "pause", "prefix"},
		{"docker.io/nginx", "docker.io", "library/nginx", "prefix"},
	} {
		resp := e.get("GET", "/api/resolve?image="+c.image)
		var ans ResolveAnswer
		if err := decodeJSON(resp, &ans); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", c.image, resp.StatusCode, err)
		}
		if ans.Upstream != c.upstream || ans.Repo != c.repo || ans.How != c.how || !strings.HasPrefix(ans.Pull, "docker pull "+e.host+"/") {
			t.Errorf("%s: %+v", c.image, ans)
		}
	}
	resp := e.get("GET", "/api/resolve?image=Bad//Name")
	if resp.StatusCode != 400 || ociError(t, resp) != "NAME_INVALID" {
		t.Errorf("bad name: %d", resp.StatusCode)
	}
}

func TestConcurrentColdPullsShareOneUpstreamGET(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io", opts: []registrytest.Option{registrytest.WithBearerAuth()}})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/big", "1", 1, 8<<20)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	e.get("GET", "/v2/library/big/manifests/1") // resolve the name first
	up.Counts.Reset()

	const clients = 32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := remoteImage(e, "library/big:1")
			if err == nil {
				err = readLayers(img)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := up.Counts.BlobGets(digestOf(t, d.String())); n != 1 {
		t.Fatalf("%d clients caused %d upstream GETs of the layer, want 1", clients, n)
	}
	if n := up.Counts.Token.Load(); n > 1 {
		t.Errorf("%d token requests, want at most 1", n)
	}
}
