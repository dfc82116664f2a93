package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"empty listen", func(c *Config) { c.Listen = "" }, "listen: must not be empty"},
		{"bad listen", func(c *Config) { c.Listen = "5000" }, "listen: \"5000\" is not a host:port"},
		{"bad listen port", func(c *Config) { c.Listen = ":99999" }, "listen: \":99999\": bad port"},
		{"admin off", func(c *Config) { c.Admin.Listen = "off" }, ""},
		{"admin empty", func(c *Config) { c.Admin.Listen = "" }, ""},
		{"admin same as listen", func(c *Config) { c.Admin.Listen = c.Listen }, "admin.listen: same address as listen"},
		{"publicURL with path", func(c *Config) { c.PublicURL = "https://m.example/v2" }, "publicURL: \"https://m.example/v2\": must not have a path"},
		{"publicURL ok", func(c *Config) { c.PublicURL = "https://m.example/" }, ""},
		{"duplicate name", func(c *Config) { c.Upstreams[1].Name = "Docker.IO" }, "upstreams[1].name: \"Docker.IO\" is already used by upstreams[0]"},
		{"alias equals other name", func(c *Config) { c.Upstreams[1].Aliases = []string{"QUAY.io"} }, "upstreams[3].name: \"quay.io\" is already used by upstreams[1]"},
		{"alias repeats own name", func(c *Config) { c.Upstreams[3].Aliases = []string{"quay.io"} }, "upstreams[3].aliases[0]: \"quay.io\" is already used by upstreams[3]"},
		{"empty name", func(c *Config) { c.Upstreams[2].Name = "" }, "upstreams[2].name: must not be empty"},
		{"bad host", func(c *Config) { c.Upstreams[2].Name = "https://gcr.io" }, "upstreams[2].name: \"https://gcr.io\" is not a registry host name"},
		{"bad alias", func(c *Config) { c.Upstreams[2].Aliases = []string{"a b"} }, "upstreams[2].aliases[0]:"},
		{"host with port", func(c *Config) { c.Upstreams[2].Name = "localhost:5000" }, ""},
		{"endpoint scheme", func(c *Config) { c.Upstreams[2].Endpoint = "ftp://gcr.io" }, "upstreams[2].endpoint: \"ftp://gcr.io\": scheme must be http or https"},
		{"endpoint relative", func(c *Config) { c.Upstreams[2].Endpoint = "gcr.io" }, "upstreams[2].endpoint: \"gcr.io\": scheme must be http or https"},
		{"endpoint path", func(c *Config) { c.Upstreams[2].Endpoint = "https://gcr.io/v2/" }, "upstreams[2].endpoint: \"https://gcr.io/v2/\": must not have a path"},
		{"endpoint slash", func(c *Config) { c.Upstreams[2].Endpoint = "https://gcr.io/" }, ""},
		{"endpoint query", func(c *Config) { c.Upstreams[2].Endpoint = "https://gcr.io?x=1" }, "upstreams[2].endpoint: \"https://gcr.io?x=1\": must not have a query"},
		{"endpoint credentials", func(c *Config) { c.Upstreams[2].Endpoint = "https://u:secret@gcr.io" }, "upstreams[2].endpoint: \"https://u:xxxxx@gcr.io\": credentials do not belong in the URL"},
		{"endpoint empty", func(c *Config) { c.Upstreams[2].Endpoint = "" }, "upstreams[2].endpoint: must not be empty"},
		{"username alone", func(c *Config) { c.Upstreams[0].Username = "me" }, "upstreams[0].username: needs a password or passwordFile"},
		{"password alone", func(c *Config) { c.Upstreams[0].Password = "pw" }, "upstreams[0].username: required when a password is set"},
		{"password and file", func(c *Config) {
			c.Upstreams[0].Username, c.Upstreams[0].Password, c.Upstreams[0].PasswordFile = "me", "pw", "/f"
		}, "upstreams[0].passwordFile: set either password or passwordFile, not both"},
		{"credentials ok", func(c *Config) { c.Upstreams[0].Username, c.Upstreams[0].PasswordFile = "me", "/f" }, ""},
		{"negative timeout", func(c *Config) { c.Upstreams[0].Timeout = -1 }, "upstreams[0].timeout: must not be negative"},
		{"bad allow glob", func(c *Config) { c.Upstreams[0].Allow = []string{"ok/*", "***"} }, "upstreams[0].allow[1]: invalid glob pattern"},
		{"bad deny glob", func(c *Config) { c.Access.Deny = []string{""} }, "access.deny[0]: invalid glob pattern"},
		{"route ok by alias", func(c *Config) { c.Routes = []Route{{Match: "pause", Upstream: "K8S.gcr.io"}} }, ""},
		{"route unknown upstream", func(c *Config) { c.Routes = []Route{{Match: "x/*", Upstream: "nowhere.example"}} }, "routes[0].upstream: \"nowhere.example\" is not a configured upstream"},
		{"route bad glob", func(c *Config) { c.Routes = []Route{{Match: "a b", Upstream: "gcr.io"}} }, "routes[0].match: invalid glob pattern"},
		{"no upstreams", func(c *Config) { c.Upstreams = nil }, "upstreams: at least one upstream is required"},
		{"lowWater zero", func(c *Config) { c.Storage.LowWater = 0 }, "storage.lowWater: 0 is not in (0, 1]"},
		{"lowWater one", func(c *Config) { c.Storage.LowWater = 1 }, ""},
		{"lowWater big", func(c *Config) { c.Storage.LowWater = 1.5 }, "storage.lowWater"},
		{"lowWater NaN", func(c *Config) { c.Storage.LowWater = math.NaN() }, "storage.lowWater"},
		{"driver", func(c *Config) { c.Storage.Driver = "gcs" }, "storage.driver: \"gcs\" is not one of filesystem, s3"},
		{"s3 missing", func(c *Config) { c.Storage.Driver = "s3" }, "storage.s3.endpoint: required with driver s3"},
		{"s3 ok", func(c *Config) {
			c.Storage.Driver, c.Storage.S3.Endpoint, c.Storage.S3.Bucket = "s3", "127.0.0.1:9000", "b"
		}, ""},
		{"empty path", func(c *Config) { c.Storage.Path = "" }, "storage.path: must not be empty"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format: \"xml\" is not one of text, json"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level: \"loud\" is not one of debug, info, warn, error"},
		{"log level case", func(c *Config) { c.Log.Level = "DEBUG" }, ""},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "/c.pem" }, "tls: certFile and keyFile go together"},
		{"acme and cert", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ACME.Enabled = "/c", "/k", true }, "tls.acme.enabled: cannot be used together with certFile"},
		{"bad proxy cidr", func(c *Config) { c.Limits.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/99"} }, "limits.trustedProxies[1]: \"10.0.0.0/99\" is not an IP address or CIDR prefix"},
		{"plain IP exempt", func(c *Config) { c.Limits.Exempt = []string{"::1", "192.0.2.0/24"} }, ""},
		{"negative rate", func(c *Config) { c.Limits.RequestsPerSecond = -1 }, "limits.requestsPerSecond: must be a number >= 0"},
		{"redis url", func(c *Config) { c.Coordination.Redis = "localhost:6379" }, "coordination.redis: want a redis://host:port/db URL"},
		{"redis ok", func(c *Config) { c.Coordination.Redis = "redis://127.0.0.1:6379/0" }, ""},
		{"prefetch", func(c *Config) {
			c.Prefetch = []Prefetch{{Image: "nginx:1", Platforms: []string{"linux/amd64", "linux"}}}
		}, "prefetch[0].platforms[1]: \"linux\" is not os/arch[/variant]"},
		{"prefetch no image", func(c *Config) { c.Prefetch = []Prefetch{{}} }, "prefetch[0].image: must not be empty"},
		{"empty token", func(c *Config) { c.Auth.Tokens = []string{" "} }, "auth.tokens[0]: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "config: "+tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, "config: "+tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Key == "" {
				t.Errorf("not an *Error with a key: %#v", err)
			}
		})
	}
}

func TestValidateLines(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`storage:
  driver: s3
  s3:
    endpoint: 127.0.0.1:9000
upstreams:
  - name: a.example
    endpoint: https://a.example
    aliases:
      - b.example
      - A.EXAMPLE
routes:
  - match: "x/**"
    upstream: c.example
`))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{
		"config: line 3: storage.s3.bucket: required with driver s3", // falls back to the parent key's line
		"config: line 10: upstreams[0].aliases[1]: \"A.EXAMPLE\" is already used by upstreams[0]",
		"config: line 13: routes[0].upstream: \"c.example\" is not a configured upstream",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors\n%v\nwant a line %q", err, want)
		}
	}
}
