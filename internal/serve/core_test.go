package serve

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestPullThroughCachesEverything(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io", opts: []registrytest.Option{registrytest.WithBearerAuth()}})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/nginx", "latest", 3, 64<<10)
	want, _ := img.Digest()

	got := e.pull("library/nginx:latest", "")
	if got != want {
		t.Fatalf("digest through mirror %s, upstream %s", got, want)
	}
	if up.Counts.BlobGet.Load() == 0 {
		t.Fatal("first pull fetched no blob upstream")
	}

	// Second pull: every answer from the cache; no blob GET, no token.
	up.Counts.Reset()
	if got := e.pull("library/nginx:latest", ""); got != want {
		t.Fatal("digest changed")
	}
	if n := up.Counts.BlobGet.Load(); n != 0 {
		t.Errorf("second pull made %d upstream blob GETs, want 0", n)
	}
	if n := up.Counts.Token.Load(); n != 0 {
		t.Errorf("second pull made %d token requests, want 0", n)
	}
	if n := up.Counts.Total.Load(); n != 0 {
		t.Errorf("second pull (within tagTTL) made %d upstream requests, want 0: %v", n, up.Counts)
	}
}

func TestDigestHitNeverTouchesUpstream(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/busybox", "1", 1, 1024)
	d, _ := img.Digest()
	e.pull("library/busybox@"+d.String(), "")
	up.Stop()
	if got := e.pull("library/busybox@"+d.String(), ""); got != d {
		t.Fatal("wrong digest from cache")
	}
}

func TestOnlyRequestedPlatformIsFetched(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	idx := up.PushIndex(t, "library/multi", "latest", "linux/amd64", "linux/arm64")
	im, _ := idx.IndexManifest()
	var armBlobs []string
	for _, desc := range im.Manifests {
		if desc.Platform.Architecture != "arm64" {
			continue
		}
		img, _ := idx.Image(desc.Digest)
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			armBlobs = append(armBlobs, d.String())
		}
		cfg, _ := img.ConfigName()
		armBlobs = append(armBlobs, cfg.String())
	}
	e.pull("library/multi:latest", "linux/amd64")
	for _, b := range armBlobs {
		if n := up.Counts.BlobGets(digestOf(t, b)); n != 0 {
			t.Errorf("arm64 blob %s fetched %d times by an amd64 pull", b, n)
		}
	}
}

func TestStaleTagWhenUpstreamDown(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Cache.TagTTL = 0 }, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/redis", "7", 1, 1024)
	want, _ := img.Digest()
	e.pull("library/redis:7", "")
	up.Stop()
	resp := e.get("GET", "/v2/library/redis/manifests/7")
	if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Cache") != "stale" {
		t.Fatalf("status %d cache %q, want a stale 200", resp.StatusCode, resp.Header.Get("X-Mirror-Cache"))
	}
	if resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatal("stale answer has the wrong digest")
	}
}

func TestTagRevalidationUsesHEADAndRefetchesOnlyOnChange(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Cache.TagTTL = 0 }, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	up.PushRandomImage(t, "library/app", "v1", 1, 1024)
	e.pull("library/app:v1", "")

	up.Counts.Reset()
	resp := e.get("GET", "/v2/library/app/manifests/v1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Cache") != "revalidated" {
		t.Fatalf("status %d cache %q", resp.StatusCode, resp.Header.Get("X-Mirror-Cache"))
	}
	if up.Counts.ManifestHead.Load() != 1 || up.Counts.ManifestGet.Load() != 0 {
		t.Fatalf("revalidation of an unchanged tag: %v; want exactly one HEAD", up.Counts)
	}

	// The tag moves upstream: the mirror follows.
	img2 := up.PushRandomImage(t, "library/app", "v1", 1, 1024)
	want, _ := img2.Digest()
	resp = e.get("GET", "/v2/library/app/manifests/v1")
	if resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("moved tag not followed: %s", resp.Header.Get("Docker-Content-Digest"))
	}
}

func TestTagNotFoundUpstreamIsFinal(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Cache.TagTTL = 0 }, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	up.PushRandomImage(t, "library/gone", "v1", 1, 1024)
	e.pull("library/gone:v1", "")
	deleteTag(t, up, "library/gone", "v1")
	resp := e.get("GET", "/v2/library/gone/manifests/v1")
	if resp.StatusCode != 404 || ociError(t, resp) != "MANIFEST_UNKNOWN" {
		t.Fatalf("status %d; a tag the upstream deleted must be 404 MANIFEST_UNKNOWN", resp.StatusCode)
	}
}

