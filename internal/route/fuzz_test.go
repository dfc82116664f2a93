package route

import (
	"errors"
	"strings"
	"testing"

	"github.com/regmirror/regmirror/internal/oci"
)

// FuzzRoute checks the router's invariants on arbitrary names and ns
// values: it never panics, every error is NAME_UNKNOWN or NAME_INVALID, and
// every repository it hands out is valid and has Docker Hub's "library/"
// when it goes to docker.io.
func FuzzRoute(f *testing.F) {
	f.Add("nginx", "")
	f.Add("library/nginx", "docker.io")
	f.Add("k8s.gcr.io/pause", "")
	f.Add("evil.example/x", "")
	f.Add("foo/bar", "127.0.0.1:5000")
	r := testRouter(f)
	f.Fuzz(func(t *testing.T, name, ns string) {
		d, err := r.Route(name, ns)
		if err != nil {
			var oe *oci.Error
			if !errors.As(err, &oe) || (oe.Code != oci.CodeNameUnknown && oe.Code != oci.CodeNameInvalid) {
				t.Fatalf("Route(%q, %q): unexpected error %v", name, ns, err)
			}
			if len(oe.Message) > 300 {
				t.Fatalf("message echoes too much: %d bytes", len(oe.Message))
			}
			return
		}
		if d.Name != name {
			t.Fatalf("Name = %q, want %q", d.Name, name)
		}
		check := func(up, repo string) {
			if !oci.ValidRepository(repo) {
				t.Fatalf("Route(%q, %q): invalid repo %q", name, ns, repo)
			}
			if up == DockerHub && !strings.Contains(repo, "/") {
				t.Fatalf("Route(%q, %q): docker.io repo %q without namespace", name, ns, repo)
			}
			if _, ok := r.Canonical(up); !ok {
				t.Fatalf("Route(%q, %q): unknown upstream %q", name, ns, up)
			}
		}
		if d.How == ByImplicit {
			if d.Upstream != "" || d.Repo != "" || len(d.Candidates) == 0 {
				t.Fatalf("implicit decision %+v", d)
			}
			for _, c := range d.Candidates {
				check(c.Upstream, c.Repo)
			}
			return
		}
		check(d.Upstream, d.Repo)
	})
}
