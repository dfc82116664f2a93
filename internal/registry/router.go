// Package registry serves the pull side of the OCI distribution API
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md)
// over a mirror.Mirror. Pushes and deletes are answered 405 UNSUPPORTED in
// one place.
package registry

import (
	"net/http"
	"strings"

	"github.com/regmirror/regmirror/internal/oci"
)

// Kind is what an API path addresses.
type Kind int

// Path kinds.
const (
	KindBase      Kind = iota // /v2/
	KindManifest              // /v2/<name>/manifests/<ref>
	KindBlob                  // /v2/<name>/blobs/<digest>
	KindUpload                // /v2/<name>/blobs/uploads/[<id>]
	KindTags                  // /v2/<name>/tags/list
	KindReferrers             // /v2/<name>/referrers/<digest>
	KindCatalog               // /v2/_catalog
)

// String names the kind for logs and metrics.
func (k Kind) String() string {
	return [...]string{"base", "manifests", "blobs", "uploads", "tags", "referrers", "catalog"}[k]
}

// maxPathLength bounds the request path we parse at all.
const maxPathLength = 2048

// Route is a parsed API path.
type Route struct {
	Kind Kind
	Name string // repository name as requested (may start with a registry host)
	Ref  string // tag or digest (manifests), digest (blobs, referrers)
}

// ParseRoute parses an API request path. The path is read from the right,
// since repository names contain slashes. It returns a NAME_INVALID error
// for malformed names and a 404 NAME_UNKNOWN error for paths that are not
// API endpoints.
func ParseRoute(r *http.Request) (Route, error) {
	if r.URL.RawPath != "" {
		// Escaped characters in the path (%2F, %2e): no valid name needs them.
		return Route{}, oci.NewError(oci.CodeNameInvalid, "escaped characters are not allowed in the path")
	}
	return parsePath(r.URL.Path)
}

func parsePath(path string) (Route, error) {
	if len(path) > maxPathLength {
		return Route{}, oci.NewError(oci.CodeNameInvalid, "path too long")
	}
	if path == "/v2" || path == "/v2/" {
		return Route{Kind: KindBase}, nil
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return Route{}, notAPI()
	}
	if rest == "_catalog" {
		return Route{Kind: KindCatalog}, nil
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	var rt Route
	switch {
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		rt = Route{Kind: KindUpload, Name: strings.Join(segs[:n-3], "/")}
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		rt = Route{Kind: KindUpload, Name: strings.Join(segs[:n-2], "/")}
	case n >= 3 && segs[n-2] == "manifests":
		rt = Route{Kind: KindManifest, Name: strings.Join(segs[:n-2], "/"), Ref: segs[n-1]}
	case n >= 3 && segs[n-2] == "blobs":
		rt = Route{Kind: KindBlob, Name: strings.Join(segs[:n-2], "/"), Ref: segs[n-1]}
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		rt = Route{Kind: KindTags, Name: strings.Join(segs[:n-2], "/")}
	case n >= 3 && segs[n-2] == "referrers":
		rt = Route{Kind: KindReferrers, Name: strings.Join(segs[:n-2], "/"), Ref: segs[n-1]}
	default:
		return Route{}, notAPI()
	}
	if !oci.ValidName(rt.Name) {
		return Route{}, oci.NewError(oci.CodeNameInvalid, "invalid repository name %q", short(rt.Name))
	}
	if (rt.Kind == KindManifest || rt.Kind == KindBlob || rt.Kind == KindReferrers) && rt.Ref == "" {
		return Route{}, notAPI()
	}
	return rt, nil
}

func notAPI() error {
	return oci.NewError(oci.CodeNameUnknown, "not a registry API endpoint")
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
