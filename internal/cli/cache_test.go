package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/regmirror/regmirror/internal/admin"
	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/prefetch"
	"github.com/regmirror/regmirror/internal/registrytest"
	"github.com/regmirror/regmirror/internal/serve"
)

// testMirror is a mirror in process in front of a fake docker.io.
type testMirror struct {
	t   *testing.T
	cfg *config.Config
	up  *registrytest.Upstream
	app *serve.App
	srv *httptest.Server
}

func newTestMirror(t *testing.T) *testMirror {
	t.Helper()
	m := &testMirror{t: t, up: registrytest.New(t), cfg: config.Default()}
	m.cfg.Storage.Path = t.TempDir()
	m.cfg.Admin.Listen = "off"
	u := config.Upstream{Name: "docker.io", Endpoint: m.up.URL}
	u.ApplyDefaults()
	m.cfg.Upstreams = []config.Upstream{u}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *testMirror) start() {
	m.t.Helper()
	app, err := serve.Build(context.Background(), m.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		m.t.Fatal(err)
	}
	m.app, m.srv = app, httptest.NewServer(app.Handler)
}

func (m *testMirror) stop() {
	if m.srv == nil {
		return
	}
	m.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = m.app.Close(ctx)
	m.srv = nil
}

// pull prefetches image through the mirror.
func (m *testMirror) pull(image string) prefetch.Result {
	m.t.Helper()
	res, err := (&prefetch.Client{Base: m.srv.URL}).Image(context.Background(), image, nil, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	// The client has its last byte once the digest is verified; wait for
	// the commit that follows.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.app.Mirror.Fills().Drain(ctx); err != nil {
		m.t.Fatal(err)
	}
	return res
}

