package upstream

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tooMany := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`))
	}
	broken := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}
	tests := []struct {
		name      string
		opts      []registrytest.Option
		creds     bool
		repo      string
		stop      bool
		timeout   time.Duration
		status    int
		codes     []oci.ErrorCode
		notFound  bool
		retry     time.Duration
		anonymous bool
		isTimeout bool
	}{
		{name: "404 name unknown", repo: "no/such", status: 404, codes: []oci.ErrorCode{oci.CodeNameUnknown}, notFound: true, anonymous: true},
		{name: "401 anonymous", opts: []registrytest.Option{registrytest.WithBearerAuth(), registrytest.WithPrivate("secret/")},
			repo: "secret/app", status: 401, codes: []oci.ErrorCode{oci.CodeUnauthorized}, notFound: true, anonymous: true},
		{name: "401 bad credentials", opts: []registrytest.Option{registrytest.WithBearerAuth(), registrytest.WithUsers(map[string]string{"u": "right"})},
			creds: true, repo: "some/app", status: 401, notFound: false},
		{name: "429 retry-after", opts: []registrytest.Option{onPath("", "/manifests/", tooMany)},
			repo: "some/app", status: 429, codes: []oci.ErrorCode{oci.CodeTooManyRequests}, retry: 7 * time.Second, anonymous: true},
		{name: "500", opts: []registrytest.Option{onPath("", "/manifests/", broken)}, repo: "some/app", status: 500, anonymous: true},
		{name: "connection refused", stop: true, repo: "some/app", status: 0, anonymous: true},
		{name: "header timeout", opts: []registrytest.Option{registrytest.WithDelay(time.Second)}, timeout: 50 * time.Millisecond,
			repo: "some/app", status: 0, anonymous: true, isTimeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := registrytest.New(t, tt.opts...)
			c := newClient(t, u, func(o *Options) {
				if tt.creds {
					o.Username, o.Password = "u", "wrong"
				}
				if tt.timeout > 0 {
					o.Timeout = tt.timeout
				}
			})
			if tt.stop {
				u.Stop()
			}
			_, err := c.GetManifest(context.Background(), tt.repo, "latest")
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if ue.StatusCode != tt.status || ue.NotFound() != tt.notFound || IsNotFound(err) != tt.notFound ||
				ue.RetryAfter != tt.retry || ue.Anonymous != tt.anonymous || ue.Timeout() != tt.isTimeout {
				t.Fatalf("got %+v (NotFound %v, Timeout %v)", ue, ue.NotFound(), ue.Timeout())
			}
			if tt.codes != nil && !slices.Equal(ue.Codes, tt.codes) {
				t.Fatalf("codes %v, want %v", ue.Codes, tt.codes)
			}
			if tt.status == 0 && ue.Err == nil {
				t.Fatalf("Err = %v for status %d", ue.Err, tt.status)
			}
			if ue.Method != http.MethodGet || ue.Upstream != "test" || ue.URL != u.URL+"/v2/"+tt.repo+"/manifests/latest" {
				t.Fatalf("method %q upstream %q url %q", ue.Method, ue.Upstream, ue.URL)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestErrorBodyIsBounded(t *testing.T) {
	t.Parallel()
	huge := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		pad := make([]byte, 1<<20)
		w.Write(pad)
	}
	u := registrytest.New(t, onPath("", "/manifests/", huge))
	_, err := newClient(t, u).GetManifest(context.Background(), "a/b", "x")
	var ue *Error
	if !errors.As(err, &ue) || ue.StatusCode != http.StatusBadGateway || ue.Codes != nil {
		t.Fatalf("got %v", err)
	}
}
