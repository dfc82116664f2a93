package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	goredis "github.com/redis/go-redis/v9"
)

// releaseScript deletes KEYS[1] only if it still holds ARGV[1]: a holder
// whose lock expired and was taken by another node must not delete that
// node's lock.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

// extendScript resets the expiry of KEYS[1] to ARGV[2] ms only if it still
// holds ARGV[1]. It returns 1 when extended.
var extendScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// AcquireFill decides which node downloads the blob d from the upstream.
//
//   - This node got the lock: release is non-nil and peer is "". The lock
//     is refreshed in the background until release is called, which the
//     caller must do when the download ended (successfully or not).
//   - Another node holds it: release is nil and peer is that node's
//     advertise URL; stream the blob from it with OpenPeer.
//   - Redis is unreachable, or the lock names this node's own URL (left by
//     a previous run of this node): release is a no-op and peer is "", so
//     the caller downloads from the upstream without the lock.
func (c *Coordinator) AcquireFill(ctx context.Context, d digest.Digest) (release func(), peer string) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := c.opts.Prefix + "fill:" + d.String()
	val := randomToken() + " " + c.opts.Advertise
	for range 2 { // a second round when the holder released between SET and GET
		ok, err := c.rdb.SetNX(ctx, key, val, c.opts.FillLockTTL).Result()
		c.observe(err)
		if err != nil {
			return func() {}, ""
		}
		if ok {
			return c.hold(key, val, c.opts.FillLockTTL), ""
		}
		cur, err := c.rdb.Get(ctx, key).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		c.observe(err)
		if err != nil {
			return func() {}, ""
		}
		_, holder, _ := strings.Cut(cur, " ")
		if holder == "" || holder == c.opts.Advertise {
			return func() {}, ""
		}
		return nil, holder
	}
	return func() {}, ""
}

// hold refreshes the lock key=val every third of ttl until the returned
// release is called, which then deletes it if it is still ours.
func (c *Coordinator) hold(key, val string, ttl time.Duration) (release func()) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			n, err := extendScript.Run(ctx, c.rdb, []string{key}, val, ttl.Milliseconds()).Int()
			cancel()
			c.observe(err)
			if err == nil && n == 0 {
				// Expired (Redis was away longer than ttl) and maybe taken by
				// another node; this download goes on regardless.
				c.log.Debug("fill lock lost", "key", key)
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			c.observe(releaseScript.Run(ctx, c.rdb, []string{key}, val).Err())
		})
	}
}

// IsLeader reports whether this node holds the leader lease called name,
// acquiring it when it is free and renewing it when it is ours. A node stays
// leader while it calls IsLeader more often than Options.LeaseTTL; when it
// stops (or dies) another node takes over after at most LeaseTTL. With Redis
// unreachable no node is leader: jobs that change shared state (eviction
// deleting from the shared store) must not run uncoordinated.
func (c *Coordinator) IsLeader(ctx context.Context, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key, val := c.leaderKey(name), c.leaseValue()
	ok, err := c.rdb.SetNX(ctx, key, val, c.opts.LeaseTTL).Result()
	if err == nil && !ok {
		var n int
		n, err = extendScript.Run(ctx, c.rdb, []string{key}, val, c.opts.LeaseTTL.Milliseconds()).Int()
		ok = n == 1
	}
	c.observe(err)
	ok = ok && err == nil
	c.mu.Lock()
	if ok {
		c.leases[name] = true
	} else {
		delete(c.leases, name)
	}
	c.mu.Unlock()
	return ok
}

func (c *Coordinator) leaderKey(name string) string { return c.opts.Prefix + "leader:" + name }

func (c *Coordinator) leaseValue() string { return c.id + " " + c.opts.Advertise }