func (m *testMirror) objectPath(d digest.Digest) string {
	return filepath.Join(m.cfg.Storage.Path, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
}

// run runs regmirror with args and returns its output.
func run(args ...string) (stdout, stderr string, err error) {
	root := &cobra.Command{Use: "regmirror", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newCache(), newPrefetch())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func layerOf(t *testing.T, img v1.Image) digest.Digest {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := layers[0].Digest()
	return digest.Digest(d.String())
}

func TestCacheVerifyRepairThenRefetch(t *testing.T) {
	m := newTestMirror(t)
	img := m.up.PushRandomImage(t, "library/app", "latest", 1, 100<<10)
	m.pull("app:latest")
	m.stop()

	layer := layerOf(t, img)
	b, err := os.ReadFile(m.objectPath(layer))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(m.objectPath(layer), b, 0o644); err != nil {
		t.Fatal(err)
	}
	data := m.cfg.Storage.Path
	out, _, err := run("cache", "verify", "--data", data)
	if !errors.Is(err, errCorrupt) || !strings.Contains(out, layer.String()) || !strings.Contains(out, "1 corrupt") {
		t.Fatalf("verify: err %v\n%s", err, out)
	}
	out, _, err = run("cache", "verify", "--data", data, "--repair")
	if err != nil || !strings.Contains(out, "Removed 1") {
		t.Fatalf("verify --repair: err %v\n%s", err, out)
	}
	if out, _, err = run("cache", "verify", "--data", data); err != nil || !strings.Contains(out, "Every object matches") {
		t.Fatalf("verify after repair: err %v\n%s", err, out)
	}

	m.start()
	m.up.Counts.Reset()
	m.pull("app:latest") // verifies every blob it reads
	if n := m.up.Counts.BlobGets(layer); n != 1 {
		t.Errorf("repaired layer fetched %d times, want 1", n)
	}
	if b, err := os.ReadFile(m.objectPath(layer)); err != nil || digest.FromBytes(b) != layer {
		t.Errorf("the refetched copy does not verify (err %v)", err)
	}
}

func TestCacheCommandsOnStoppedMirror(t *testing.T) {
	m := newTestMirror(t)
	m.up.PushRandomImage(t, "library/app", "latest", 1, 10<<10)
	m.pull("app:latest")
	m.stop()
	data := m.cfg.Storage.Path

	out, _, err := run("cache", "ls", "--data", data)
	if err != nil || !strings.Contains(out, "docker.io/library/app") || !strings.Contains(out, ":latest") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	if out, _, _ := run("cache", "ls", "--data", data, "--upstream", "quay.io"); !strings.Contains(out, "empty") {
		t.Errorf("ls --upstream quay.io:\n%s", out)
	}
	out, _, err = run("cache", "stats", "--data", data, "--json")
	var s admin.Stats
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.Objects != 3 || s.Running || s.Tags != 1 {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	if out, _, err = run("cache", "stats", "--data", data); err != nil || !strings.Contains(out, "mirror stopped") || !strings.Contains(out, "no limit") {
		t.Errorf("stats: %v\n%s", err, out)
	}
	for _, args := range [][]string{{}, {"--older-than", "-1h"}, {"--to-size", "lots"}} {
		if _, _, err := run(append([]string{"cache", "prune", "--data", data}, args...)...); err == nil {
			t.Errorf("prune %v: no error", args)
		}
	}
	if out, _, err = run("cache", "prune", "--data", data, "--older-than", "1h"); err != nil || !strings.Contains(out, "Evicted 0 of 3") {
		t.Errorf("prune --older-than 1h: %v\n%s", err, out)
	}
	if out, _, err = run("cache", "prune", "--data", data, "--to-size", "0", "--dry-run"); err != nil || !strings.Contains(out, "Would evict 3 of 3") || !strings.Contains(out, "REASON") {
		t.Errorf("dry run: %v\n%s", err, out)
	}
	var res evict.Result
	out, _, err = run("cache", "prune", "--data", data, "--to-size", "0", "--json")
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Evicted != 3 || res.TagsRemoved != 1 {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	if out, _, _ := run("cache", "ls", "--data", data); !strings.Contains(out, "empty") {
		t.Errorf("ls after pruning everything:\n%s", out)
	}
	if _, _, err := run("cache", "ls", "--data", filepath.Join(data, "nope")); err == nil || !strings.Contains(err.Error(), "no cache in") {
		t.Errorf("ls of a directory without a cache: %v", err)
	}
}

func TestCacheCommandsOnRunningMirror(t *testing.T) {
	m := newTestMirror(t)
	m.up.PushRandomImage(t, "library/app", "latest", 1, 10<<10)
	m.pull("app:latest")
	data := m.cfg.Storage.Path

	// The running mirror holds the metadata database: without an admin
	// API the command cannot do anything.
	if _, _, err := run("cache", "stats", "--data", data, "--admin", "off"); err == nil || !strings.Contains(err.Error(), "admin API is off") {
		t.Fatalf("stats with the admin API off: %v", err)
	}
	ev := evict.New(evict.Options{Store: m.app.Store, Meta: m.app.Meta})
	api := httptest.NewServer(admin.New(admin.Options{Evictor: ev, Meta: m.app.Meta, Store: m.app.Store}))
	defer api.Close()
	out, _, err := run("cache", "stats", "--data", data, "--admin", api.URL)
	if err != nil || !strings.Contains(out, "running mirror (admin API at "+api.URL) {
		t.Fatalf("stats: %v\n%s", err, out)
	}
	if out, _, err = run("cache", "verify", "--data", data, "--admin", api.URL); err != nil || !strings.Contains(out, "Checked 3 objects") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	if out, _, err = run("cache", "prune", "--data", data, "--admin", api.URL, "--to-size", "0"); err != nil || !strings.Contains(out, "Evicted 3 of 3") {
		t.Errorf("prune: %v\n%s", err, out)
	}
	// The running mirror fetches the evicted image again.
	m.up.Counts.Reset()
	m.pull("app:latest")
	if m.up.Counts.BlobGet.Load() != 2 {
		t.Errorf("pull after prune: %v", m.up.Counts)
	}
}
