package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// newRegistry starts an in-memory OCI registry (go-containerregistry).
func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPushThenPullBlobAndManifest(t *testing.T) {
	base := newRegistry(t)
	ctx := context.Background()
	p := &pusher{c: newClient(2), base: base, repo: "library/bench"}
	sizes := []int64{256 << 10, 4 << 10, 4 << 10}
	img, err := p.pushImage(ctx, t.TempDir(), "test", sizes, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.layers) != 3 || img.layers[0].Size != 256<<10 {
		t.Fatalf("pushed %+v", img)
	}

	r := pull(ctx, newClient(4), pullSpec{base: base, repo: "library/bench", ref: "latest", parallel: 3, verify: true, platform: "linux/amd64"})
	if r.Errors != 0 {
		t.Fatalf("pull: %d errors: %s", r.Errors, r.Error)
	}
	if r.BigDigest != img.layers[0].Digest || r.BigSize != 256<<10 {
		t.Errorf("big blob %s (%d), want %s", r.BigDigest, r.BigSize, img.layers[0].Digest)
	}
	if r.Bytes < 264<<10 || r.ManifestMS <= 0 || r.BigTTFBMS < r.ManifestMS || r.TotalMS < r.BigTTFBMS || r.BigFirstByteNS == 0 {
		t.Errorf("implausible pull result %+v", r)
	}

	blobURL := base + "/v2/library/bench/blobs/" + img.layers[0].Digest
	good := blobSpec{url: blobURL, clients: 4, size: 256 << 10, verify: true}
	bad := blobSpec{url: blobURL, clients: 1, size: 1}
	rs := blobRounds(ctx, newClient(4), []blobSpec{good, bad}, 2)
	if b := rs[0]; b.Errors != 0 || b.Bytes != 2*4*256<<10 || b.MiBps <= 0 || b.BestMS > b.WallMS {
		t.Errorf("blob: %+v", b)
	}
	if rs[1].Errors != 2 {
		t.Errorf("a wrong -size was not an error in each round: %+v", rs[1])
	}

	var l load
	l.add(hammer(ctx, newClient(4), base+"/v2/library/bench/manifests/latest", acceptManifests, 4, 100*time.Millisecond))
	l.add(hammer(ctx, newClient(4), base+"/v2/library/bench/manifests/latest", acceptManifests, 4, 100*time.Millisecond))
	m := l.result(4)
	if l.elapsed < 200*time.Millisecond || m.Errors != 0 || m.Requests == 0 || m.RPS <= 0 || m.P99MS < m.P50MS {
		t.Errorf("manifest: %+v", m)
	}
	nope := hammer(ctx, newClient(1), base+"/v2/library/bench/manifests/nope", acceptManifests, 1, 50*time.Millisecond)
	missing := nope.result(1)
	if missing.Errors == 0 || missing.Errors != int(missing.Requests) {
		t.Errorf("404s not counted as errors: %+v", missing)
	}
}

func TestRunEmitsLabelledJSON(t *testing.T) {
	base := newRegistry(t)
	out := t.TempDir() + "/res.jsonl"
	var stdout bytes.Buffer
	args := []string{"push", "-registry", base, "-tag", "v1", "-big", "1024", "-small", "1", "-small-size", "10", "-peer", "up", "-w", "push", "-out", out}
	if err := run(args, &stdout); err != nil {
		t.Fatal(err)
	}
	rs, err := readResultsFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := rs.get("push", "up", "push")
	if !ok || r.BigSize != 1024 || !strings.HasPrefix(r.BigDigest, "sha256:") || r.Index == "" {
		t.Fatalf("results file has %+v", rs)
	}
	if !strings.Contains(stdout.String(), r.BigDigest) {
		t.Errorf("stdout %q lacks the digest", stdout.String())
	}
	stdout.Reset()
	blobURL := base + "/v2/library/bench/blobs/" + r.BigDigest
	args = []string{"blob", "-at", "a=" + blobURL, "-at", "b=" + blobURL, "-n", "2", "-repeat", "3", "-size", "1024", "-w", "W2", "-out", out}
	if err := run(args, &stdout); err != nil {
		t.Fatal(err)
	}
	if rs, err = readResultsFile(out); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"a", "b"} {
		if b, ok := rs.get("W2", peer, "blob"); !ok || b.Errors != 0 || b.Bytes != 3*2*1024 || b.Repeat != 3 {
			t.Errorf("blob -at %s: %+v (found %v)", peer, b, ok)
		}
	}
	args = []string{"manifest", "-at", "a=" + base + "/v2/library/bench/manifests/v1", "-at", "b=" + base + "/v2/library/bench/manifests/v1",
		"-c", "2", "-d", "100ms", "-rounds", "2", "-w", "W4", "-out", out}
	if err := run(args, io.Discard); err != nil {
		t.Fatal(err)
	}
	if rs, err = readResultsFile(out); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"a", "b"} {
		if m, ok := rs.get("W4", peer, "manifest"); !ok || m.Errors != 0 || m.Requests == 0 || m.Conns != 2 {
			t.Errorf("manifest -at %s: %+v (found %v)", peer, m, ok)
		}
	}
	if err := run([]string{"nope"}, io.Discard); err == nil {
		t.Error("unknown subcommand accepted")
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {10, 1}, {50, 5}, {90, 9}, {99, 10}, {100, 10}}
	for _, tt := range tests {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty input")
	}
	if ds[0] != 5 {
		t.Error("percentile sorted its input")
	}
}

func TestSummarizeTransfers(t *testing.T) {
	ts := []upTransfer{
		{Method: "GET", Path: "/v2/"},
		{Method: "HEAD", Path: "/v2/library/bench/manifests/latest"},
		{Method: "GET", Path: "/v2/library/bench/manifests/sha256:aa"},
		{Method: "HEAD", Path: "/v2/library/bench/blobs/sha256:big"},
		{Method: "GET", Path: "/v2/library/bench/blobs/sha256:big", Bytes: 100, FirstByteNS: 10, EndNS: 20},
		{Method: "GET", Path: "/v2/library/bench/blobs/sha256:big", Bytes: 100, FirstByteNS: 15, EndNS: 30},
		{Method: "GET", Path: "/v2/library/bench/blobs/sha256:small", Bytes: 5, EndNS: 40},
	}
	tests := []struct {
		digest            string
		gets, manifests   int
		bytes, first, end int64
	}{
		{"sha256:big", 2, 2, 200, 15, 30},
		{"", 3, 2, 205, 0, 40},
		{"sha256:none", 0, 2, 0, 0, 0},
	}
	for _, tt := range tests {
		r := summarize(ts, tt.digest)
		if r.Total != len(ts) || r.BlobGets != tt.gets || r.ManifestReq != tt.manifests || r.Bytes != tt.bytes || r.UpFirstNS != tt.first || r.UpEndNS != tt.end {
			t.Errorf("summarize(%q) = %+v", tt.digest, r)
		}
	}
}
