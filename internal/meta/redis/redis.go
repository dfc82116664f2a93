// Package redis keeps the mirror's metadata in Redis, so that several
// mirror nodes share tags, name resolutions and object records.
//
// Keys, under a prefix (default "regmirror:"):
//
//	<p>tag:<upstream>/<repo>   hash   tag → JSON meta.Tag
//	<p>tagrepos                zset   "<upstream>/<repo>" of every tag hash (score 0, paged by name)
//	<p>res                     hash   name → upstream
//	<p>obj                     hash   digest → JSON meta.Object
//	<p>atime                   hash   digest → last access, Unix nanoseconds (newest wins)
//	<p>objidx                  zset   every digest in obj (score 0, paged by name)
//
// Upstream names are host names, which never contain "/", so
// "<upstream>/<repo>" is unambiguous. Walks page through the sorted sets by
// name (ZRANGEBYLEX), which, unlike SCAN, never returns an entry twice and
// tolerates deletions during the walk.
//
// The client fails fast (dial 1 s, read and write 500 ms, one retry, one
// dial attempt), so that when Redis is unreachable the mirror gets errors at
// once and keeps serving what the content store has, instead of hanging.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/regmirror/regmirror/internal/meta"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "regmirror:"

// pageSize is how many records a walk reads per round trip.
const pageSize = 256

// Client timeouts (see the package documentation).
const (
	DialTimeout  = time.Second
	ReadTimeout  = 500 * time.Millisecond
	WriteTimeout = 500 * time.Millisecond
)

// Compile-time checks.
var (
	_ meta.Store         = (*Store)(nil)
	_ meta.ObjectBatcher = (*Store)(nil)
)

// Options configures Open and New.
type Options struct {
	// Prefix is prepended to every key (default "regmirror:"), so that
	// several mirrors can share one Redis database.
	Prefix string
}

// Store is a meta.Store in Redis. It is safe for concurrent use, also by
// several processes.
type Store struct {
	c      goredis.UniversalClient
	owned  bool // Close closes c
	prefix string
}

// ClientOptions parses a redis:// (rediss://, unix://) URL into client
// options with the fail-fast timeouts.
func ClientOptions(rawURL string) (*goredis.Options, error) {
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	o.DialTimeout = DialTimeout
	o.ReadTimeout = ReadTimeout
	o.WriteTimeout = WriteTimeout
	o.PoolTimeout = DialTimeout
	o.MaxRetries = 1
	o.DialerRetries = 1
	o.DisableIdentity = true // no CLIENT SETINFO: older servers and proxies reject it
	return o, nil
}

// Open connects to the Redis at rawURL (lazily: an unreachable server shows
// in the first operation's error, not here). Close closes the connection.
func Open(rawURL string, opts Options) (*Store, error) {
	o, err := ClientOptions(rawURL)
	if err != nil {
		return nil, err
	}
	s := New(goredis.NewClient(o), opts)
	s.owned = true
	return s, nil
}

// New returns a store on an existing client; Close leaves the client open.
func New(c goredis.UniversalClient, opts Options) *Store {
	p := opts.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return &Store{c: c, prefix: p}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis meta: %w", err)
	}
	return nil
}

// Close closes the connection if Open made it.
func (s *Store) Close() error {
	if s.owned {
		return s.c.Close()
	}
	return nil
}

func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, "") }

