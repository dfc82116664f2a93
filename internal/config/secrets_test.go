package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolvePassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		u       Upstream
		want    string
		wantErr bool
	}{
		{Upstream{Name: "a", Password: "inline"}, "inline", false},
		{Upstream{Name: "a"}, "", false},
		{Upstream{Name: "a", PasswordFile: file}, "s3cret", false},
		{Upstream{Name: "a", PasswordFile: empty}, "", true},
		{Upstream{Name: "a", PasswordFile: filepath.Join(dir, "missing")}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.u.ResolvePassword()
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ResolvePassword(%+v) = %q, %v", tt.u, got, err)
		}
	}
}

func TestResolveSecretKey(t *testing.T) {
	t.Setenv(EnvS3SecretKey, "from-env")
	if got := (&S3{SecretKey: "inline"}).ResolveSecretKey(); got != "inline" {
		t.Errorf("inline secret: %q", got)
	}
	if got := (&S3{}).ResolveSecretKey(); got != "from-env" {
		t.Errorf("env secret: %q", got)
	}
}
