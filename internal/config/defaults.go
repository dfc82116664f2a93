package config

import "time"

// Defaults that are not obvious from Default's body.
const (
	DefaultUpstreamTimeout     = 30 * time.Second
	DefaultUpstreamDialTimeout = 10 * time.Second
	DefaultUpstreamBlobTimeout = time.Hour
	DefaultBreakerFailures     = 5
	DefaultBreakerCooldown     = 30 * time.Second
)

// Default returns the configuration used when no file is given: a mirror
// of the six big public registries on :5000 with a filesystem cache in
// ./data. Each call returns a new value.
func Default() *Config {
	c := &Config{
		Listen: ":5000",
		Storage: Storage{
			Driver:   "filesystem",
			Path:     "./data",
			LowWater: 0.9,
		},
		Cache: Cache{
			TagTTL:          Duration(10 * time.Minute),
			NegativeTTL:     Duration(time.Minute),
			ManifestMemory:  64 << 20,
			BlobIdleTimeout: Duration(60 * time.Second),
		},
		Upstreams: DefaultUpstreams(),
		Log:       Log{Level: "info", Format: "text"},
		Admin:     Admin{Listen: "127.0.0.1:5001"},
		Server: Server{
			ReadHeaderTimeout: Duration(10 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
			WriteStallTimeout: Duration(60 * time.Second),
		},
	}
	return c
}

// DefaultUpstreams returns the built-in upstream list, in search order:
// docker.io, gcr.io, registry.k8s.io, quay.io, ghcr.io, mcr.microsoft.com,
// with the per-upstream defaults applied.
func DefaultUpstreams() []Upstream {
	ups := []Upstream{
		{Name: "docker.io", Endpoint: "https://registry-1.docker.io", Aliases: []string{"index.docker.io", "registry-1.docker.io"}},
		{Name: "gcr.io", Endpoint: "https://gcr.io"},
		{Name: "registry.k8s.io", Endpoint: "https://registry.k8s.io", Aliases: []string{"k8s.gcr.io"}},
		{Name: "quay.io", Endpoint: "https://quay.io"},
		{Name: "ghcr.io", Endpoint: "https://ghcr.io"},
		{Name: "mcr.microsoft.com", Endpoint: "https://mcr.microsoft.com"},
	}
	for i := range ups {
		ups[i].ApplyDefaults()
	}
	return ups
}

// ApplyDefaults sets the per-upstream values left at zero to their
// defaults: Timeout 30s, DialTimeout 10s, BlobTimeout 1h, BreakerFailures
// 5, BreakerCooldown 30s. (So a zero timeout
// in the file means "the default", not "no timeout".) Parse calls it for
// every upstream; call it for upstreams built in code, e.g. from flags.
func (u *Upstream) ApplyDefaults() {
	if u.Timeout == 0 {
		u.Timeout = Duration(DefaultUpstreamTimeout)
	}
	if u.DialTimeout == 0 {
		u.DialTimeout = Duration(DefaultUpstreamDialTimeout)
	}
	if u.BlobTimeout == 0 {
		u.BlobTimeout = Duration(DefaultUpstreamBlobTimeout)
	}
	if u.BreakerFailures == 0 {
		u.BreakerFailures = DefaultBreakerFailures
	}
	if u.BreakerCooldown == 0 {
		u.BreakerCooldown = Duration(DefaultBreakerCooldown)
	}
}
