package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"1024", 1024},
		{"100B", 100},
		{"1KB", 1000},
		{"1kb", 1000},
		{"512MiB", 512 << 20},
		{"512mib", 512 << 20},
		{"50GiB", 50 << 30},
		{"10GB", 10e9},
		{"1.5GiB", 3 << 29},
		{"2TiB", 2 << 40},
		{"3TB", 3e12},
		{" 64 MiB ", 64 << 20},
		{"0.5KiB", 512},
		{"1.0001KB", 1000}, // rounded down to a whole byte
		{"8388607TiB", 8388607 << 40},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-1", "-1GiB", "GiB", "1 GiBs", "1K", "1e3", "1/2", "+5", "1.", ".5", "0x10", "9223372036854775808", "8388608TiB", "1,5GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded, want error", bad)
		}
	}
}

func TestSizeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{50 << 30, "50GiB"},
		{512 << 20, "512MiB"},
		{3 << 29, "1536MiB"},
		{10e9, "10GB"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{100, "100B"},
		{1 << 40, "1TiB"},
		{-5, "-5B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in < 0 {
			continue
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("round trip of %d: %d, %v", int64(tt.in), back, err)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{"10m": 10 * time.Minute, "0s": 0, "0": 0, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond}
	for in, want := range good {
		d, err := ParseDuration(in)
		if err != nil || d.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "30", "-1s", "10 minutes", "1d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded, want error", bad)
		}
	}
	strs := map[Duration]string{
		Duration(10 * time.Minute):        "10m",
		Duration(time.Hour):               "1h",
		Duration(90 * time.Minute):        "1h30m",
		Duration(30 * time.Second):        "30s",
		Duration(61 * time.Second):        "1m1s",
		0:                                 "0s",
		Duration(1500 * time.Millisecond): "1.5s",
	}
	for d, want := range strs {
		if got := d.String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", time.Duration(d), got, want)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("round trip of %v: %v, %v", time.Duration(d), back, err)
		}
	}
}

func TestTextMarshaling(t *testing.T) {
	t.Parallel()
	var s Size
	if err := s.UnmarshalText([]byte("2GiB")); err != nil || s != 2<<30 {
		t.Fatalf("Size.UnmarshalText = %d, %v", s, err)
	}
	if b, _ := s.MarshalText(); string(b) != "2GiB" {
		t.Errorf("Size.MarshalText = %q", b)
	}
	if err := s.UnmarshalText([]byte("lots")); err == nil {
		t.Error("Size.UnmarshalText(lots) succeeded")
	}
	var d Duration
	if err := d.UnmarshalText([]byte("90s")); err != nil || d.D() != 90*time.Second {
		t.Fatalf("Duration.UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("Duration.MarshalText = %q", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("Duration.UnmarshalText(soon) succeeded")
	}
}

func TestUnitsInYAML(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("storage:\n  maxSize: 1024\ncache:\n  tagTTL: 0\n  manifestMemory: 1.5GiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.MaxSize != 1024 || cfg.Cache.TagTTL != 0 || cfg.Cache.ManifestMemory != 3<<29 {
		t.Errorf("got maxSize %d tagTTL %v manifestMemory %d", cfg.Storage.MaxSize, cfg.Cache.TagTTL, cfg.Cache.ManifestMemory)
	}
	_, err = Parse([]byte("storage:\n  maxSize: [1]\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: storage.maxSize: want a size") {
		t.Errorf("list as size: %v", err)
	}
}
