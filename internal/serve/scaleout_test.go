package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// Scale-out: several nodes sharing an S3 bucket (SeaweedFS) and Redis, each
// on its own listener, in front of one upstream with counters. These tests
// skip when the weed or redis-server binary is missing.

func TestScaleOutSharedCache(t *testing.T) {
	c := newCluster(t)
	a, b := c.addNode(""), c.addNode("")
	img := c.up.PushRandomImage(t, "library/nginx", "latest", 3, 64<<10)
	want, _ := img.Digest()
	if got, err := pullImage(a.host, "library/nginx:latest"); err != nil || got != want {
		t.Fatalf("pull through node A: %v, %v", got, err)
	}
	c.up.Counts.Reset()
	// Node B has never seen the image: tag, resolution and objects come from
	// Redis and S3, written by node A.
	if got, err := pullImage(b.host, "library/nginx:latest"); err != nil || got != want {
		t.Fatalf("pull through node B: %v, %v", got, err)
	}
	if n := c.up.Counts.Total.Load(); n != 0 {
		t.Errorf("node B made %d upstream requests within tagTTL, want 0: %v", n, c.up.Counts)
	}
}

func TestScaleOutConcurrentColdPulls(t *testing.T) {
	c := newCluster(t, registrytest.WithHandlerWrap(slowBlobs(64<<10, 5*time.Millisecond)))
	nodes := []*node{c.addNode(""), c.addNode("")}
	img := c.up.PushRandomImage(t, "library/app", "1", 3, 1<<20)
	want, _ := img.Digest()
	const clients = 16
	var wg sync.WaitGroup
	errs := make([]error, clients)
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			got, err := pullImage(nodes[i%2].host, "library/app:1")
			if err == nil && got != want {
				err = fmt.Errorf("digest %s, want %s", got, want)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	t.Logf("%d concurrent cold pulls over 2 nodes: %s", clients, time.Since(start).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d (node %d): %v", i, i%2, err)
		}
	}
	for _, h := range imageBlobs(t, img) {
		if n := c.up.Counts.BlobGets(digest.Digest(h.String())); n != 1 {
			t.Errorf("blob %s: %d upstream GETs across both nodes, want 1", h, n)
		}
	}
}

func TestScaleOutPeerDiesMidFill(t *testing.T) {
	// 4 MiB at 32 KiB per 20 ms: about 2.6 s upstream.
	c := newCluster(t, registrytest.WithHandlerWrap(slowBlobs(32<<10, 20*time.Millisecond)))
	proxy := newTCPProxy(t, c.up.Host) // node A's path to the upstream dies with it
	a, b := c.addNode(proxy.url()), c.addNode("")
	img := c.up.PushRandomImage(t, "library/big", "1", 1, 4<<20)
	d := digest.Digest(imageBlobs(t, img)[1].String())
	layers, _ := img.Layers()
	layerSize, _ := layers[0].Size()
	path := "/v2/library/big/blobs/" + d.String()

	ca := startGet(t, "http://"+a.host+path)
	ca.waitFor(t, 64<<10)
	cb := startGet(t, "http://"+b.host+path) // B's download streams from A
	cb.waitFor(t, 64<<10)
	if n := c.up.Counts.BlobGets(d); n != 1 {
		t.Fatalf("before the crash: %d upstream GETs of the blob, want 1 (node B should stream from node A)", n)
	}
	proxy.kill()
	a.kill()

	res := cb.wait(t, 30*time.Second)
	if res.err != nil {
		t.Fatalf("node B's client after node A died: %v", res.err)
	}
	if res.digest != d || res.n != layerSize {
		t.Fatalf("node B's client got %d bytes hashing to %s, want %s", res.n, res.digest, d)
	}
	if ra := ca.wait(t, 30*time.Second); ra.err == nil && ra.digest == d {
		t.Log("node A's own client completed before the crash")
	}
	// B resumed from the upstream with a range; the object is cached once,
	// by node B.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if size, err := b.app.Store.Stat(context.Background(), d); err == nil && size == layerSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the blob was not committed to the shared store")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := b.app.Meta.GetObject(context.Background(), d); err != nil {
		t.Errorf("no object record for the blob: %v", err)
	}
	t.Logf("upstream GETs of the blob: %d (node A's first, node B's ranged resume)", c.up.Counts.BlobGets(d))
	before := c.up.Counts.BlobGets(d)
	if res := getAll(t, "http://"+b.host+path); res.err != nil || res.digest != d {
		t.Fatalf("cached read through node B: %+v", res)
	}
	if n := c.up.Counts.BlobGets(d); n != before {
		t.Errorf("reading the cached blob made %d more upstream GETs", n-before)
	}
}

