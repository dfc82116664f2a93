package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	"github.com/regmirror/regmirror/internal/store/disk"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// cache is a data directory holding one image (manifest, config, two
// layers) tagged docker.io/library/app:1, and one stray blob.
type cache struct {
	ds       *disk.Store
	db       *bolt.DB
	manifest digest.Digest
	layer    digest.Digest
	size     int64 // of the image's four objects
}

func newCache(t *testing.T) *cache {
	t.Helper()
	dir := t.TempDir()
	ds, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dir + "/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &cache{ds: ds, db: db}
	ctx := context.Background()
	put := func(body []byte, mt, upstream, repo string, at time.Duration) digest.Digest {
		d := digest.FromBytes(body)
		if err := ds.Put(ctx, d, int64(len(body)), bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		o := meta.Object{Digest: d, Size: int64(len(body)), MediaType: mt, Upstream: upstream, Repo: repo, Created: t0, Accessed: t0.Add(at)}
		if err := db.PutObject(ctx, o); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	l1, l2 := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 2000)
	cd := put(cfg, "", "docker.io", "library/app", 0)
	c.layer = put(l1, "", "docker.io", "library/app", time.Minute)
	d2 := put(l2, "", "docker.io", "library/app", 0)
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cd.String() + `","size":` + itoa(len(cfg)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + c.layer.String() + `","size":1000},` +
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d2.String() + `","size":2000}]}`)
	c.manifest = put(man, "application/vnd.oci.image.manifest.v1+json", "docker.io", "library/app", 2*time.Minute)
	c.size = int64(len(cfg) + 3000 + len(man))
	put([]byte("stray"), "", "", "", 0) // recorded by a rebuild: origin unknown
	k := meta.TagKey{Upstream: "docker.io", Repo: "library/app", Tag: "1"}
	if err := db.PutTag(ctx, k, meta.Tag{Digest: c.manifest, MediaType: "application/vnd.oci.image.manifest.v1+json", CheckedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (c *cache) local() *Local {
	ev := evict.New(evict.Options{Store: c.ds, Meta: c.db, MaxSize: 1 << 20, Now: func() time.Time { return t0.Add(time.Hour) }})
	return &Local{Evictor: ev, Meta: c.db, Store: c.ds}
}

// both runs f against Local and against a Client of the API over it, each
// on a cache of its own made by mk.
func both(t *testing.T, mk func(t *testing.T) *cache, f func(t *testing.T, c *cache, ops Ops)) {
	t.Run("local", func(t *testing.T) {
		c := mk(t)
		f(t, c, c.local())
	})
	t.Run("api", func(t *testing.T) {
		c := mk(t)
		l := c.local()
		hits := func() (int64, int64) { return 3, 4 }
		srv := httptest.NewServer(New(Options{Evictor: l.Evictor, Meta: l.Meta, Store: l.Store, Hits: hits, DiskFull: func() bool { return true }}))
		t.Cleanup(srv.Close)
		f(t, c, NewClient(srv.URL, nil))
	})
}

func TestList(t *testing.T) {
	both(t, newCache, func(t *testing.T, c *cache, ops Ops) {
		repos, err := ops.List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(repos) != 2 || repos[0].Repo != "" || repos[1].Repo != "library/app" {
			t.Fatalf("repos %+v", repos)
		}
		app := repos[1]
		if app.Objects != 4 || app.Bytes != c.size || !app.Accessed.Equal(t0.Add(2*time.Minute)) || len(app.Tags) != 1 {
			t.Errorf("repo %+v", app)
		}
		if tag := app.Tags[0]; tag.Tag != "1" || tag.Digest != c.manifest || tag.Bytes != c.size {
			t.Errorf("tag %+v, want %d bytes", tag, c.size)
		}
		repos, err = ops.List(context.Background(), "quay.io")
		if err != nil || len(repos) != 0 {
			t.Errorf("filtered: %v %v", repos, err)
		}
	})
}

func TestStats(t *testing.T) {
	both(t, newCache, func(t *testing.T, c *cache, ops Ops) {
		s, err := ops.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Objects != 5 || s.Manifests != 1 || s.Tags != 1 || s.MaxSize != 1<<20 {
			t.Errorf("stats %+v", s)
		}
		if _, remote := ops.(*Client); remote != s.Running || remote != s.Counted || remote != (s.HitRatio != nil) || remote != s.DiskFull {
			t.Errorf("running %v, hit ratio %v, disk full %v", s.Running, s.HitRatio, s.DiskFull)
		}
		if s.HitRatio != nil && *s.HitRatio != 0.75 {
			t.Errorf("hit ratio %v", *s.HitRatio)
		}
	})
}

func TestPruneAndVerify(t *testing.T) {
	both(t, newCache, func(t *testing.T, c *cache, ops Ops) {
		ctx := context.Background()
		size := config.Size(0)
		res, err := ops.Prune(ctx, PruneRequest{ToSize: &size, DryRun: true})
		if err != nil || res.Evicted != 5 || !res.DryRun {
			t.Fatalf("dry run %+v %v", res, err)
		}
		if _, err := ops.Prune(ctx, PruneRequest{}); err == nil {
			t.Error("a prune without age or size succeeded")
		}
		v, err := ops.Verify(ctx, evict.VerifyOptions{})
		if err != nil || v.Checked != 5 || len(v.Corrupt) != 0 {
			t.Fatalf("verify %+v %v", v, err)
		}
		res, err = ops.Prune(ctx, PruneRequest{OlderThan: config.Duration(time.Hour - 30*time.Second)})
		if err != nil || res.Evicted != 3 || res.TagsRemoved != 0 {
			t.Fatalf("prune %+v %v", res, err)
		}
	})
}

func TestVerifyFindsCorruption(t *testing.T) {
	corrupt := func(t *testing.T) *cache {
		c := newCache(t)
		p := c.ds.Path(c.layer)
		b, _ := os.ReadFile(p)
		b[0] = 'x'
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return c
	}
	both(t, corrupt, func(t *testing.T, c *cache, ops Ops) {
		v, err := ops.Verify(context.Background(), evict.VerifyOptions{})
		if err != nil || len(v.Corrupt) != 1 || v.Corrupt[0].Digest != c.layer {
			t.Fatalf("verify %+v %v", v, err)
		}
	})
}

func TestAPIErrorsAndExtras(t *testing.T) {
	c := newCache(t)
	l := c.local()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("m 1\n")) })
	srv := httptest.NewServer(New(Options{Evictor: l.Evictor, Meta: c.db, Store: c.ds, Metrics: metrics}))
	defer srv.Close()
	cases := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"POST", PathPrune, `{"toSize":`, 400, `"error"`},
		{"POST", PathPrune, `{"toSize":"lots"}`, 400, `"error"`},
		{"POST", PathPrune, `{"toSize":"10GiB","dryRun":true}`, 200, `"dryRun": true`},
		{"GET", PathPrune, ``, 405, ``},
		{"GET", "/metrics", ``, 200, "m 1"},
		{"GET", "/debug/pprof/", ``, 200, "goroutine"},
		{"GET", "/debug/pprof/cmdline", ``, 200, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(buf.String(), tc.contains) {
			t.Errorf("%s %s %s: %d %q", tc.method, tc.path, tc.body, resp.StatusCode, buf.String())
		}
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5001":         "http://127.0.0.1:5001",
		":5001":                  "http://127.0.0.1:5001",
		"0.0.0.0:5001":           "http://127.0.0.1:5001",
		"[::]:5001":              "http://[::1]:5001",
		"http://admin:9000/":     "http://admin:9000",
		"localhost:5001":         "http://localhost:5001",
		"https://mirror.example": "https://mirror.example",
	} {
		if got := BaseURL(in); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}
