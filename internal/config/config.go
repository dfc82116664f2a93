// Package config holds regmirror's typed configuration: the YAML file
// format, built-in defaults and validation.
package config

import "time"

// Config is the whole configuration file. Its YAML keys are the public
// contract documented in docs/configuration.md.
type Config struct {
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"publicURL"`

	Storage      Storage      `yaml:"storage"`
	Cache        Cache        `yaml:"cache"`
	Upstreams    []Upstream   `yaml:"upstreams"`
	Routes       []Route      `yaml:"routes"`
	Log          Log          `yaml:"log"`
	Admin        Admin        `yaml:"admin"`
	TLS          TLS          `yaml:"tls"`
	Limits       Limits       `yaml:"limits"`
	Access       Access       `yaml:"access"`
	Auth         Auth         `yaml:"auth"`
	Coordination Coordination `yaml:"coordination"`
	Prefetch     []Prefetch   `yaml:"prefetch"`
	Server       Server       `yaml:"server"`

	// Where the values came from, for error messages: the file Load read
	// and the line of each key path ("upstreams[2].endpoint"). Set by Parse.
	file  string
	lines map[string]int
}

// Storage says where content and metadata live.
type Storage struct {
	// Driver is "filesystem" (default) or "s3".
	Driver string `yaml:"driver"`
	// Path is the data directory: content (filesystem driver), the metadata
	// database and temporary files of downloads in progress.
	Path string `yaml:"path"`
	// MaxSize bounds the cache; 0 means unlimited.
	MaxSize Size `yaml:"maxSize"`
	// LowWater is the fraction of MaxSize eviction brings the cache down to (default 0.9).
	LowWater float64 `yaml:"lowWater"`
	S3       S3      `yaml:"s3"`
}

// S3 configures the S3-compatible backend.
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // host[:port] of the service; required with driver s3
	Bucket    string `yaml:"bucket"`   // required with driver s3
	Region    string `yaml:"region"`
	AccessKey string `yaml:"accessKey"`
	// SecretKey; when empty, REGMIRROR_S3_SECRET_KEY is used (ResolveSecretKey).
	SecretKey string `yaml:"secretKey"`
	Insecure  bool   `yaml:"insecure"` // plain HTTP to the endpoint
	Prefix    string `yaml:"prefix"`   // key prefix for all objects
	Redirect  bool   `yaml:"redirect"` // redirect blob GETs to presigned URLs
}

// Cache tunes freshness.
type Cache struct {
	// TagTTL: a tag answer younger than this is served without asking the
	// upstream; 0 always revalidates. Default 10m.
	TagTTL Duration `yaml:"tagTTL"`
	// NegativeTTL: how long a name found on no upstream is remembered.
	// Default 1m; 0 turns it off.
	NegativeTTL Duration `yaml:"negativeTTL"`
	// MaxAge: objects not read for this long are evicted even when there is
	// room. 0 turns it off.
	MaxAge Duration `yaml:"maxAge"`
	// ManifestMemory bounds the in-memory LRU of hot manifests. Default 64MiB.
	ManifestMemory Size `yaml:"manifestMemory"`
	// BlobIdleTimeout fails a blob download from an upstream that sends
	// nothing for this long. Default 60s.
	BlobIdleTimeout Duration `yaml:"blobIdleTimeout"`
}

// Upstream is one mirrored registry. Timeouts left at zero get their
// defaults from ApplyDefaults (Parse calls it).
type Upstream struct {
	// Name is the registry host as users write it ("docker.io", "gcr.io").
	Name string `yaml:"name"`
	// Endpoint is the absolute http(s) URL of the registry API, no path.
	Endpoint string `yaml:"endpoint"`
	// Aliases are other hosts meaning the same registry ("k8s.gcr.io").
	Aliases []string `yaml:"aliases"`
	// Implicit: searched for names without a registry prefix. Default true.
	Implicit     *bool    `yaml:"implicit"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`     // exclusive with PasswordFile
	PasswordFile string   `yaml:"passwordFile"` // read by ResolvePassword
	Timeout      Duration `yaml:"timeout"`      // per request until response headers; default 30s
	DialTimeout  Duration `yaml:"dialTimeout"`  // default 10s
	BlobTimeout  Duration `yaml:"blobTimeout"`  // a whole blob download; default 1h
	MaxInFlight  int      `yaml:"maxInFlight"`  // concurrent upstream requests; 0 = unlimited
	Allow        []string `yaml:"allow"`        // glob patterns of repositories; empty allows all
	Deny         []string `yaml:"deny"`         // glob patterns of repositories refused
	DenyMessage  string   `yaml:"denyMessage"`  // message of the DENIED error
	MaxBlobSize  Size     `yaml:"maxBlobSize"`  // 0 = unlimited
	// BreakerFailures consecutive failures (connection errors, timeouts,
	// 5xx) open the upstream's circuit breaker for BreakerCooldown.
	// Defaults 5 and 30s; -1 turns the breaker off.
	BreakerFailures int      `yaml:"breakerFailures"`
	BreakerCooldown Duration `yaml:"breakerCooldown"`
}

// IsImplicit reports whether the upstream takes part in implicit search.
func (u Upstream) IsImplicit() bool { return u.Implicit == nil || *u.Implicit }

// Route pins names matching a glob to an upstream.
type Route struct {
	Match    string `yaml:"match"`    // glob (package glob) against the name as requested
	Upstream string `yaml:"upstream"` // a configured upstream name or alias
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text (default) or json
}

// Admin is the separate listener for metrics, pprof and the admin API.
type Admin struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:5001; "" or "off" disables
}

// TLS configures HTTPS.
type TLS struct {
	CertFile     string   `yaml:"certFile"`
	KeyFile      string   `yaml:"keyFile"`
	ACME         ACME     `yaml:"acme"`
	RedirectHTTP string   `yaml:"redirectHTTP"` // listen address of an HTTP→HTTPS redirect listener
	Hosts        []string `yaml:"hosts"`
}

// ACME configures automatic certificates.
type ACME struct {
	Enabled  bool     `yaml:"enabled"`
	Hosts    []string `yaml:"hosts"`
	Email    string   `yaml:"email"`
	CacheDir string   `yaml:"cacheDir"`
	// DirectoryURL defaults to Let's Encrypt's production directory.
	DirectoryURL string `yaml:"directoryURL"`
	// CAFile is an extra root for the ACME server (for tests with pebble).
	CAFile string `yaml:"caFile"`
}

// Limits protects the mirror from abusive clients.
type Limits struct {
	RequestsPerSecond float64  `yaml:"requestsPerSecond"` // per client IP (IPv6 per /64); 0 = off
	Burst             int      `yaml:"burst"`
	ClientBandwidth   Size     `yaml:"clientBandwidth"` // bytes/s per client IP; 0 = off
	TotalBandwidth    Size     `yaml:"totalBandwidth"`  // bytes/s for all clients; 0 = off
	TrustedProxies    []string `yaml:"trustedProxies"`  // CIDRs whose X-Forwarded-For is believed
	Exempt            []string `yaml:"exempt"`          // CIDRs not limited
}

// Access holds global allow and deny lists of image patterns.
type Access struct {
	Allow       []string `yaml:"allow"`
	Deny        []string `yaml:"deny"`
	DenyMessage string   `yaml:"denyMessage"`
}

// Auth protects the mirror itself (private deployments).
type Auth struct {
	Htpasswd string   `yaml:"htpasswd"` // path to a bcrypt htpasswd file
	Tokens   []string `yaml:"tokens"`   // static bearer tokens
	Realm    string   `yaml:"realm"`
}

// Coordination configures shared state for multi-node deployments
// (docs/scale-out.md).
type Coordination struct {
	Redis string `yaml:"redis"` // redis://host:port/db; empty = single node
	// Advertise is this node's base URL as the other nodes reach it, e.g.
	// http://10.0.0.5:5000: a node streams a blob from the node that is
	// downloading it. ${VAR} references are expanded from the environment
	// (http://${POD_IP}:5000), and REGMIRROR_ADVERTISE overrides the value.
	// Default: derived from listen when it names a concrete address.
	// Resolved by AdvertiseURL.
	Advertise string `yaml:"advertise"`
	// Prefix is prepended to every Redis key (default "regmirror:"), so that
	// several mirrors can share one Redis database.
	Prefix string `yaml:"prefix"`
}

// Prefetch keeps an image warm on a schedule.
type Prefetch struct {
	Image     string   `yaml:"image"`
	Platforms []string `yaml:"platforms"`
	Interval  Duration `yaml:"interval"`
}

// Server tunes the HTTP server.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"` // default 10s
	IdleTimeout       Duration `yaml:"idleTimeout"`       // default 120s
	ShutdownTimeout   Duration `yaml:"shutdownTimeout"`   // default 30s
	// WriteStallTimeout drops a client that accepts no byte of a response
	// for this long (a per-write deadline, not a bound on the whole
	// response). Default 60s.
	WriteStallTimeout Duration `yaml:"writeStallTimeout"`
}

// Duration is a time.Duration written as a Go duration string ("10m").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written with an optional unit ("50GiB", "512MB", "1024").
type Size int64
