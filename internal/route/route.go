// Package route decides which upstream serves a repository name that a
// client asked the mirror for, and under which repository name. It is pure
// logic over the configuration: no I/O, no clock, safe for concurrent use.
//
// Rules are tried in this order; the first that applies decides:
//
//  1. ns: containerd sends "?ns=<registry>" (e.g. ns=docker.io). A
//     configured name or alias selects that upstream; a leading path
//     component naming the same upstream is dropped from the name. An ns
//     that is not configured is NAME_UNKNOWN.
//  2. Explicit prefix: the first path component is a configured name or
//     alias (ignoring case) and more components follow: "gcr.io/x/y" goes to
//     gcr.io as "x/y".
//  3. Unknown registry: the first component looks like a host (has '.' or
//     ':' or is "localhost") and is not configured: NAME_UNKNOWN, so the
//     mirror never forwards a name meant for another registry.
//  4. Operator routes ("routes:" in the configuration), first match wins,
//     matched against the name as requested.
//  5. Implicit search: the name is tried on every upstream that takes part
//     in implicit search, in configuration order. The caller does the search.
//
// Whatever the rule, a one-component repository on docker.io gets Docker
// Hub's "library/" namespace, and the resulting repository must be valid.
package route

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/glob"
	"github.com/regmirror/regmirror/internal/oci"
)

// DockerHub is the canonical name of Docker Hub, whose one-component
// repositories live under "library/".
const DockerHub = "docker.io"

// How says which rule produced a Decision.
type How string

// The rules, in the order they are tried. ByCache is never returned by
// Route: the mirror uses it for a decision it remembered from an earlier
// implicit search.
const (
	ByNS       How = "ns"
	ByPrefix   How = "prefix"
	ByRule     How = "rule"
	ByImplicit How = "implicit"
	ByCache    How = "cached resolution"
)

// Candidate is one upstream an implicit search tries.
type Candidate struct {
	Upstream string // canonical configured name
	Repo     string // repository on that upstream
}

// Decision is where a name is served from.
type Decision struct {
	How      How
	Upstream string // canonical upstream name; empty when How == ByImplicit
	Repo     string // repository on that upstream; empty when How == ByImplicit
	Name     string // the name as requested (key for cached resolutions)
	// Candidates, for ByImplicit only: the implicit upstreams in
	// configuration order, each with the repository to ask it for.
	Candidates []Candidate
}

// Router applies the routing rules for one configuration. It is immutable.
type Router struct {
	names    []string          // canonical names, configuration order
	byHost   map[string]string // lower-cased name or alias → canonical name
	implicit []string          // canonical names of implicit upstreams, in order
	routes   []rule
}

type rule struct {
	pattern  *glob.Pattern
	upstream string // canonical
}

// New builds a Router. It fails, like config.Validate, on an empty or
// duplicate name or alias (ignoring case), on a route naming an unknown
// upstream, and on a route whose pattern does not compile.
func New(upstreams []config.Upstream, routes []config.Route) (*Router, error) {
	r := &Router{byHost: map[string]string{}}
	for _, u := range upstreams {
		for _, h := range append([]string{u.Name}, u.Aliases...) {
			if h == "" {
				return nil, fmt.Errorf("route: upstream %q: empty name or alias", u.Name)
			}
			key := strings.ToLower(h)
			if prev, dup := r.byHost[key]; dup {
				return nil, fmt.Errorf("route: %q is used by both upstream %q and %q", h, prev, u.Name)
			}
			r.byHost[key] = u.Name
		}
		r.names = append(r.names, u.Name)
		if u.IsImplicit() {
			r.implicit = append(r.implicit, u.Name)
		}
	}
	for i, rt := range routes {
		p, err := glob.Compile(rt.Match)
		if err != nil {
			return nil, fmt.Errorf("route: routes[%d]: %w", i, err)
		}
		up, ok := r.Canonical(rt.Upstream)
		if !ok {
			return nil, fmt.Errorf("route: routes[%d]: unknown upstream %q", i, rt.Upstream)
		}
		r.routes = append(r.routes, rule{pattern: p, upstream: up})
	}
	return r, nil
}

