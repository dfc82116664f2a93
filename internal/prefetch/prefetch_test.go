package prefetch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// platformBlobs returns the config and layer digests of each platform's
// image in idx.
func platformBlobs(t *testing.T, idx v1.ImageIndex) map[string][]digest.Digest {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]digest.Digest{}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		p := desc.Platform.OS + "/" + desc.Platform.Architecture
		if desc.Platform.Variant != "" {
			p += "/" + desc.Platform.Variant
		}
		cfg, _ := img.ConfigName()
		out[p] = append(out[p], digest.Digest(cfg.String()))
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			out[p] = append(out[p], digest.Digest(d.String()))
		}
	}
	return out
}

func TestImagePlatforms(t *testing.T) {
	cases := []struct {
		name      string
		platforms []string
		want      []string // platforms whose blobs are fetched
		err       string
	}{
		{"one", []string{"linux/arm64"}, []string{"linux/arm64"}, ""},
		{"variant", []string{"linux/arm/v7"}, []string{"linux/arm/v7"}, ""},
		{"any variant", []string{"linux/arm"}, []string{"linux/arm/v7"}, ""},
		{"two", []string{"linux/amd64", "linux/arm64"}, []string{"linux/amd64", "linux/arm64"}, ""},
		{"all", nil, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, ""},
		{"missing", []string{"linux/s390x"}, nil, "the index has no linux/s390x manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := registrytest.New(t)
			idx := up.PushIndex(t, "library/multi", "latest", "linux/amd64", "linux/arm64", "linux/arm/v7")
			byPlatform := platformBlobs(t, idx)
			c := &Client{Base: up.URL}
			var last Progress
			res, err := c.Image(context.Background(), "library/multi:latest", tc.platforms, func(p Progress) { last = p })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wanted := map[string]bool{}
			for _, p := range tc.want {
				wanted[p] = true
			}
			fetched := 0
			for p, blobs := range byPlatform {
				for _, b := range blobs {
					n := up.Counts.BlobGets(b)
					if wanted[p] && n != 1 || !wanted[p] && n != 0 {
						t.Errorf("%s blob %s fetched %d times", p, b, n)
					}
					fetched += n
				}
			}
			if res.Fetched != fetched || res.Manifests != 1+len(tc.want) || len(res.Platforms) != len(tc.want) {
				t.Errorf("result %+v, fetched upstream %d", res, fetched)
			}
			if last.BlobsDone != last.Blobs || last.BytesDone != last.Bytes || last.Bytes != res.Bytes || last.Blobs != res.Fetched {
				t.Errorf("last progress %+v, result %+v", last, res)
			}
		})
	}
}

func TestImageErrors(t *testing.T) {
	up := registrytest.New(t)
	up.PushRandomImage(t, "library/one", "1", 2, 1000)
	// A "mirror" that corrupts blobs.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(up.URL + r.URL.Path)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(r.URL.Path, "/blobs/") && len(b) > 0 {
			b[0] ^= 1
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
	}))
	defer bad.Close()
	for _, tc := range []struct {
		base, image, want string
	}{
		{up.URL, "library/one:2", "MANIFEST_UNKNOWN"},
		{up.URL, "Bad Name", "invalid"},
		{bad.URL, "library/one:1", "do not match the digest"},
	} {
		_, err := (&Client{Base: tc.base}).Image(context.Background(), tc.image, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.image, err, tc.want)
		}
	}
	if res, err := (&Client{Base: up.URL}).Image(context.Background(), "library/one:1", []string{"linux/arm64"}, nil); err != nil || res.Fetched != 3 {
		t.Errorf("single image: %+v %v (platforms do not filter a single image)", res, err)
	}
}

func TestHandlerTransport(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			w.Header().Set("Content-Length", "10")
			for range 10 {
				_, _ = w.Write([]byte("x"))
			}
		case "/abort":
			_, _ = w.Write([]byte("part"))
			panic(http.ErrAbortHandler)
		case "/empty":
		default:
			http.Error(w, r.RemoteAddr, http.StatusTeapot)
		}
	})
	c := &http.Client{Transport: &HandlerTransport{Handler: h, RemoteAddr: "in-process"}}
	get := func(method, path string) (*http.Response, string, error) {
		req, _ := http.NewRequest(method, "http://mirror"+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	if resp, body, err := get("GET", "/stream"); err != nil || body != "xxxxxxxxxx" || resp.ContentLength != 10 {
		t.Errorf("stream: %q %v", body, err)
	}
	if _, body, err := get("GET", "/abort"); err == nil {
		t.Errorf("abort: read %q without error", body)
	}
	if resp, body, err := get("GET", "/empty"); err != nil || resp.StatusCode != 200 || body != "" {
		t.Errorf("empty: %v %q %v", resp, body, err)
	}
	if resp, body, err := get("GET", "/other"); err != nil || resp.StatusCode != http.StatusTeapot || !strings.Contains(body, "in-process") {
		t.Errorf("status: %v %q %v", resp, body, err)
	}
	if resp, body, err := get("HEAD", "/stream"); err != nil || body != "" || resp.ContentLength != 10 {
		t.Errorf("head: %q %v", body, err)
	}
}

func TestSchedulerRepeatsWithJitter(t *testing.T) {
	up := registrytest.New(t)
	img := up.PushRandomImage(t, "library/warm", "latest", 1, 100)
	d, _ := img.Digest()
	var pulls atomic.Int32
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			pulls.Add(1)
		}
		http.Redirect(w, r, up.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(counting)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := &Scheduler{
		Client:  &Client{Base: srv.URL},
		Entries: []Entry{{Image: "library/warm", Interval: 30 * time.Millisecond}},
		Rand:    func() float64 { return 0.5 },
	}
	go func() { s.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for pulls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if pulls.Load() < 3 {
		t.Fatalf("%d pulls of %s", pulls.Load(), d)
	}
}

func TestJitter(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 90 * time.Minute}, {0.5, 100 * time.Minute}, {0.999, 109*time.Minute + 58*time.Second + 800*time.Millisecond}} {
		if got := Jitter(100*time.Minute, tc.r); got != tc.want {
			t.Errorf("Jitter(100m, %v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