func TestBlobRangeAndHead(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/r", "1", 1, 100000)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	rc, _ := layers[0].Compressed()
	full, _ := io.ReadAll(rc)
	path := "/v2/library/r/blobs/" + ld.String()

	for _, round := range []string{"cold", "cached"} {
		resp := e.get("GET", path, "Range", "bytes=10-19")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(full[10:20]) {
			t.Fatalf("%s range: status %d, %d bytes", round, resp.StatusCode, len(body))
		}
		if cr := resp.Header.Get("Content-Range"); cr != "bytes 10-19/"+itoa(len(full)) {
			t.Fatalf("%s Content-Range %q", round, cr)
		}
		// Let the cold download finish before the cached round.
		e.get("GET", path)
		time.Sleep(50 * time.Millisecond)
	}
	resp := e.get("HEAD", path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != itoa(len(full)) || resp.Header.Get("Docker-Content-Digest") != ld.String() {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestBaseAndReadOnly(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	resp := e.get("GET", "/v2/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "{}" || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("/v2/: %d %q", resp.StatusCode, body)
	}
	for _, path := range []string{"/nope", "/v3/x", "/static/../x"} {
		if resp := e.get("GET", path); resp.StatusCode != 404 || ociError(t, resp) != "NAME_UNKNOWN" {
			t.Errorf("GET %s: %d, want a 404 OCI error", path, resp.StatusCode)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v2/library/x/manifests/latest"},
		{"DELETE", "/v2/library/x/manifests/latest"},
		{"POST", "/v2/library/x/blobs/uploads/"},
		{"PATCH", "/v2/library/x/blobs/uploads/abc"},
		{"DELETE", "/v2/library/x/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	} {
		resp := e.get(c.method, c.path)
		if resp.StatusCode != 405 || ociError(t, resp) != "UNSUPPORTED" {
			t.Errorf("%s %s: %d", c.method, c.path, resp.StatusCode)
		}
	}
}

func TestBadInputGetsOCIErrors(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v2/library/x/manifests/sha256:abc", 400, "DIGEST_INVALID"},
		{"/v2/library/x/blobs/md5:0123", 400, "DIGEST_INVALID"},
		{"/v2/library/x/blobs/latest", 400, "DIGEST_INVALID"},
		{"/v2/Library/x/manifests/latest", 400, "NAME_INVALID"},
		{"/v2/a%2Fb/manifests/latest", 400, "NAME_INVALID"},
		// Implicit names found on no upstream: the name is unknown.
		{"/v2/library/nope/manifests/latest", 404, "NAME_UNKNOWN"},
		// Explicit names: the upstream's not-found, by kind.
		{"/v2/docker.io/library/nope/manifests/latest", 404, "MANIFEST_UNKNOWN"},
		{"/v2/docker.io/library/nope/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 404, "BLOB_UNKNOWN"},
	} {
		resp := e.get("GET", c.path)
		if resp.StatusCode != c.status || ociError(t, resp) != c.code {
			t.Errorf("GET %s: status %d, want %d %s", c.path, resp.StatusCode, c.status, c.code)
		}
	}
	if up.Counts.Total.Load() > 3 {
		t.Errorf("invalid requests reached the upstream: %v", up.Counts)
	}
}

func TestTagsListPaginationAndFallback(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	for _, tag := range []string{"a", "b", "c"} {
		up.PushRandomImage(t, "library/t", tag, 1, 100)
	}
	resp := e.get("GET", "/v2/library/t/tags/list?n=2")
	var body struct {
		Name string
		Tags []string
	}
	_ = decodeJSON(resp, &body)
	// (The in-process fixture sends no Link header; the conformance suite
	// checks Link against a real registry.)
	if len(body.Tags) != 2 || body.Name != "library/t" {
		t.Fatalf("page 1: %+v", body)
	}
	e.pull("library/t:a", "")
	e.pull("library/t:c", "")
	up.Stop()
	resp = e.get("GET", "/v2/library/t/tags/list")
	_ = decodeJSON(resp, &body)
	if resp.StatusCode != 200 || len(body.Tags) != 2 || resp.Header.Get("X-Mirror-Cache") != "stale" {
		t.Fatalf("fallback: %d %+v", resp.StatusCode, body)
	}
}

func TestReferrersEmptyIndexWhenUpstreamHasNone(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/ref", "1", 1, 100)
	d, _ := img.Digest()
	resp := e.get("GET", "/v2/library/ref/referrers/"+d.String())
	var idx struct {
		SchemaVersion int
		Manifests     []any
	}
	if err := decodeJSON(resp, &idx); err != nil || resp.StatusCode != 200 || idx.SchemaVersion != 2 {
		t.Fatalf("referrers: %d %v", resp.StatusCode, err)
	}
	if resp.Header.Get("X-Mirror-Upstream") != "docker.io" || resp.Header.Get("X-Mirror-Cache") != "pass" {
		t.Errorf("referrers answer lacks its origin headers: %v", resp.Header)
	}
}

func TestRestartKeepsCache(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/keep", "1", 2, 4096)
	want, _ := img.Digest()
	e.pull("library/keep:1", "")
	e.restart()
	up.Stop()
	if got := e.pull("library/keep:1", ""); got != want {
		t.Fatal("digest differs after restart")
	}
}
