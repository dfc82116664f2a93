package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// pushLayer pushes an image with one layer to repo and returns the layer's
// digest and bytes.
func pushLayer(t *testing.T, u *registrytest.Upstream, repo string) (digest.Digest, []byte) {
	t.Helper()
	img := u.PushRandomImage(t, repo, "v1", 1, 4096)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return digestOf(t, ld.String()), b
}

func readBlob(t *testing.T, b *Blob) []byte {
	t.Helper()
	defer b.Body.Close()
	got, err := io.ReadAll(b.Body)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestGetBlob(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth())
	d, want := pushLayer(t, u, "a/b")
	c := newClient(t, u)
	ctx := context.Background()

	b, err := c.GetBlob(ctx, "a/b", d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b); !bytes.Equal(got, want) || b.Size != int64(len(want)) || b.Offset != 0 {
		t.Fatalf("whole blob: %d bytes, Size %d Offset %d", len(got), b.Size, b.Offset)
	}
	if n := u.Counts.BlobGets(d); n != 2 { // the 401 and the retry
		t.Fatalf("BlobGets = %d", n)
	}

	b, err = c.GetBlob(ctx, "a/b", d, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b); !bytes.Equal(got, want[100:]) || b.Offset != 100 || b.Size != int64(len(want)) || !b.AcceptsRanges {
		t.Fatalf("ranged blob: %d bytes, %+v", len(got), b)
	}

	if size, err := c.HeadBlob(ctx, "a/b", d); err != nil || size != int64(len(want)) {
		t.Fatalf("HeadBlob = %d, %v", size, err)
	}
	_, err = c.GetBlob(ctx, "a/b", digest.FromString("missing"), 0)
	if !IsNotFound(err) {
		t.Fatalf("missing blob: %v", err)
	}
}

func TestGetBlobRedirectDropsAuthorization(t *testing.T) {
	t.Parallel()
	var cdnAuth atomic.Value
	var cdnHits atomic.Int64
	var blob []byte
	cdn, _ := serveOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		cdnAuth.Store(r.Header.Get("Authorization"))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
	}))
	u := registrytest.New(t, registrytest.WithBearerAuth(), onAuthorizedBlob(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+"/cdn"+r.URL.Path+"?sig=secret", http.StatusTemporaryRedirect)
	}))
	d, want := pushLayer(t, u, "a/b")
	blob = want
	c := newClient(t, u)
	b, err := c.GetBlob(context.Background(), "a/b", d, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b); !bytes.Equal(got, want[10:]) || b.Offset != 10 {
		t.Fatalf("redirected ranged blob: %d bytes, %+v", len(got), b)
	}
	if cdnHits.Load() != 1 || cdnAuth.Load() != "" {
		t.Fatalf("CDN hits %d, Authorization %q", cdnHits.Load(), cdnAuth.Load())
	}
}

// onAuthorizedBlob answers blob GETs that carry a Bearer token with h.
func onAuthorizedBlob(h http.HandlerFunc) registrytest.Option {
	return registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.Header.Get("Authorization") != "" && bytes.Contains([]byte(r.URL.Path), []byte("/blobs/")) {
				h(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
}

func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t)
	d, _ := pushLayer(t, u, "a/b")
	c := newClient(t, u, func(o *Options) { o.MaxInFlight = 1 })
	ctx := context.Background()
	b, err := c.GetBlob(ctx, "a/b", d, 0)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.HeadBlob(short, "a/b", d)
	var ue *Error
	if !errors.As(err, &ue) || ue.StatusCode != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second request while the slot is held: %v", err)
	}
	b.Body.Close()
	b.Body.Close() // idempotent release
	for range 3 {
		if _, err := c.HeadBlob(ctx, "a/b", d); err != nil {
			t.Fatalf("after Close: %v", err)
		}
	}
	if _, err := c.GetBlob(ctx, "a/b", digest.FromString("x"), 0); err == nil {
		t.Fatal("missing blob found")
	}
	if _, err := c.HeadBlob(ctx, "a/b", d); err != nil { // an error answer released its slot
		t.Fatal(err)
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes 5-4/10", 0, 0, false},
		{"bytes 0-9/9", 0, 0, false},
		{"items 0-9/10", 0, 0, false},
		{"bytes x-9/10", 0, 0, false},
	}
	for _, tt := range tests {
		s, n, ok := parseContentRange(tt.in)
		if s != tt.start || n != tt.total || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tt.in, s, n, ok)
		}
	}
}
