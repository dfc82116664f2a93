package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestExamples parses and validates every file in examples/ and compares
// the resolved configuration (defaults filled in) with a golden file, so
// that a change of defaults or of decoding shows up in review.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example files, want at least 4", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "golden", name), cfg)
		})
	}
}

func TestDefaultGolden(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "golden", "default.yaml"), Default())
}

func checkGolden(t *testing.T, path string, cfg *Config) {
	t.Helper()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("resolved config differs from %s (go test -update rewrites it):\n%s", path, got)
	}
	// The resolved form is itself a valid configuration file.
	back, err := Parse(got)
	if err != nil {
		t.Fatalf("golden output does not parse back: %v", err)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("golden output does not validate: %v", err)
	}
}

func TestExampleFacts(t *testing.T) {
	t.Parallel()
	load := func(name string) *Config {
		cfg, err := Load(filepath.Join("../../examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	pub := load("public-mirror.yaml")
	if len(pub.Upstreams) != 6 || pub.PublicURL == "" || pub.Storage.MaxSize == 0 || pub.Limits.RequestsPerSecond == 0 {
		t.Errorf("public-mirror: %d upstreams, publicURL %q, maxSize %v, rps %v", len(pub.Upstreams), pub.PublicURL, pub.Storage.MaxSize, pub.Limits.RequestsPerSecond)
	}
	co := load("company-mirror.yaml")
	var internal *Upstream
	for i := range co.Upstreams {
		if !co.Upstreams[i].IsImplicit() {
			internal = &co.Upstreams[i]
		}
	}
	if internal == nil || co.Upstreams[0].PasswordFile == "" || len(co.Routes) == 0 {
		t.Errorf("company-mirror: want an implicit:false upstream, a Docker Hub passwordFile and routes")
	}
	cn := load("china-public-mirror.yaml")
	if cn.PublicURL == "" || cn.Limits.ClientBandwidth == 0 {
		t.Errorf("china-public-mirror: publicURL %q, clientBandwidth %v", cn.PublicURL, cn.Limits.ClientBandwidth)
	}
	for _, u := range load("test.yaml").Upstreams {
		if !strings.HasPrefix(u.Endpoint, "http://127.0.0.1:") {
			t.Errorf("test.yaml: upstream %s endpoint %s is not on loopback", u.Name, u.Endpoint)
		}
	}
}
