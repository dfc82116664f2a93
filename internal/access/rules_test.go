package access

import (
	"errors"
	"testing"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/oci"
)

func TestRules(t *testing.T) {
	global := config.Access{
		Deny:        []string{"docker.io/library/evil*", "**/cryptominer"},
		DenyMessage: "blocked by policy, see https://wiki.example/mirror",
	}
	ups := []config.Upstream{
		{Name: "docker.io"},
		{Name: "ghcr.io", Allow: []string{"myorg/**"}, Deny: []string{"myorg/secret"}},
		{Name: "quay.io", Deny: []string{"**"}, DenyMessage: "quay.io is not mirrored for you"},
	}
	r, err := NewRules(global, ups)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		upstream, repo string
		cause          error // nil: allowed
		message        string
	}{
		{"docker.io", "library/nginx", nil, ""},
		{"docker.io", "library/evil", ErrDenied, global.DenyMessage},
		{"docker.io", "library/evilcorp", ErrDenied, global.DenyMessage},
		{"docker.io", "someone/cryptominer", ErrDenied, global.DenyMessage},
		{"gcr.io", "x/y/cryptominer", ErrDenied, global.DenyMessage},
		{"ghcr.io", "myorg/app", nil, ""},
		{"ghcr.io", "myorg/team/app", nil, ""},
		{"ghcr.io", "other/app", ErrNotAllowed, "ghcr.io/other/app is not on this mirror's list of allowed images"},
		{"ghcr.io", "myorg/secret", ErrDenied, "pulling ghcr.io/myorg/secret is not allowed on this mirror"},
		{"ghcr.io", "myorg/cryptominer", ErrDenied, global.DenyMessage}, // per-upstream allows, global denies
		{"quay.io", "anything/at/all", ErrDenied, "quay.io is not mirrored for you"},
	}
	for _, tt := range tests {
		err := r.Check(tt.upstream, tt.repo)
		if tt.cause == nil {
			if err != nil {
				t.Errorf("Check(%s, %s) = %v, want allowed", tt.upstream, tt.repo, err)
			}
			continue
		}
		var oe *oci.Error
		if !errors.As(err, &oe) || oe.Code != oci.CodeDenied || oe.Status() != 403 || !errors.Is(err, tt.cause) || oe.Message != tt.message {
			t.Errorf("Check(%s, %s) = %#v, want DENIED %v %q", tt.upstream, tt.repo, err, tt.cause, tt.message)
		}
	}
}

func TestGlobalAllowList(t *testing.T) {
	r, err := NewRules(config.Access{Allow: []string{"docker.io/library/*", "ghcr.io/myorg/**"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		up, repo string
		ok       bool
	}{
		{"docker.io", "library/alpine", true},
		{"docker.io", "bitnami/redis", false},
		{"ghcr.io", "myorg/a/b", true},
		{"gcr.io", "distroless/static", false},
	} {
		if err := r.Check(c.up, c.repo); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrNotAllowed)) {
			t.Errorf("Check(%s, %s) = %v", c.up, c.repo, err)
		}
	}
}

func TestRulesEmptyAndInvalid(t *testing.T) {
	var nilRules *Rules
	if !nilRules.Empty() || nilRules.Check("docker.io", "x/y") != nil {
		t.Fatal("nil Rules refused")
	}
	r, err := NewRules(config.Access{}, []config.Upstream{{Name: "docker.io"}})
	if err != nil || !r.Empty() || r.Check("docker.io", "library/x") != nil {
		t.Fatalf("empty rules: %v", err)
	}
	if _, err := NewRules(config.Access{Deny: []string{"a***"}}, nil); err == nil {
		t.Fatal("invalid global pattern accepted")
	}
	if _, err := NewRules(config.Access{}, []config.Upstream{{Name: "x.io", Allow: []string{""}}}); err == nil {
		t.Fatal("invalid upstream pattern accepted")
	}
}
