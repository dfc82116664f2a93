package serve

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/admin"
	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/prefetch"
)

// lifecycleOf builds the cache lifecycle over e's running mirror, the way
// Build does.
func lifecycleOf(t *testing.T, e *env) *lifecycle {
	t.Helper()
	lc, err := newLifecycle(context.Background(), e.cfg, e.app.Store, e.app.Meta, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	lc.attach(e.app.Mirror)
	return lc
}

// blobsOf returns the config and layer digests of img.
func blobsOf(t *testing.T, img v1.Image) []digest.Digest {
	t.Helper()
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	out := []digest.Digest{digest.Digest(cfg.String())}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		out = append(out, digest.Digest(d.String()))
	}
	return out
}

func (e *env) cached(d digest.Digest) bool {
	e.settle()
	_, err := e.app.Store.Stat(context.Background(), d)
	return err == nil
}

func TestEvictionLeastRecentlyUsedAndRefetch(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	imgs := map[string]v1.Image{}
	for _, name := range []string{"a", "b", "c"} {
		imgs[name] = up.PushRandomImage(t, "library/"+name, "latest", 1, 200<<10)
	}
	for _, name := range []string{"a", "b", "c", "a"} { // a is used again: b is the least recent
		e.pull(name+":latest", "")
	}
	lc := lifecycleOf(t, e)
	ctx := context.Background()
	u, err := lc.evictor.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	maxSize := u.Bytes - 100<<10
	ev := evict.New(evict.Options{Store: e.app.Store, Meta: e.app.Meta, MaxSize: maxSize, Forget: lc.forget, Flush: lc.flush})
	res, err := ev.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesAfter > int64(0.9*float64(maxSize)) || res.Evicted < 2 || res.TagsRemoved != 1 {
		t.Fatalf("sweep: %+v", res)
	}
	// Only b's objects went, its big layer among them (its config, read
	// last by the client, may be recent enough to stay).
	for _, v := range res.Victims {
		if v.Repo != "library/b" {
			t.Errorf("evicted %s of %s", v.Digest, v.Repo)
		}
	}
	for name, img := range imgs {
		md, _ := img.Digest()
		objs := append(blobsOf(t, img), digest.Digest(md.String()))
		for i, d := range objs {
			if name == "b" && i == 0 {
				continue // the config
			}
			if got, want := e.cached(d), name != "b"; got != want {
				t.Errorf("image %s: object %s cached = %v, want %v", name, d, got, want)
			}
		}
	}

	// The evicted image pulls again: every object is fetched anew (the
	// tag answer still in memory leads to a revalidation, then a GET of the
	// evicted manifest).
	up.Counts.Reset()
	md, _ := imgs["b"].Digest()
	if got := e.pull("b:latest", ""); got != md {
		t.Fatalf("pulled %s, want %s", got, md)
	}
	for _, d := range blobsOf(t, imgs["b"])[1:] {
		if n := up.Counts.BlobGets(d); n != 1 || !e.cached(d) {
			t.Errorf("evicted blob %s: %d upstream GETs, cached %v", d, n, e.cached(d))
		}
	}
	if up.Counts.ManifestGet.Load() == 0 {
		t.Error("the evicted manifest was not fetched again")
	}
}

func TestTagOfEvictedManifestRefetches(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Cache.TagTTL = 0 }, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/t", "1", 1, 1000)
	md, _ := img.Digest()
	e.pull("t:1", "")
	// The manifest goes, the tag stays (as if eviction had left tags).
	ctx := context.Background()
	d := digest.Digest(md.String())
	if err := e.app.Meta.DeleteObject(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Store.(interface {
		Delete(context.Context, digest.Digest) error
	}).Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	e.app.Mirror.Forget(d)
	e.restart() // nothing in memory either
	if got := e.pull("t:1", ""); got != md {
		t.Fatalf("pulled %s, want %s", got, md)
	}
	if !e.cached(d) {
		t.Error("the manifest was not cached again")
	}
}

func TestLostMetadataStillUsesCache(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/keep", "latest", 2, 50<<10)
	want, _ := img.Digest()
	e.pull("keep:latest", "")
	e.stop()
	if err := os.Remove(filepath.Join(e.cfg.Storage.Path, "meta.db")); err != nil {
		t.Fatal(err)
	}
	e.start()
	up.Counts.Reset()
	if got := e.pull("keep:latest", ""); got != want {
		t.Fatalf("pulled %s, want %s", got, want)
	}
	if n := up.Counts.BlobGet.Load(); n != 0 {
		t.Errorf("%d upstream blob GETs after losing the metadata, want 0", n)
	}
}

