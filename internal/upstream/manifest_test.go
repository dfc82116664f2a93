package upstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestGetManifest(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth())
	idx := u.PushIndex(t, "library/nginx", "latest", "linux/amd64", "linux/arm64")
	dIdx := u.Digest(t, "library/nginx", "latest")
	raw, _ := idx.RawManifest()
	im, _ := idx.IndexManifest()
	child := digest.Digest(im.Manifests[1].Digest.String())
	u.PushDockerIndex(t, "library/redis", "7", "linux/amd64")
	c := newClient(t, u)
	ctx := context.Background()

	tests := []struct {
		repo, ref string
		wantType  string
		want      digest.Digest
	}{
		{"library/nginx", "latest", oci.MediaTypeOCIIndex, dIdx},
		{"library/nginx", dIdx.String(), oci.MediaTypeOCIIndex, dIdx},
		{"library/nginx", child.String(), oci.MediaTypeOCIManifest, child},
		{"library/redis", "7", oci.MediaTypeDockerManifestList, u.Digest(t, "library/redis", "7")},
	}
	for _, tt := range tests {
		m, err := c.GetManifest(ctx, tt.repo, tt.ref)
		if err != nil {
			t.Fatalf("%s:%s: %v", tt.repo, tt.ref, err)
		}
		if m.Digest != tt.want || m.MediaType != tt.wantType || m.Size != int64(len(m.Body)) || m.Digest != digest.FromBytes(m.Body) {
			t.Fatalf("%s:%s: got %s %s size %d", tt.repo, tt.ref, m.Digest, m.MediaType, m.Size)
		}
		h, err := c.HeadManifest(ctx, tt.repo, tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		if h.Body != nil || h.Digest != m.Digest || h.Size != m.Size || h.MediaType != m.MediaType {
			t.Fatalf("HEAD %s:%s = %+v, GET = %s %d %s", tt.repo, tt.ref, h, m.Digest, m.Size, m.MediaType)
		}
	}
	m, _ := c.GetManifest(ctx, "library/nginx", "latest")
	if string(m.Body) != string(raw) {
		t.Fatal("body differs from the pushed index")
	}
}

func TestGetManifestInvalidArgs(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t)
	c := newClient(t, u)
	for _, tt := range []struct{ repo, ref string }{
		{"UPPER/case", "latest"}, {"a/b", "sha256:nothex"}, {"a/b", "bad tag"}, {"", "latest"},
	} {
		if _, err := c.GetManifest(context.Background(), tt.repo, tt.ref); err == nil {
			t.Errorf("%q %q: no error", tt.repo, tt.ref)
		}
	}
	if n := u.Counts.Total.Load(); n != 0 {
		t.Fatalf("invalid arguments reached the upstream: %s", u.Counts)
	}
}

func TestGetManifestDigestMismatch(t *testing.T) {
	t.Parallel()
	tamper := func(b []byte) []byte { return append(b, ' ') }
	u := registrytest.New(t, alterBody("/manifests/", tamper))
	u.PushRandomImage(t, "a/b", "v1", 0, 0)
	d := u.Digest(t, "a/b", "v1")
	c := newClient(t, u)
	for _, ref := range []string{"v1", d.String()} {
		_, err := c.GetManifest(context.Background(), "a/b", ref)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("ref %s: err = %v, want ErrDigestMismatch", ref, err)
		}
	}
}

func TestGetManifestWithoutDigestHeader(t *testing.T) {
	t.Parallel()
	strip := registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(headerDropper{w}, r)
		})
	})
	u := registrytest.New(t, strip)
	u.PushRandomImage(t, "a/b", "v1", 0, 0)
	want := u.Digest(t, "a/b", "v1")
	c := newClient(t, u)
	h, err := c.HeadManifest(context.Background(), "a/b", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Digest != want || h.Body != nil || u.Counts.ManifestGet.Load() != 1 {
		t.Fatalf("HEAD without digest header: %+v (%s)", h, u.Counts)
	}
}

// headerDropper removes Docker-Content-Digest from an answer.
type headerDropper struct{ http.ResponseWriter }

func (h headerDropper) WriteHeader(code int) {
	h.Header().Del("Docker-Content-Digest")
	h.ResponseWriter.WriteHeader(code)
}

func (h headerDropper) Write(b []byte) (int, error) {
	h.Header().Del("Docker-Content-Digest")
	return h.ResponseWriter.Write(b)
}

func TestGetManifestSizeCap(t *testing.T) {
	t.Parallel()
	big := strings.Repeat(" ", oci.MaxManifestSize+1)
	tests := []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := registrytest.New(t, onPath(http.MethodGet, "/manifests/", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", oci.MediaTypeOCIManifest)
				if tt.chunked {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				w.Write([]byte(big))
			}))
			_, err := newClient(t, u).GetManifest(context.Background(), "a/b", "v1")
			if !errors.Is(err, ErrManifestTooLarge) {
				t.Fatalf("err = %v, want ErrManifestTooLarge", err)
			}
		})
	}
}

func TestManifestType(t *testing.T) {
	t.Parallel()
	idx := []byte(`{"schemaVersion":2,"manifests":[]}`)
	tests := []struct {
		ct   string
		body []byte
		want string
	}{
		{oci.MediaTypeOCIIndex + "; charset=utf-8", idx, oci.MediaTypeOCIIndex},
		{"application/json", idx, oci.MediaTypeOCIIndex},
		{"", []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerManifest + `"}`), oci.MediaTypeDockerManifest},
		{"text/plain", []byte("nope"), "text/plain"},
	}
	for _, tt := range tests {
		if got := manifestType(tt.ct, tt.body); got != tt.want {
			t.Errorf("manifestType(%q) = %q, want %q", tt.ct, got, tt.want)
		}
	}
}