// Canonical returns the configured name of the upstream that hostOrAlias
// (a name or an alias, in any case) designates.
func (r *Router) Canonical(hostOrAlias string) (string, bool) {
	name, ok := r.byHost[strings.ToLower(hostOrAlias)]
	return name, ok
}

// Upstreams returns the canonical upstream names in configuration order.
func (r *Router) Upstreams() []string {
	return append([]string(nil), r.names...)
}

// Route decides where name (the repository path of the request, without
// "/v2/") is served from. ns is the value of the "ns" query parameter, or
// "". Errors are *oci.Error: NAME_UNKNOWN for a registry that is not
// mirrored (or no upstream at all for a bare name), NAME_INVALID for a
// repository that is not valid once rewritten.
func (r *Router) Route(name, ns string) (Decision, error) {
	d := Decision{Name: name}
	if name == "" {
		return d, oci.NewError(oci.CodeNameInvalid, "empty repository name")
	}
	first, rest, nested := strings.Cut(name, "/")

	switch up, ok := r.Canonical(first); {
	case ns != "": // rule 1
		nsUp, ok := r.Canonical(ns)
		if !ok {
			return d, notMirrored(ns)
		}
		repo := name
		if nested && r.designates(first, nsUp) {
			repo = rest
		}
		return r.decide(d, ByNS, nsUp, repo)
	case nested && ok: // rule 2
		return r.decide(d, ByPrefix, up, rest)
	case nested && looksLikeHost(first): // rule 3
		return d, notMirrored(first)
	}
	for _, rt := range r.routes { // rule 4
		if rt.pattern.Match(name) {
			return r.decide(d, ByRule, rt.upstream, name)
		}
	}
	return r.implicitSearch(d) // rule 5
}

// designates reports whether host is the canonical name or an alias of upstream.
func (r *Router) designates(host, upstream string) bool {
	got, ok := r.Canonical(host)
	return ok && got == upstream
}

func (r *Router) decide(d Decision, how How, upstream, repo string) (Decision, error) {
	if upstream == DockerHub {
		repo = DockerHubRepo(repo)
	}
	if !oci.ValidRepository(repo) {
		return d, invalid(repo)
	}
	d.How, d.Upstream, d.Repo = how, upstream, repo
	return d, nil
}

func (r *Router) implicitSearch(d Decision) (Decision, error) {
	if len(r.implicit) == 0 {
		return d, oci.NewError(oci.CodeNameUnknown,
			"repository %s has no registry prefix and no upstream is searched implicitly; write <registry>/<name>", short(d.Name))
	}
	if !oci.ValidRepository(d.Name) {
		return d, invalid(d.Name)
	}
	d.How = ByImplicit
	d.Candidates = make([]Candidate, 0, len(r.implicit))
	for _, up := range r.implicit {
		repo := d.Name
		if up == DockerHub {
			// A valid name stays valid under "library/"; only its length
			// needs checking again.
			if repo = DockerHubRepo(repo); len(repo) > oci.MaxNameLength {
				return d, invalid(repo)
			}
		}
		d.Candidates = append(d.Candidates, Candidate{Upstream: up, Repo: repo})
	}
	return d, nil
}

// DockerHubRepo returns repo as Docker Hub names it: a one-component
// repository lives in the "library" namespace ("nginx" → "library/nginx");
// other names are returned unchanged.
func DockerHubRepo(repo string) string {
	if repo != "" && !strings.Contains(repo, "/") {
		return "library/" + repo
	}
	return repo
}

// looksLikeHost reports whether a first path component is meant as a
// registry host, by the rule Docker itself uses.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || strings.EqualFold(s, "localhost")
}

func notMirrored(host string) error {
	return oci.NewError(oci.CodeNameUnknown, "registry %s is not mirrored here", short(host))
}

func invalid(repo string) error {
	return oci.NewError(oci.CodeNameInvalid, "invalid repository name %s", short(repo))
}

// short quotes a client-supplied string for a message, cut so that a long
// or binary hostile value is not echoed back whole: the quoted form is at
// most 80 bytes plus an ellipsis.
func short(s string) string {
	const limit = 80
	q := strconv.Quote(s)
	if len(q) <= limit {
		return q
	}
	for n := min(len(s), limit); n > 0; n-- {
		if q = strconv.Quote(s[:n]); len(q) <= limit {
			break
		}
	}
	return q + "..."
}
