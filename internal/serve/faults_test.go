package serve

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/registrytest"
)

// faultEnv is a mirror in front of one faulty docker.io upstream holding
// library/app:v1 (one 256 KiB layer). It returns the layer's path on the
// mirror and its digest.
func faultEnv(t *testing.T, mutate func(*config.Config), opts ...registrytest.Option) (*env, *faults, string, string) {
	t.Helper()
	f := &faults{}
	e := newEnv(t, func(c *config.Config) {
		c.Cache.TagTTL = 0 // always revalidate: a failing upstream means a stale serve
		c.Upstreams[0].Timeout = config.Duration(500 * time.Millisecond)
		if mutate != nil {
			mutate(c)
		}
	}, upSpec{name: "docker.io", opts: append(opts, f.option())})
	img := e.ups["docker.io"].PushRandomImage(t, "library/app", "v1", 1, 256<<10)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	return e, f, "/v2/docker.io/library/app/blobs/" + ld.String(), ld.String()
}

// blobFails asserts that a GET of a blob under a fault did not hand the
// client wrong bytes as good ones, and that nothing was cached.
func blobFails(t *testing.T, e *env, path, d string) {
	t.Helper()
	resp, body, err := e.fetch(path)
	if err == nil && resp.StatusCode == 200 && sha(body) == d {
		t.Fatal("the fault went unnoticed: the client got the whole blob")
	}
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("a complete 200 answer with wrong content (%d bytes)", len(body))
	}
	if err == nil && resp.StatusCode < 500 {
		t.Fatalf("status %d, want a 5xx or a broken transfer", resp.StatusCode)
	}
	waitNoFills(t, e)
	if storeHas(t, e, d) {
		t.Fatal("the store holds the blob after a failed download")
	}
}

// blobRecovers asserts that, with the fault gone, the blob comes back right.
func blobRecovers(t *testing.T, e *env, f *faults, path, d string) {
	t.Helper()
	f.clear()
	resp, body, err := e.fetch(path)
	if err != nil || resp.StatusCode != 200 || sha(body) != d {
		t.Fatalf("after the fault: %v %v (%d bytes)", resp, err, len(body))
	}
	waitNoFills(t, e)
	if !storeHas(t, e, d) {
		t.Fatal("blob not cached after a good download")
	}
}

func waitNoFills(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.app.Mirror.Fills().Active() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("downloads still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaultSlowFirstByte(t *testing.T) {
	t.Parallel()
	e, f, _, _ := faultEnv(t, nil)
	e.pull("library/app:v1", "") // cached, for the stale serve
	f.set(slowFirstByte, "", "/manifests/")
	resp := e.get("GET", "/v2/library/app/manifests/v1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Cache") != "stale" {
		t.Fatalf("cached tag, slow upstream: %d %s", resp.StatusCode, resp.Header.Get("X-Mirror-Cache"))
	}
	start := time.Now()
	resp = e.get("GET", "/v2/library/app/manifests/v2")
	if resp.StatusCode != 504 || ociError(t, resp) != "UNAVAILABLE" {
		t.Fatalf("uncached tag, slow upstream: %d", resp.StatusCode)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %v with a 500ms upstream timeout", time.Since(start))
	}
	// A blob, on a fresh mirror (the pull above cached this one).
	e2, f2, blob2, d2 := faultEnv(t, nil)
	f2.set(slowFirstByte, "GET", "/blobs/")
	if resp := e2.get("GET", blob2); resp.StatusCode != 504 {
		t.Fatalf("blob, slow upstream: %d", resp.StatusCode)
	}
	blobFails(t, e2, blob2, d2)
	blobRecovers(t, e2, f2, blob2, d2)
}

func TestFaultStallMidBody(t *testing.T) {
	t.Parallel()
	e, f, blob, d := faultEnv(t, func(c *config.Config) { c.Cache.BlobIdleTimeout = config.Duration(500 * time.Millisecond) })
	requireIdleTimeoutWired(e)
	f.set(stallMidBody, "GET", "/blobs/")
	start := time.Now()
	blobFails(t, e, blob, d)
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a stalled download took %v to fail with a 500ms idle timeout", time.Since(start))
	}
	blobRecovers(t, e, f, blob, d)
}

func TestFaultResetMidBlob(t *testing.T) {
	t.Parallel()
	e, f, blob, d := faultEnv(t, nil)
	f.setOnce(resetMidBody, "GET", "/blobs/")
	// The upstream serves ranges, so the download resumes where it broke.
	resp, body, err := e.fetch(blob)
	if err != nil || resp.StatusCode != 200 || sha(body) != d {
		t.Fatalf("after a reset mid-blob: %v %v", resp, err)
	}
	waitNoFills(t, e)
	if !storeHas(t, e, d) {
		t.Fatal("resumed blob not cached")
	}
	if n := e.ups["docker.io"].Counts.BlobGet.Load(); n != 2 {
		t.Fatalf("%d upstream GETs, want 2 (the broken one and the resume)", n)
	}
	// Every attempt broken: a clean failure.
	e2, f2, blob2, d2 := faultEnv(t, nil)
	f2.set(resetMidBody, "GET", "/blobs/")
	blobFails(t, e2, blob2, d2)
	blobRecovers(t, e2, f2, blob2, d2)
}