func TestDiskFullStillServes(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() }) // after the mirror's own cleanup
	e := newEnv(t, func(c *config.Config) { c.Storage.Path = dir }, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	big := up.PushRandomImage(t, "library/big", "latest", 1, 3<<20)
	small := up.PushRandomImage(t, "library/small", "latest", 1, 10<<10)
	want, _ := big.Digest()
	for i := range 2 { // the second pull finds the disk known to be full
		if got := e.pull("big:latest", ""); got != want {
			t.Fatalf("pull %d: %s, want %s", i, got, want)
		}
	}
	layer := blobsOf(t, big)[1]
	if e.cached(layer) {
		t.Error("a blob larger than the disk was cached")
	}
	if !e.app.Mirror.Fills().DiskFull() {
		t.Error("the full disk went unnoticed")
	}
	// Space is back (the big download's temporary file is gone): once the
	// flag is cleared (eviction does it, or a minute passes), blobs cache.
	e.app.Mirror.Fills().ClearDiskFull()
	e.pull("small:latest", "")
	if d := blobsOf(t, small)[1]; !e.cached(d) {
		t.Error("the small layer was not cached once there was room")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "ingest", "*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestPrefetchOnlyRequestedPlatform(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	idx := up.PushIndex(t, "library/multi", "latest", "linux/amd64", "linux/arm64")
	im, _ := idx.IndexManifest()
	byArch := map[string][]digest.Digest{}
	for _, desc := range im.Manifests {
		img, _ := idx.Image(desc.Digest)
		byArch[desc.Platform.Architecture] = blobsOf(t, img)
	}
	c := &prefetch.Client{Base: e.srv.URL}
	res, err := c.Image(context.Background(), "multi:latest", []string{"linux/arm64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for arch, blobs := range byArch {
		for _, d := range blobs {
			if n, want := up.Counts.BlobGets(d), map[bool]int{true: 1, false: 0}[arch == "arm64"]; n != want {
				t.Errorf("%s blob %s: %d upstream GETs, want %d", arch, d, n, want)
			}
		}
	}
	if res.Fetched != len(byArch["arm64"]) || res.Cached != 0 {
		t.Errorf("first prefetch: %+v", res)
	}
	// Again: everything is cached, nothing is downloaded.
	res, err = c.Image(context.Background(), "multi:latest", []string{"linux/arm64"}, nil)
	if err != nil || res.Fetched != 0 || res.Cached != len(byArch["arm64"]) {
		t.Errorf("second prefetch: %+v %v", res, err)
	}
}

func TestLifecycleStart(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Admin.Listen = "127.0.0.1:0"
		c.Storage.MaxSize = 1 << 30
		c.Prefetch = []config.Prefetch{{Image: "warm:latest", Interval: config.Duration(time.Hour)}}
	}, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/warm", "latest", 1, 1000)
	lc := lifecycleOf(t, e)
	lc.rand = func() float64 { return 0 } // the first scheduled pull at once
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lc.hits = func() (int64, int64) { return 1, 2 }
	stop, err := lc.start(ctx, e.app.Handler)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The scheduled prefetch warms the image through the mirror's handler.
	layer := blobsOf(t, img)[1]
	deadline := time.Now().Add(10 * time.Second)
	for !e.cached(layer) {
		if time.Now().After(deadline) {
			t.Fatal("the scheduled prefetch did not warm the image")
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := admin.NewClient(lc.addr(), nil)
	// The object's record is written just after its file lands in the store.
	s, err := client.Stats(ctx)
	for err == nil && s.Objects != 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s, err = client.Stats(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !s.Running || s.Objects != 3 || s.MaxSize != 1<<30 || s.HitRatio == nil || *s.HitRatio != 0.5 {
		t.Errorf("stats %+v", s)
	}
	resp, err := http.Get("http://" + lc.addr() + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pprof: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	if _, err := client.Stats(context.Background()); err == nil {
		t.Error("admin API still answers after stop")
	}
}

func TestStartupCheckRemovesDamagedObjects(t *testing.T) {
	e := newEnv(t, nil, upSpec{name: "docker.io"})
	up := e.ups["docker.io"]
	img := up.PushRandomImage(t, "library/dmg", "latest", 1, 10<<10)
	e.pull("dmg:latest", "")
	layer := blobsOf(t, img)[1]
	e.stop()
	path := filepath.Join(e.cfg.Storage.Path, "blobs", "sha256", layer.Encoded()[:2], layer.Encoded())
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	e.start()
	lifecycleOf(t, e) // what Build runs at start-up
	if e.cached(layer) {
		t.Fatal("a truncated object survived the start-up check")
	}
	up.Counts.Reset()
	e.pull("dmg:latest", "")
	if up.Counts.BlobGets(layer) != 1 {
		t.Error("the damaged layer was not fetched again")
	}
}
