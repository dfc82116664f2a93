package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestNewValidatesEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"", "ftp://x", "https://", "https://u:p@host", "https://host/v2", "host:5000", "https://host?x=1"} {
		if _, err := New(Options{Name: "x", Endpoint: ep}); err == nil {
			t.Errorf("New(%q): no error", ep)
		}
	}
	c, err := New(Options{Name: "docker.io", Endpoint: "https://registry-1.docker.io/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "docker.io" || c.Endpoint().String() != "https://registry-1.docker.io" {
		t.Fatalf("Name %q Endpoint %q", c.Name(), c.Endpoint())
	}
	c.Endpoint().Host = "changed"
	if c.Endpoint().Host != "registry-1.docker.io" {
		t.Fatal("Endpoint returned the client's own URL")
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	broken := func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }
	tests := []struct {
		name   string
		opts   []registrytest.Option
		stop   bool
		wantOK bool
	}{
		{"200", nil, false, true},
		{"401 bearer", []registrytest.Option{registrytest.WithBearerAuth()}, false, true},
		{"503", []registrytest.Option{onPath("", "/v2/", broken)}, false, false},
		{"down", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := registrytest.New(t, tt.opts...)
			if tt.stop {
				u.Stop()
			}
			err := newClient(t, u).Ping(context.Background())
			if (err == nil) != tt.wantOK {
				t.Fatalf("Ping = %v", err)
			}
			if u.Counts.Token.Load() != 0 {
				t.Fatal("Ping fetched a token")
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
				w.Header().Set("ratelimit-limit", "100;w=21600")
				w.Header().Set("ratelimit-remaining", "76;w=21600")
			}
			next.ServeHTTP(w, r)
		})
	}))
	u.PushRandomImage(t, "a/b", "v1", 0, 0)
	c := newClient(t, u)
	if _, _, ok := c.RateLimit(); ok {
		t.Fatal("rate limit known before any answer")
	}
	if _, err := c.HeadManifest(context.Background(), "a/b", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.RateLimit(); ok {
		t.Fatal("rate limit known from an answer without headers")
	}
	if _, err := c.GetManifest(context.Background(), "a/b", "v1"); err != nil {
		t.Fatal(err)
	}
	if rem, lim, ok := c.RateLimit(); rem != 76 || lim != 100 || !ok {
		t.Fatalf("RateLimit = %d, %d, %v", rem, lim, ok)
	}
	for in, want := range map[string]int{"76;w=21600": 76, "0": 0, " 5 ; w=1": 5, "": -1, "x;w=1": -1, "-3": -1} {
		got, ok := parseRateLimit(in)
		if (want < 0 && ok) || (want >= 0 && (!ok || got != want)) {
			t.Errorf("parseRateLimit(%q) = %d, %v", in, got, ok)
		}
	}
}

func TestGetTags(t *testing.T) {
	t.Parallel()
	var query atomic.Value
	u := registrytest.New(t, registrytest.WithBearerAuth(), registrytest.WithHandlerWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				query.Store(r.URL.RawQuery)
				w.Header().Set("Link", `</v2/a/b/tags/list?last=v2&n=2>; rel="next"`)
			}
			next.ServeHTTP(w, r)
		})
	}))
	for _, tag := range []string{"v1", "v2", "v3"} {
		u.PushRandomImage(t, "a/b", tag, 0, 0)
	}
	c := newClient(t, u)
	tl, err := c.GetTags(context.Background(), "a/b", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(tl.Body, &body); err != nil || body.Name != "a/b" || len(body.Tags) != 3 {
		t.Fatalf("body %s: %v", tl.Body, err)
	}
	if query.Load() != "" || !strings.Contains(tl.Link, `rel="next"`) {
		t.Fatalf("query %q link %q", query.Load(), tl.Link)
	}
	if _, err := c.GetTags(context.Background(), "a/b", 2, "v1"); err != nil {
		t.Fatal(err)
	}
	if q := query.Load(); q != "last=v1&n=2" {
		t.Fatalf("query %q", q)
	}
	if _, err := c.GetTags(context.Background(), "no/such", 0, ""); !IsNotFound(err) {
		t.Fatalf("missing repo: %v", err)
	}
}

func TestGetReferrers(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth())
	subject := u.PushRandomImage(t, "a/b", "v1", 0, 0)
	sd, _ := subject.Digest()
	sdesc := v1.Descriptor{MediaType: oci.MediaTypeOCIManifest, Digest: sd}
	sz, _ := subject.Size()
	sdesc.Size = sz
	sig := registrytest.RandomImage(t, 1, 32, "", false)
	sig = mutate.Subject(sig, sdesc).(v1.Image)
	u.PushImage(t, "a/b", "", sig)
	sigd, _ := sig.Digest()

	c := newClient(t, u)
	body, mt, err := c.GetReferrers(context.Background(), "a/b", digestOf(t, sd.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	if mt != oci.MediaTypeOCIIndex || !strings.Contains(string(body), sigd.String()) {
		t.Fatalf("media type %q body %s", mt, body)
	}

	none := registrytest.New(t, onPath("", "/referrers/", http.NotFound))
	_, _, err = newClient(t, none).GetReferrers(context.Background(), "a/b", digestOf(t, sd.String()), "x/y")
	if !IsNotFound(err) {
		t.Fatalf("upstream without referrers: %v", err)
	}
}