func TestFaultCorruptBody(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		kind fault
	}{{"flipped byte", flipByte}, {"short Content-Length", shortLength}, {"long Content-Length", longLength}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, f, blob, d := faultEnv(t, nil)
			f.set(c.kind, "GET", "/blobs/")
			blobFails(t, e, blob, d)
			blobRecovers(t, e, f, blob, d)
		})
	}
}

func TestFaultServerErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			e, f, _, _ := faultEnv(t, nil)
			e.pull("library/app:v1", "")
			f.setStatus("/manifests/", status, "")
			resp := e.get("GET", "/v2/library/app/manifests/v1")
			if resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Cache") != "stale" {
				t.Fatalf("cached tag: %d %s", resp.StatusCode, resp.Header.Get("X-Mirror-Cache"))
			}
			resp = e.get("GET", "/v2/docker.io/library/app/manifests/v2")
			code, msg := ociMessage(t, resp)
			if resp.StatusCode != 502 || code != "UNAVAILABLE" || !strings.Contains(msg, "docker.io") {
				t.Fatalf("uncached tag: %d %s %q", resp.StatusCode, code, msg)
			}
		})
	}
}

// TestFaultBreakerStopsHammering: after repeated failures the upstream is
// left alone for the cool-down, while cached tags keep being served.
func TestFaultBreakerStopsHammering(t *testing.T) {
	t.Parallel()
	e, f, _, _ := faultEnv(t, nil)
	up := e.ups["docker.io"]
	e.pull("library/app:v1", "")
	f.setStatus("/manifests/", 503, "")
	for range 5 {
		e.get("GET", "/v2/docker.io/library/app/manifests/nope")
	}
	sent := up.Counts.Total.Load()
	for range 5 {
		if resp := e.get("GET", "/v2/docker.io/library/app/manifests/nope"); resp.StatusCode < 500 {
			t.Fatalf("status %d while the upstream fails", resp.StatusCode)
		}
		if resp := e.get("GET", "/v2/library/app/manifests/v1"); resp.StatusCode != 200 {
			t.Fatalf("cached tag not served while the breaker is open: %d", resp.StatusCode)
		}
	}
	if n := up.Counts.Total.Load() - sent; n != 0 {
		t.Fatalf("%d requests reached a failing upstream after the breaker opened", n)
	}
}

func TestFaultTooManyRequests(t *testing.T) {
	t.Parallel()
	e, f, _, _ := faultEnv(t, nil)
	up := e.ups["docker.io"]
	e.pull("library/app:v1", "")
	f.setStatus("/manifests/", 429, "30")
	resp := e.get("GET", "/v2/docker.io/library/app/manifests/v2")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || ociError(t, resp) != "TOOMANYREQUESTS" {
		t.Fatalf("uncached tag: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	sent := up.Counts.Total.Load()
	resp = e.get("GET", "/v2/docker.io/library/app/manifests/v3")
	if ra := resp.Header.Get("Retry-After"); resp.StatusCode != 429 || ra == "" || ra > "30" {
		t.Fatalf("inside the window: %d Retry-After %q", resp.StatusCode, ra)
	}
	if resp := e.get("GET", "/v2/library/app/manifests/v1"); resp.StatusCode != 200 || resp.Header.Get("X-Mirror-Cache") != "stale" {
		t.Fatalf("cached tag inside the window: %d %s", resp.StatusCode, resp.Header.Get("X-Mirror-Cache"))
	}
	if n := up.Counts.Total.Load() - sent; n != 0 {
		t.Fatalf("%d requests sent inside the upstream's Retry-After window", n)
	}
}

func TestFaultTokenServerDown(t *testing.T) {
	t.Parallel()
	e, f, _, _ := faultEnv(t, nil, registrytest.WithBearerAuth())
	f.set(closeConn, "", "/token")
	resp := e.get("GET", "/v2/docker.io/library/app/manifests/v1")
	code, msg := ociMessage(t, resp)
	if resp.StatusCode < 500 || code != "UNAVAILABLE" || !strings.Contains(msg, "upstream docker.io") {
		t.Fatalf("token server down: %d %s %q", resp.StatusCode, code, msg)
	}
	f.clear()
	if resp := e.get("GET", "/v2/docker.io/library/app/manifests/v1"); resp.StatusCode != 200 {
		t.Fatalf("token server back: %d", resp.StatusCode)
	}
}

func TestFaultRedirectToForbiddenHost(t *testing.T) {
	t.Parallel()
	e, f, blob, d := faultEnv(t, nil)
	f.set(badRedirect, "GET", "/blobs/")
	resp, _, err := e.fetch(blob)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 {
		t.Fatalf("redirect to file:: %d", resp.StatusCode)
	}
	blobFails(t, e, blob, d)
	blobRecovers(t, e, f, blob, d)
}
