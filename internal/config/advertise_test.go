package config

import (
	"strings"
	"testing"
)

func TestAdvertiseURL(t *testing.T) {
	tests := []struct {
		name      string
		listen    string
		advertise string
		env       map[string]string
		tls       bool
		want      string
		wantErr   string
	}{
		{name: "default listen has no host", listen: ":5000", want: ""},
		{name: "unspecified listen", listen: "0.0.0.0:5000", want: ""},
		{name: "unspecified v6 listen", listen: "[::]:5000", want: ""},
		{name: "concrete listen", listen: "10.0.0.5:5000", want: "http://10.0.0.5:5000"},
		{name: "concrete v6 listen", listen: "[fd00::5]:5000", want: "http://[fd00::5]:5000"},
		{name: "tls listen", listen: "mirror-0.mirror:443", tls: true, want: "https://mirror-0.mirror:443"},
		{name: "explicit", listen: ":5000", advertise: "http://node-a:5000/", want: "http://node-a:5000"},
		{name: "env expansion", listen: ":5000", advertise: "http://${TEST_POD_IP}:5000", env: map[string]string{"TEST_POD_IP": "10.1.2.3"}, want: "http://10.1.2.3:5000"},
		{name: "unset variable", listen: ":5000", advertise: "http://${TEST_UNSET_VAR}:5000", wantErr: "$TEST_UNSET_VAR is not set"},
		{name: "override", listen: "10.0.0.5:5000", advertise: "http://x:1", env: map[string]string{EnvAdvertise: "http://10.9.9.9:5000"}, want: "http://10.9.9.9:5000"},
		{name: "not a URL", listen: ":5000", advertise: "10.0.0.5:5000", wantErr: "is not a URL"},
		{name: "scheme", listen: ":5000", advertise: "ftp://a:5000", wantErr: "scheme must be http or https"},
		{name: "path", listen: ":5000", advertise: "http://a:5000/v2", wantErr: "must not have a path"},
		{name: "unspecified", listen: ":5000", advertise: "http://0.0.0.0:5000", wantErr: "unspecified address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvAdvertise, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := Default()
			c.Listen, c.Coordination.Advertise = tt.listen, tt.advertise
			if tt.tls {
				c.TLS.CertFile, c.TLS.KeyFile = "/c.pem", "/k.pem"
			}
			got, err := c.AdvertiseURL()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AdvertiseURL() = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("AdvertiseURL() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestValidateAdvertise(t *testing.T) {
	t.Setenv(EnvAdvertise, "")
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"single node needs none", func(c *Config) {}, ""},
		{"redis without advertise", func(c *Config) { c.Coordination.Redis = "redis://r:6379/0" }, ""},
		{"redis with advertise", func(c *Config) {
			c.Coordination.Redis, c.Coordination.Advertise = "redis://r:6379/0", "http://10.0.0.5:5000"
		}, ""},
		{"redis with concrete listen", func(c *Config) { c.Coordination.Redis, c.Listen = "redis://r:6379/0", "10.0.0.5:5000" }, ""},
		{"bad advertise without redis", func(c *Config) { c.Coordination.Advertise = "node-a:5000" }, "coordination.advertise:"},
		{"unset variable", func(c *Config) { c.Coordination.Advertise = "http://${TEST_UNSET_VAR}:5000" }, "coordination.advertise: \"http://${TEST_UNSET_VAR}:5000\": environment variable $TEST_UNSET_VAR is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
