package mirror

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/regmirror/regmirror/internal/access"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/route"
	"github.com/regmirror/regmirror/internal/upstream"
)

// searchTimeout bounds one implicit search across every candidate.
const searchTimeout = 2 * time.Minute

// Target is where a request goes: one upstream and a repository there.
type Target struct {
	Upstream string
	Repo     string
	How      route.How
	Name     string // the name as requested
}

// probeFunc asks one candidate upstream whether it has what the request
// wants. It returns a value kept for the request (a manifest already fetched,
// say), a definite not-found (upstream.IsNotFound), or another failure.
type probeFunc func(ctx context.Context, up Upstream, repo string) (any, error)

// ResolveOnly routes name without contacting any upstream when it can: it is
// what /api/resolve reports. For an implicit name never resolved before, it
// searches with manifest HEADs of ref.
func (m *Mirror) ResolveOnly(ctx context.Context, name, ns, ref string) (Target, error) {
	if ref == "" {
		ref = "latest"
	}
	t, _, err := m.resolve(ctx, name, ns, "m:"+ref, func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.HeadManifest(ctx, repo, ref)
	})
	return t, err
}

// resolve decides the target of a request. For an implicit name it uses the
// remembered resolution, else searches the candidates in order with probe. The
// probe's value is returned when a search ran (nil otherwise).
func (m *Mirror) resolve(ctx context.Context, name, ns, probeKey string, probe probeFunc) (Target, any, error) {
	d, err := m.opts.Router.Route(name, ns)
	if err != nil {
		return Target{}, nil, err
	}
	if d.How != route.ByImplicit {
		if err := m.allowed(d.Upstream, d.Repo); err != nil {
			return Target{}, nil, err
		}
		return Target{Upstream: d.Upstream, Repo: d.Repo, How: d.How, Name: name}, nil, nil
	}
	if up, ok := m.res.get(ctx, name); ok {
		for _, c := range d.Candidates {
			if c.Upstream != up {
				continue
			}
			err := m.allowed(up, c.Repo)
			if err == nil {
				return Target{Upstream: up, Repo: c.Repo, How: route.ByCache, Name: name}, nil, nil
			}
			if !errors.Is(err, access.ErrNotAllowed) {
				return Target{}, nil, err
			}
			// No longer allowed there: search the others.
		}
		// The resolved upstream is no longer an implicit candidate: search again.
	}
	if m.neg.has(name) {
		return Target{}, nil, notFoundAnywhere(name)
	}
	type found struct {
		t Target
		v any
	}
	// Concurrent searches for one name and question share one search (the
	// probe's value, a manifest for one tag say, only fits callers that
	// asked the same question, hence probeKey). It runs detached from the
	// first caller, so that caller leaving does not fail the others.
	v, err, _ := m.flight.Do("search\x00"+name+"\x00"+probeKey, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), searchTimeout)
		defer cancel()
		var refused error
		for _, c := range d.Candidates {
			up := m.opts.Upstreams[c.Upstream]
			if up == nil {
				continue
			}
			// Access rules, before any contact: a candidate outside the
			// allow lists is skipped; a denied one ends the search (it
			// never falls through to another publisher of the name).
			if err := m.allowed(c.Upstream, c.Repo); err != nil {
				if !errors.Is(err, access.ErrNotAllowed) {
					return nil, err
				}
				refused = cmp.Or(refused, err)
				continue
			}
			val, err := probe(ctx, up, c.Repo)
			if err == nil {
				m.res.put(ctx, name, c.Upstream)
				m.log.Info("resolved implicit name", "name", name, "upstream", c.Upstream, "repo", c.Repo)
				return found{Target{Upstream: c.Upstream, Repo: c.Repo, How: route.ByImplicit, Name: name}, val}, nil
			}
			if upstream.IsNotFound(err) {
				continue
			}
			// Any other failure ends the search: never fall through to
			// another publisher because this one is failing.
			return nil, fmt.Errorf("searching %q: %w", name, err)
		}
		if refused != nil {
			return nil, refused
		}
		m.neg.add(name)
		return nil, notFoundAnywhere(name)
	})
	if err != nil {
		return Target{}, nil, err
	}
	f := v.(found)
	return f.t, f.v, nil
}

// forgetResolution drops a remembered resolution whose upstream says the
// name is gone, so the next request searches again.
func (m *Mirror) forgetResolution(ctx context.Context, t Target, err error) {
	if t.How != route.ByCache {
		return
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) || !ue.NotFound() {
		return
	}
	for _, c := range ue.Codes {
		if c == oci.CodeManifestUnknown || c == oci.CodeBlobUnknown {
			return // the name exists; only this tag or blob does not
		}
	}
	m.log.Info("upstream says a resolved name is gone; will search again", "name", t.Name, "upstream", t.Upstream)
	m.res.drop(ctx, t.Name)
}

func notFoundAnywhere(name string) error {
	return oci.NewError(oci.CodeNameUnknown, "repository %q was not found on any upstream searched for implicit names", name)
}

// resolutionCache keeps resolutions in memory in front of the metadata store.
type resolutionCache struct {
	meta meta.Resolutions
	mu   sync.RWMutex
	m    map[string]string
}

func newResolutionCache(r meta.Resolutions) *resolutionCache {
	return &resolutionCache{meta: r, m: make(map[string]string)}
}

func (c *resolutionCache) get(ctx context.Context, name string) (string, bool) {
	c.mu.RLock()
	up, ok := c.m[name]
	c.mu.RUnlock()
	if ok {
		return up, true
	}
	up, err := c.meta.GetResolution(ctx, name)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	c.m[name] = up
	c.mu.Unlock()
	return up, true
}

func (c *resolutionCache) put(ctx context.Context, name, up string) {
	c.mu.Lock()
	c.m[name] = up
	c.mu.Unlock()
	_ = c.meta.PutResolution(ctx, name, up)
}

func (c *resolutionCache) drop(ctx context.Context, name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
	_ = c.meta.DeleteResolution(ctx, name)
}

// negCache remembers names found nowhere, for a short time.
type negCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time
}

func newNegCache(ttl time.Duration, now func() time.Time) *negCache {
	return &negCache{ttl: ttl, now: now, m: make(map[string]time.Time)}
}

func (n *negCache) has(name string) bool {
	if n.ttl <= 0 {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.m[name]
	if ok && n.now().After(exp) {
		delete(n.m, name)
		return false
	}
	return ok
}

func (n *negCache) add(name string) {
	if n.ttl <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) > 100000 { // bound memory under a flood of random names
		n.m = make(map[string]time.Time)
	}
	n.m[name] = n.now().Add(n.ttl)
}