func TestScaleOutRedisDown(t *testing.T) {
	c := newCluster(t)
	a, b := c.addNode(""), c.addNode("")
	old := c.up.PushRandomImage(t, "library/old", "1", 2, 128<<10)
	oldDigest, _ := old.Digest()
	if _, err := pullImage(a.host, "library/old:1"); err != nil {
		t.Fatal(err)
	}
	c.redis.Stop()
	c.up.Counts.Reset()

	// Cached content keeps being served by both nodes: by digest without the
	// upstream, by tag with a revalidation (tags were in Redis).
	start := time.Now()
	for _, n := range []*node{a, b} {
		if got, err := pullImage(n.host, "library/old@"+oldDigest.String()); err != nil || got != oldDigest {
			t.Fatalf("pull by digest via %s with Redis down: %v, %v", n.host, got, err)
		}
		if got, err := pullImage(n.host, "library/old:1"); err != nil || got != oldDigest {
			t.Fatalf("pull by tag via %s with Redis down: %v, %v", n.host, got, err)
		}
	}
	t.Logf("4 pulls of cached content with Redis down: %s", time.Since(start).Round(time.Millisecond))
	for _, h := range imageBlobs(t, old) {
		if n := c.up.Counts.BlobGets(digest.Digest(h.String())); n != 0 {
			t.Errorf("cached blob %s fetched %d times from the upstream with Redis down", h, n)
		}
	}

	// New content: each node fetches it on its own, concurrently.
	fresh := c.up.PushRandomImage(t, "library/new", "1", 2, 128<<10)
	want, _ := fresh.Digest()
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Go(func() {
			if got, err := pullImage(n.host, "library/new:1"); err != nil || got != want {
				t.Errorf("cold pull via %s with Redis down: %v, %v", n.host, got, err)
			}
		})
	}
	wg.Wait()
	settle(t, a.app)
	settle(t, b.app)
	for _, h := range imageBlobs(t, fresh) {
		if _, err := a.app.Store.Stat(context.Background(), digest.Digest(h.String())); err != nil {
			t.Errorf("new blob %s not in the shared store: %v", h, err)
		}
	}

	// Redis back: coordination resumes (pull through B uses the shared tag
	// cache again once it is refilled).
	if err := c.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := pullImage(b.host, "library/new:1"); err != nil {
		t.Fatalf("pull after Redis came back: %v", err)
	}
}

// getResult is what a raw blob GET received.
type getResult struct {
	n      int64
	digest digest.Digest
	err    error
}

// streamingGet is a blob GET read in the background.
type streamingGet struct {
	read atomic.Int64
	done chan getResult
}

// startGet GETs url and reads the body in the background.
func startGet(t *testing.T, url string) *streamingGet {
	g := &streamingGet{done: make(chan getResult, 1)}
	go func() { g.done <- readBody(url, &g.read) }()
	return g
}

// waitFor waits until n bytes arrived.
func (g *streamingGet) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for g.read.Load() < n {
		select {
		case res := <-g.done:
			g.done <- res
			if g.read.Load() < n {
				t.Fatalf("GET ended after %d bytes: %v", g.read.Load(), res.err)
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes after 20s", g.read.Load())
		}
	}
}

func (g *streamingGet) wait(t *testing.T, d time.Duration) getResult {
	t.Helper()
	select {
	case res := <-g.done:
		return res
	case <-time.After(d):
		t.Fatalf("GET not done after %s (%d bytes)", d, g.read.Load())
		return getResult{}
	}
}

// getAll GETs url and reads all of it.
func getAll(t *testing.T, url string) getResult {
	var n atomic.Int64
	return readBody(url, &n)
}

func readBody(url string, read *atomic.Int64) getResult {
	resp, err := http.Get(url)
	if err != nil {
		return getResult{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return getResult{err: fmt.Errorf("status %s", resp.Status)}
	}
	h := sha256.New()
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := resp.Body.Read(buf)
		h.Write(buf[:n])
		total += int64(n)
		read.Add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			return getResult{n: total, err: err}
		}
	}
	return getResult{n: total, digest: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))}
}

// imageBytes returns the total size of img's config and layers.
func imageBytes(t testing.TB, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total
}