// GetResolution returns the upstream an implicit name resolved to.
func (s *Store) GetResolution(ctx context.Context, name string) (string, error) {
	up, err := s.c.HGet(ctx, s.key("res"), name).Result()
	if errors.Is(err, goredis.Nil) {
		return "", fmt.Errorf("resolution %q: %w", name, meta.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("redis meta: get resolution: %w", err)
	}
	return up, nil
}

// PutResolution records that name resolved to upstream.
func (s *Store) PutResolution(ctx context.Context, name, upstream string) error {
	if err := s.c.HSet(ctx, s.key("res"), name, upstream).Err(); err != nil {
		return fmt.Errorf("redis meta: put resolution: %w", err)
	}
	return nil
}

// DeleteResolution forgets name's resolution.
func (s *Store) DeleteResolution(ctx context.Context, name string) error {
	if err := s.c.HDel(ctx, s.key("res"), name).Err(); err != nil {
		return fmt.Errorf("redis meta: delete resolution: %w", err)
	}
	return nil
}

// repoMember names a tag hash in the tagrepos set.
func repoMember(upstream, repo string) string { return upstream + "/" + repo }

// GetTag returns a cached tag, or meta.ErrNotFound.
func (s *Store) GetTag(ctx context.Context, k meta.TagKey) (meta.Tag, error) {
	b, err := s.c.HGet(ctx, s.key("tag:", repoMember(k.Upstream, k.Repo)), k.Tag).Bytes()
	if errors.Is(err, goredis.Nil) {
		return meta.Tag{}, fmt.Errorf("tag %s/%s:%s: %w", k.Upstream, k.Repo, k.Tag, meta.ErrNotFound)
	}
	if err != nil {
		return meta.Tag{}, fmt.Errorf("redis meta: get tag: %w", err)
	}
	var t meta.Tag
	if err := json.Unmarshal(b, &t); err != nil {
		return meta.Tag{}, fmt.Errorf("redis meta: tag %s/%s:%s: %w", k.Upstream, k.Repo, k.Tag, err)
	}
	return t, nil
}

// PutTag stores a tag answer.
func (s *Store) PutTag(ctx context.Context, k meta.TagKey, t meta.Tag) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	m := repoMember(k.Upstream, k.Repo)
	_, err = s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.key("tag:", m), k.Tag, b)
		p.ZAdd(ctx, s.key("tagrepos"), goredis.Z{Member: m})
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis meta: put tag: %w", err)
	}
	return nil
}

// deleteTagScript removes a tag, and the repository from tagrepos when it
// was the last tag, atomically.
var deleteTagScript = goredis.NewScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
	redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`)

// DeleteTag removes a tag; an absent tag is not an error.
func (s *Store) DeleteTag(ctx context.Context, k meta.TagKey) error {
	m := repoMember(k.Upstream, k.Repo)
	err := deleteTagScript.Run(ctx, s.c, []string{s.key("tag:", m), s.key("tagrepos")}, k.Tag, m).Err()
	if err != nil {
		return fmt.Errorf("redis meta: delete tag: %w", err)
	}
	return nil
}

// ListTags returns the cached tags of a repository, sorted.
func (s *Store) ListTags(ctx context.Context, upstream, repo string) ([]string, error) {
	tags, err := s.c.HKeys(ctx, s.key("tag:", repoMember(upstream, repo))).Result()
	if err != nil {
		return nil, fmt.Errorf("redis meta: list tags: %w", err)
	}
	if len(tags) == 0 {
		return nil, nil
	}
	sort.Strings(tags)
	return tags, nil
}

// WalkTags visits every cached tag, repository by repository in name order.
func (s *Store) WalkTags(ctx context.Context, fn func(meta.TagKey, meta.Tag) error) error {
	return s.pageNames(ctx, s.key("tagrepos"), func(members []string) error {
		for _, m := range members {
			upstream, repo, ok := strings.Cut(m, "/")
			if !ok {
				continue
			}
			all, err := s.c.HGetAll(ctx, s.key("tag:", m)).Result()
			if err != nil {
				return fmt.Errorf("redis meta: walk tags: %w", err)
			}
			names := make([]string, 0, len(all))
			for name := range all {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				var t meta.Tag
				if err := json.Unmarshal([]byte(all[name]), &t); err != nil {
					return fmt.Errorf("redis meta: tag %s:%s: %w", m, name, err)
				}
				if err := fn(meta.TagKey{Upstream: upstream, Repo: repo, Tag: name}, t); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// pageNames calls fn with the members of the sorted set key, pageSize at a
// time in name order, until fn fails or the set is exhausted.
func (s *Store) pageNames(ctx context.Context, key string, fn func([]string) error) error {
	lower := "-"
	for {
		members, err := s.c.ZRangeByLex(ctx, key, &goredis.ZRangeBy{Min: lower, Max: "+", Count: pageSize}).Result()
		if err != nil {
			return fmt.Errorf("redis meta: walk %s: %w", key, err)
		}
		if len(members) == 0 {
			return nil
		}
		if err := fn(members); err != nil {
			return err
		}
		if len(members) < pageSize {
			return nil
		}
		lower = "(" + members[len(members)-1]
	}
}

// atimeValue encodes an access time; "" for the zero time.
func atimeValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// parseAtime decodes atimeValue's encoding.
func parseAtime(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s == "" {
		return time.Time{}, false
	}
	return time.Unix(0, n).UTC(), true
}
