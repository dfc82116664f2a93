package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDependencies keeps test-only and heavy modules out of the
// binary: go-containerregistry is a test fixture only, and the S3 and Redis
// clients stay inside their own packages.
func TestBinaryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/google/go-containerregistry") {
			t.Errorf("the binary links %s (test fixtures only)", d)
		}
		if strings.HasSuffix(d, "internal/registrytest") {
			t.Errorf("the binary links the test fixture %s", d)
		}
	}
	for _, pkg := range []string{"github.com/minio/minio-go/v7", "github.com/redis/go-redis/v9"} {
		users, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/regmirror/regmirror/...").Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		for _, line := range strings.Split(string(users), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			for _, imp := range f[1:] {
				if imp == pkg && !allowedUser(f[0]) {
					t.Errorf("%s imports %s; keep it inside its backend package", f[0], pkg)
				}
			}
		}
	}
}

func allowedUser(p string) bool {
	for _, ok := range []string{"/internal/store/s3", "/internal/meta/redis", "/internal/coord", "/internal/serve"} {
		if strings.Contains(p, ok) {
			return true
		}
	}
	return false
}
