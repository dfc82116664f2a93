package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseEmptyIsDefault(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "# only a comment\n", "---\n", "~\n", "{}\n", "---\n---\n"} {
		cfg, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(cfg.Upstreams, Default().Upstreams) || cfg.Listen != ":5000" || cfg.Cache != Default().Cache {
			t.Errorf("Parse(%q) differs from Default()", in)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Parse(%q).Validate(): %v", in, err)
		}
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("cache:\n  tagTTL: 0s\nstorage:\n  maxSize: 50GiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache.TagTTL != 0 {
		t.Errorf("tagTTL = %v, want 0 (explicit zero kept)", cfg.Cache.TagTTL)
	}
	if cfg.Cache.NegativeTTL.D() != time.Minute || cfg.Cache.ManifestMemory != 64<<20 {
		t.Errorf("cache defaults lost: %+v", cfg.Cache)
	}
	if cfg.Storage.Path != "./data" || cfg.Storage.Driver != "filesystem" || cfg.Storage.LowWater != 0.9 || cfg.Storage.MaxSize != 50<<30 {
		t.Errorf("storage = %+v", cfg.Storage)
	}
	if len(cfg.Upstreams) != 6 {
		t.Errorf("default upstreams lost: %d", len(cfg.Upstreams))
	}
}

func TestParseUpstreamsReplaceDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
upstreams:
  - name: quay.io
    endpoint: https://quay.io
    timeout: 5s
  - name: registry.example.com
    endpoint: https://registry.example.com
    implicit: false
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Upstreams) != 2 || cfg.Upstreams[0].Name != "quay.io" {
		t.Fatalf("upstreams = %+v", cfg.Upstreams)
	}
	q, r := cfg.Upstreams[0], cfg.Upstreams[1]
	if q.Timeout.D() != 5*time.Second || q.DialTimeout.D() != 10*time.Second || q.BlobTimeout.D() != time.Hour {
		t.Errorf("per-upstream defaults: %+v", q)
	}
	if !q.IsImplicit() || r.IsImplicit() {
		t.Errorf("implicit: %v %v", q.IsImplicit(), r.IsImplicit())
	}
	if q.Aliases != nil {
		t.Errorf("aliases leaked from the defaults: %v", q.Aliases)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
upstreams:
  - &slow
    name: a.example
    endpoint: https://a.example
    timeout: 90s
  - <<: *slow
    name: b.example
    endpoint: https://b.example
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstreams[1].Timeout.D() != 90*time.Second || cfg.Upstreams[1].Name != "b.example" {
		t.Errorf("merge: %+v", cfg.Upstreams[1])
	}
	if _, err := Parse([]byte("x: &a {tagTTl: 1m}\ncache:\n  <<: *a\n")); err == nil {
		t.Error("unknown keys through a merge were accepted")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"unknown key", "listen: \":5000\"\ncache:\n  tagTTl: 5m\n",
			`config: line 3: unknown key "tagTTl" in cache (did you mean "tagTTL"?)`},
		{"unknown top-level key", "lsten: \":5000\"\n",
			`config: line 1: unknown key "lsten" in the top level (did you mean "listen"?)`},
		{"unknown key in list item", "upstreams:\n  - name: a.io\n    endpoint: https://a.io\n    pasword: x\n",
			`config: line 4: unknown key "pasword" in upstreams[0] (did you mean "password"?)`},
		{"no suggestion", "cache:\n  flavour: vanilla\n",
			`config: line 2: unknown key "flavour" in cache`},
		{"duplicate key", "listen: \":1\"\nlisten: \":2\"\n",
			`config: line 2: key "listen" given twice in the top level (first at line 1)`},
		{"bad size", "storage:\n  maxSize: 50 gigs\n",
			`config: line 2: storage.maxSize: invalid size "50 gigs": unknown unit "gigs"`},
		{"negative size", "storage:\n  maxSize: -1GiB\n",
			`config: line 2: storage.maxSize: invalid size "-1GiB"`},
		{"bad duration", "cache:\n  negativeTTL: 30\n",
			`config: line 2: cache.negativeTTL: invalid duration "30"`},
		{"bad float", "storage:\n  lowWater: lots-and-lots\n",
			`config: line 2: storage.lowWater: invalid value "lots-and-lots", want a number`},
		{"bad bool", "upstreams:\n  - name: a.io\n    endpoint: https://a.io\n    implicit: maybe\n",
			`config: line 4: upstreams[0].implicit: invalid value "maybe", want true or false`},
		{"bad int", "limits:\n  burst: 1.5\n",
			`config: line 2: limits.burst: invalid value "1.5", want a whole number`},
		{"mapping for string", "listen:\n  port: 5000\n",
			`config: line 2: listen: invalid value a mapping, want a string`},
		{"scalar for list", "upstreams: docker.io\n",
			`config: line 1: upstreams: invalid value "docker.io", want a list`},
		{"scalar for struct", "cache: 5m\n",
			`config: line 1: cache: invalid value "5m", want a mapping of keys`},
		{"top level list", "- a\n- b\n",
			`config: line 1: the top level must be a mapping of keys`},
		{"syntax", "cache:\n  tagTTL: 1m\n nope: [\n",
			`config: line 2: invalid YAML: did not find expected key`},
		{"two documents", "listen: \":1\"\n---\nlisten: \":2\"\n",
			`config: line 2: only one YAML document is allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %q\nwant prefix\n  %q", err.Error(), tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line == 0 {
				t.Errorf("error %v is not an *Error with a line", err)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("storage:\n  lowWater: x\ncache:\n  tagTTL: y\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("want both lines reported, got %v", err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "regmirror.yaml")
	if err := os.WriteFile(path, []byte("cache:\n  tagTTl: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "config: "+path+": line 2: unknown key") {
		t.Errorf("Load error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("upstreams:\n  - name: a.io\n    endpoint: ftp://a.io\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	want := "config: " + path + ": line 3: upstreams[0].endpoint: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Validate error = %v, want prefix %q", err, want)
	}
}
