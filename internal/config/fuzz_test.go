package config

import (
	"bytes"
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds arbitrary bytes to the configuration parser. Parse must
// never panic, must fail only with *Error values, and a configuration it
// accepts and Validate passes must survive a round trip: written back as
// YAML, it parses to the same resolved configuration. The seed corpus in
// testdata/fuzz/FuzzParse holds the examples and hostile shapes (anchors,
// merges, huge numbers, deep nesting, duplicate keys).
func FuzzParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("listen: \":5000\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // a configuration file is small; keep runs fast
		}
		cfg, err := Parse(data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %v (%T) is not a *config.Error", err, err)
			}
			return
		}
		verr := cfg.Validate()
		if verr != nil {
			var ce *Error
			if !errors.As(verr, &ce) {
				t.Fatalf("Validate error %v (%T) is not a *config.Error", verr, verr)
			}
			return
		}
		first := encode(t, cfg)
		back, err := Parse(first)
		if err != nil {
			t.Fatalf("resolved config does not parse back: %v\n%s", err, first)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("resolved config does not validate again: %v\n%s", err, first)
		}
		if second := encode(t, back); !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the config:\n%s\n---\n%s", first, second)
		}
	})
}

func encode(t *testing.T, cfg *Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return buf.Bytes()
}
