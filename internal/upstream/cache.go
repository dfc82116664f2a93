package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
)

const (
	// expirySkew: a JWT is dropped this long before its exp, so that it does
	// not expire on the way to the upstream.
	expirySkew = 10 * time.Second
	// reuseWindow: a token fetched this recently is handed out again instead
	// of fetching another. A 401 with so fresh a token means the scope is
	// refused, not that the token expired; and requests that were answered
	// 401 just after a concurrent fetch completed share its token instead of
	// each fetching one.
	reuseWindow = 5 * time.Second
	// maxTokens bounds the cache: past it, the cache starts over empty (a
	// mirror of many repositories holds one token per repository scope).
	maxTokens = 4096
)

// tokenCache is the auth.Cache of one Client: oras's concurrent cache (which
// coalesces concurrent fetches for one scope) plus what it lacks: expiry of
// JWTs by their exp claim, reuse of just-fetched tokens, and a size bound.
// Tokens that are not JWTs are kept until the upstream answers 401 to them,
// when oras fetches a new one.
type tokenCache struct {
	now func() time.Time // injectable clock

	mu    sync.Mutex
	inner auth.Cache
	meta  map[string]tokenMeta // by registry, scheme and key
}

// tokenMeta is what tokenCache knows of a token it saw fetched.
type tokenMeta struct {
	token   string
	fetched time.Time
	exp     time.Time // zero when the token is not a JWT with exp
}

var _ auth.Cache = (*tokenCache)(nil)

func newTokenCache() *tokenCache {
	return &tokenCache{now: time.Now, inner: auth.NewCache(), meta: map[string]tokenMeta{}}
}

func metaKey(registry string, scheme auth.Scheme, key string) string {
	return registry + " " + scheme.String() + " " + key
}

func (c *tokenCache) cache() auth.Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner
}

// GetScheme returns the scheme last seen for registry.
func (c *tokenCache) GetScheme(ctx context.Context, registry string) (auth.Scheme, error) {
	return c.cache().GetScheme(ctx, registry)
}

// GetToken returns the cached token unless it is a JWT past its exp.
func (c *tokenCache) GetToken(ctx context.Context, registry string, scheme auth.Scheme, key string) (string, error) {
	tok, err := c.cache().GetToken(ctx, registry, scheme, key)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	m, ok := c.meta[metaKey(registry, scheme, key)]
	c.mu.Unlock()
	if ok && m.token == tok && c.expired(m) {
		return "", errdef.ErrNotFound
	}
	return tok, nil
}

// Set returns a token fetched within reuseWindow if there is one, else
// fetches (coalesced by oras's cache) and records the new token.
func (c *tokenCache) Set(ctx context.Context, registry string, scheme auth.Scheme, key string, fetch func(context.Context) (string, error)) (string, error) {
	mk := metaKey(registry, scheme, key)
	if tok, ok := c.fresh(mk); ok {
		return tok, nil
	}
	return c.cache().Set(ctx, registry, scheme, key, func(ctx context.Context) (string, error) {
		// Checked again by the one caller that fetches: another fetch may
		// have completed since the check above.
		if tok, ok := c.fresh(mk); ok {
			return tok, nil
		}
		tok, err := fetch(ctx)
		if err == nil {
			c.record(mk, tok)
		}
		return tok, err
	})
}

// fresh returns the token for mk if it was fetched within reuseWindow and
// has not expired.
func (c *tokenCache) fresh(mk string) (string, bool) {
	c.mu.Lock()
	m, ok := c.meta[mk]
	c.mu.Unlock()
	if ok && c.now().Sub(m.fetched) < reuseWindow && !c.expired(m) {
		return m.token, true
	}
	return "", false
}

func (c *tokenCache) record(mk, tok string) {
	m := tokenMeta{token: tok, fetched: c.now(), exp: jwtExpiry(tok)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.meta) >= maxTokens {
		c.inner = auth.NewCache()
		c.meta = map[string]tokenMeta{}
	}
	c.meta[mk] = m
}

func (c *tokenCache) expired(m tokenMeta) bool {
	return !m.exp.IsZero() && !c.now().Before(m.exp.Add(-expirySkew))
}

// jwtExpiry returns the exp claim of a JWT-shaped token, read without
// verifying anything (the token is the upstream's business; only its
// lifetime matters here), or the zero time.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}
