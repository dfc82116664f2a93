// Package coord coordinates several regmirror nodes that share one content
// store (S3) and one Redis:
//
//   - A per-digest fill lock, so that across all nodes one node downloads a
//     blob from the upstream. The lock's value names the holder's advertise
//     URL; a node that does not get the lock streams the blob from the
//     holder (OpenPeer), which serves it from its own download in progress.
//   - Named leader leases (IsLeader), so that jobs such as eviction run on
//     one node at a time.
//   - Redis health (Healthy, Run). When Redis is unreachable every node
//     falls back to local coordination and keeps serving: the fill lock
//     counts as acquired (each node fetches for itself; downloads on one
//     node are still coalesced), and no node is leader.
//
// Keys, under a prefix (default "regmirror:"):
//
//	<p>fill:<digest>   "<token> <advertise URL>"  PX FillLockTTL, refreshed while the download runs
//	<p>leader:<name>   "<node id> <advertise URL>" PX LeaseTTL, renewed by each IsLeader call
package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	redismeta "github.com/regmirror/regmirror/internal/meta/redis"
)

// Defaults of Options.
const (
	DefaultPrefix      = "regmirror:"
	DefaultFillLockTTL = 30 * time.Second
	DefaultLeaseTTL    = 2 * time.Minute
	// opTimeout bounds one lock operation, on top of the client's own
	// fail-fast timeouts.
	opTimeout = 2 * time.Second
	// healthEvery is how often Run pings Redis.
	healthEvery = 5 * time.Second
	// downLogEvery is how often an ongoing outage is logged again.
	downLogEvery = time.Minute
)

// Options configures a Coordinator.
type Options struct {
	// Advertise is this node's base URL as the other nodes reach it
	// (http://10.0.0.5:5000). Required.
	Advertise string
	// Prefix is prepended to every key (default "regmirror:").
	Prefix string
	// FillLockTTL is how long a fill lock outlives a holder that died
	// (default 30s). A live holder refreshes it every third of that.
	FillLockTTL time.Duration
	// LeaseTTL is how long a leader lease lasts without renewal (default
	// 2m). Call IsLeader more often than that to stay leader.
	LeaseTTL time.Duration
	// HTTPClient fetches blobs from peers (default: a client with short
	// connect and response-header timeouts, no proxy).
	HTTPClient *http.Client
	// PeerToken, when set, is sent to peers as "Authorization: Bearer
	// <token>": one of the mirror's auth.tokens, so that peer fetches pass
	// the mirror's own authentication.
	PeerToken string
	Logger    *slog.Logger
}

// Coordinator is one node's handle on the shared coordination state. It is
// safe for concurrent use.
type Coordinator struct {
	rdb   goredis.UniversalClient
	owned bool
	opts  Options
	log   *slog.Logger
	id    string // this process, in leader lease values
	http  *http.Client

	healthy atomic.Bool

	mu         sync.Mutex
	downSince  time.Time // zero while healthy
	lastDownAt time.Time // last time the outage was logged
	leases     map[string]bool
}

// Open connects to the Redis at redisURL, lazily and with the fail-fast
// timeouts of internal/meta/redis. Close closes the connection.
func Open(redisURL string, opts Options) (*Coordinator, error) {
	o, err := redismeta.ClientOptions(redisURL)
	if err != nil {
		return nil, err
	}
	c, err := New(goredis.NewClient(o), opts)
	if err != nil {
		return nil, err
	}
	c.owned = true
	return c, nil
}

// New returns a Coordinator on an existing client; Close leaves it open.
func New(rdb goredis.UniversalClient, opts Options) (*Coordinator, error) {
	if opts.Advertise == "" {
		return nil, fmt.Errorf("coord: an advertise URL is required")
	}
	opts.Advertise = strings.TrimSuffix(opts.Advertise, "/")
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.FillLockTTL <= 0 {
		opts.FillLockTTL = DefaultFillLockTTL
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultPeerClient()
	}
	c := &Coordinator{rdb: rdb, opts: opts, log: opts.Logger, id: randomToken(), http: opts.HTTPClient, leases: map[string]bool{}}
	c.healthy.Store(true)
	return c, nil
}

// Advertise returns this node's advertise URL.
func (c *Coordinator) Advertise() string { return c.opts.Advertise }

// Healthy reports whether the last Redis operation succeeded (for a gauge
// and /readyz-style checks; a node keeps serving either way).
func (c *Coordinator) Healthy() bool { return c.healthy.Load() }

// Run pings Redis every few seconds until ctx ends, so that Healthy and the
// logs follow an outage even when no lock is taken.
func (c *Coordinator) Run(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		c.Ping(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ping checks Redis once and records the outcome.
func (c *Coordinator) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := c.rdb.Ping(ctx).Err()
	c.observe(err)
	return err
}

// Close gives up the leader leases this node holds and, if Open made it,
// closes the Redis connection.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	names := make([]string, 0, len(c.leases))
	for n := range c.leases {
		names = append(names, n)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for _, n := range names {
		_ = releaseScript.Run(ctx, c.rdb, []string{c.leaderKey(n)}, c.leaseValue()).Err() // it expires anyway
	}
	if c.owned {
		return c.rdb.Close()
	}
	return nil
}

// observe records the outcome of a Redis operation: err == nil is healthy.
// Transitions are logged, and an ongoing outage once a minute.
func (c *Coordinator) observe(err error) {
	if errors.Is(err, context.Canceled) {
		return // our caller went away: says nothing about Redis
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.healthy.Store(true)
		if !c.downSince.IsZero() {
			c.log.Info("redis reachable again: shared coordination and metadata restored", "down_for", now.Sub(c.downSince).Round(time.Second).String())
			c.downSince = time.Time{}
		}
		return
	}
	c.healthy.Store(false)
	if c.downSince.IsZero() {
		c.downSince, c.lastDownAt = now, now
		c.log.Warn("redis unreachable: falling back to local coordination; this node fetches from upstreams on its own and keeps serving cached content", "err", err)
		return
	}
	if now.Sub(c.lastDownAt) >= downLogEvery {
		c.lastDownAt = now
		c.log.Warn("redis still unreachable: local coordination only", "down_for", now.Sub(c.downSince).Round(time.Second).String(), "err", err)
	}
}

// randomToken returns 16 random bytes in hex.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// defaultPeerClient is the HTTP client for peer fetches: peers are inside
// the cluster, so no proxy and a short connect timeout; the response
// headers wait as long as the peer's own upstream may take to answer.
func defaultPeerClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		// Blobs are compressed already; and a transparently decoded body
		// would not match the digest.
		DisableCompression: true,
	}}
}
