package route

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/oci"
)

// testRouter is the default upstream list plus an internal registry that
// is not searched implicitly, and a few operator routes.
func testRouter(t testing.TB) *Router {
	t.Helper()
	no := false
	ups := append(config.DefaultUpstreams(), config.Upstream{
		Name: "registry.corp.example", Endpoint: "https://registry.corp.example", Implicit: &no,
	})
	routes := []config.Route{
		{Match: "platform/**", Upstream: "registry.corp.example"},
		{Match: "prometheus/*", Upstream: "quay.io"},
		{Match: "pause", Upstream: "K8S.gcr.io"}, // alias, any case
		{Match: "**/special", Upstream: "quay.io"},
		{Match: "busybox", Upstream: "index.docker.io"},
		{Match: "prometheus/**", Upstream: "ghcr.io"}, // shadowed by the earlier rule for one level
	}
	r, err := New(ups, routes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func implicitCandidates(hubRepo, repo string) []Candidate {
	return []Candidate{
		{"docker.io", hubRepo}, {"gcr.io", repo}, {"registry.k8s.io", repo},
		{"quay.io", repo}, {"ghcr.io", repo}, {"mcr.microsoft.com", repo},
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	r := testRouter(t)
	tests := []struct {
		name, ns string
		how      How
		upstream string
		repo     string
		cands    []Candidate
	}{
		// rule 1: ns
		{"library/nginx", "docker.io", ByNS, "docker.io", "library/nginx", nil},
		{"nginx", "docker.io", ByNS, "docker.io", "library/nginx", nil},
		{"docker.io/library/nginx", "docker.io", ByNS, "docker.io", "library/nginx", nil},
		{"index.docker.io/nginx", "docker.io", ByNS, "docker.io", "library/nginx", nil},
		{"nginx", "index.docker.io", ByNS, "docker.io", "library/nginx", nil},
		{"pause", "registry.k8s.io", ByNS, "registry.k8s.io", "pause", nil},
		{"pause", "K8S.GCR.IO", ByNS, "registry.k8s.io", "pause", nil},
		{"k8s.gcr.io/pause", "k8s.gcr.io", ByNS, "registry.k8s.io", "pause", nil},
		{"registry.k8s.io/pause", "k8s.gcr.io", ByNS, "registry.k8s.io", "pause", nil},
		{"gcr.io/foo", "docker.io", ByNS, "docker.io", "gcr.io/foo", nil}, // another upstream's name is just a path here
		{"distroless/static", "gcr.io", ByNS, "gcr.io", "distroless/static", nil},
		{"team/app", "registry.corp.example", ByNS, "registry.corp.example", "team/app", nil},
		{"pause", "gcr.io", ByNS, "gcr.io", "pause", nil}, // ns beats routes
		// rule 2: explicit prefix
		{"gcr.io/distroless/static", "", ByPrefix, "gcr.io", "distroless/static", nil},
		{"GCR.IO/distroless/static", "", ByPrefix, "gcr.io", "distroless/static", nil},
		{"k8s.gcr.io/pause", "", ByPrefix, "registry.k8s.io", "pause", nil},
		{"docker.io/nginx", "", ByPrefix, "docker.io", "library/nginx", nil},
		{"index.docker.io/nginx", "", ByPrefix, "docker.io", "library/nginx", nil},
		{"docker.io/bitnami/redis", "", ByPrefix, "docker.io", "bitnami/redis", nil},
		{"registry.corp.example/team/app", "", ByPrefix, "registry.corp.example", "team/app", nil},
		{"gcr.io/x/special", "", ByPrefix, "gcr.io", "x/special", nil}, // prefix beats routes
		{"quay.io/prometheus/node", "", ByPrefix, "quay.io", "prometheus/node", nil},
		// rule 4: operator routes
		{"platform/api", "", ByRule, "registry.corp.example", "platform/api", nil},
		{"platform/team/api", "", ByRule, "registry.corp.example", "platform/team/api", nil},
		{"prometheus/node-exporter", "", ByRule, "quay.io", "prometheus/node-exporter", nil},
		{"prometheus/a/b", "", ByRule, "ghcr.io", "prometheus/a/b", nil},
		{"pause", "", ByRule, "registry.k8s.io", "pause", nil},
		{"x/special", "", ByRule, "quay.io", "x/special", nil},
		{"busybox", "", ByRule, "docker.io", "library/busybox", nil},
		// rule 5: implicit
		{"nginx", "", ByImplicit, "", "", implicitCandidates("library/nginx", "nginx")},
		{"bitnami/redis", "", ByImplicit, "", "", implicitCandidates("bitnami/redis", "bitnami/redis")},
		{"docker.io", "", ByImplicit, "", "", implicitCandidates("library/docker.io", "docker.io")}, // one component: not a prefix
		{"platform", "", ByImplicit, "", "", implicitCandidates("library/platform", "platform")},
	}
	for _, tt := range tests {
		d, err := r.Route(tt.name, tt.ns)
		if err != nil {
			t.Errorf("Route(%q, ns=%q): %v", tt.name, tt.ns, err)
			continue
		}
		want := Decision{How: tt.how, Upstream: tt.upstream, Repo: tt.repo, Name: tt.name, Candidates: tt.cands}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("Route(%q, ns=%q)\n got %+v\nwant %+v", tt.name, tt.ns, d, want)
		}
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	r := testRouter(t)
	long := strings.Repeat("a", oci.MaxNameLength)
	tests := []struct {
		name, ns string
		code     oci.ErrorCode
		msg      string
	}{
		{"foo/bar", "127.0.0.1:5000", oci.CodeNameUnknown, `registry "127.0.0.1:5000" is not mirrored here`},
		{"nginx", "evil.example", oci.CodeNameUnknown, `registry "evil.example" is not mirrored here`},
		{"evil.example/x", "", oci.CodeNameUnknown, `registry "evil.example" is not mirrored here`},
		{"evil.example/x/y", "", oci.CodeNameUnknown, `registry "evil.example" is not mirrored here`},
		{"localhost/x", "", oci.CodeNameUnknown, `registry "localhost" is not mirrored here`},
		{"LOCALHOST/x", "", oci.CodeNameUnknown, `registry "LOCALHOST" is not mirrored here`},
		{"localhost:5000/x", "", oci.CodeNameUnknown, `registry "localhost:5000" is not mirrored here`},
		{"127.0.0.1:5000/x", "", oci.CodeNameUnknown, `registry "127.0.0.1:5000" is not mirrored here`},
		{"", "", oci.CodeNameInvalid, "empty repository name"},
		{"gcr.io/UPPER", "", oci.CodeNameInvalid, `invalid repository name "UPPER"`},
		{"Nginx", "", oci.CodeNameInvalid, `invalid repository name "Nginx"`},
		{"a//b", "docker.io", oci.CodeNameInvalid, `invalid repository name "a//b"`},
		{"docker.io/", "", oci.CodeNameInvalid, `invalid repository name ""`},
		{long, "", oci.CodeNameInvalid, "invalid repository name"}, // "library/"+long is too long
		{"platform/Bad", "", oci.CodeNameInvalid, `invalid repository name "platform/Bad"`},
	}
	for _, tt := range tests {
		_, err := r.Route(tt.name, tt.ns)
		var oe *oci.Error
		if !errors.As(err, &oe) || oe.Code != tt.code || !strings.Contains(oe.Message, tt.msg) {
			t.Errorf("Route(%q, ns=%q) error = %v, want %s containing %q", tt.name, tt.ns, err, tt.code, tt.msg)
		}
	}
}

func TestRouteNoImplicitUpstream(t *testing.T) {
	t.Parallel()
	no := false
	r, err := New([]config.Upstream{{Name: "registry.corp.example", Implicit: &no}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Route("nginx", "")
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != oci.CodeNameUnknown {
		t.Fatalf("error = %v, want NAME_UNKNOWN", err)
	}
	if d, err := r.Route("registry.corp.example/app", ""); err != nil || d.Repo != "app" {
		t.Errorf("explicit route to non-implicit upstream: %+v, %v", d, err)
	}
}

func TestCanonicalAndUpstreams(t *testing.T) {
	t.Parallel()
	r := testRouter(t)
	for in, want := range map[string]string{
		"docker.io": "docker.io", "INDEX.docker.io": "docker.io", "registry-1.docker.io": "docker.io",
		"k8s.gcr.io": "registry.k8s.io", "Registry.K8s.Io": "registry.k8s.io", "mcr.microsoft.com": "mcr.microsoft.com",
	} {
		if got, ok := r.Canonical(in); !ok || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := r.Canonical("example.com"); ok {
		t.Error("Canonical(example.com) found")
	}
	want := []string{"docker.io", "gcr.io", "registry.k8s.io", "quay.io", "ghcr.io", "mcr.microsoft.com", "registry.corp.example"}
	got := r.Upstreams()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Upstreams() = %v", got)
	}
	got[0] = "changed"
	if r.Upstreams()[0] != "docker.io" {
		t.Error("Upstreams() exposes internal state")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ups := config.DefaultUpstreams()
	tests := []struct {
		name   string
		ups    []config.Upstream
		routes []config.Route
		want   string
	}{
		{"duplicate alias", append(ups, config.Upstream{Name: "hub.example", Aliases: []string{"Docker.io"}}), nil, "used by both"},
		{"empty name", []config.Upstream{{Name: ""}}, nil, "empty name"},
		{"unknown route upstream", ups, []config.Route{{Match: "x", Upstream: "nowhere.example"}}, "unknown upstream"},
		{"bad pattern", ups, []config.Route{{Match: "***", Upstream: "gcr.io"}}, "invalid glob"},
	}
	for _, tt := range tests {
		if _, err := New(tt.ups, tt.routes); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestDockerHubRepo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"nginx": "library/nginx", "library/nginx": "library/nginx", "bitnami/redis": "bitnami/redis", "": "", "a/b/c": "a/b/c"} {
		if got := DockerHubRepo(in); got != want {
			t.Errorf("DockerHubRepo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRouteExamples routes through the routers built from the example
// configurations, the way the mirror will.
func TestRouteExamples(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("../../examples/company-mirror.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg.Upstreams, cfg.Routes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Route("platform/api", "")
	if err != nil || d.Upstream != "registry.corp.example.com" {
		t.Errorf("platform/api: %+v, %v", d, err)
	}
	d, err = r.Route("nginx", "")
	if err != nil || d.How != ByImplicit || len(d.Candidates) != 5 || d.Candidates[0].Repo != "library/nginx" {
		t.Errorf("nginx: %+v, %v", d, err)
	}
}
