// Package reference parses image references the way users write them for
// this mirror: "nginx", "nginx:1.27", "gcr.io/distroless/static:latest",
// "pause@sha256:…", with or without the mirror's own host in front.
package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
)

// Reference is a parsed image reference.
type Reference struct {
	// Name is the repository name as it goes in /v2/<name>/…: an optional
	// registry host, then the repository ("gcr.io/distroless/static", "nginx").
	Name   string
	Tag    string
	Digest digest.Digest
}

// Errors.
var (
	ErrEmpty   = errors.New("empty image reference")
	ErrTooLong = errors.New("image reference too long")
)

// Parse parses s. Without a tag or digest the tag is "latest". A registry
// host is kept as the first component of Name, lower-cased.
func Parse(s string) (Reference, error) {
	if s == "" {
		return Reference{}, ErrEmpty
	}
	if len(s) > oci.MaxNameLength+oci.MaxTagLength+80 {
		return Reference{}, ErrTooLong
	}
	var ref Reference
	rest := s
	if name, dg, ok := strings.Cut(rest, "@"); ok {
		d, err := digest.Parse(dg)
		if err != nil {
			return Reference{}, fmt.Errorf("invalid digest in %q: %w", s, err)
		}
		ref.Digest, rest = d, name
	}
	// A tag is after the last ':' that follows the last '/', so a host's port
	// ("localhost:5000/x") is not taken for one.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		ref.Tag, rest = rest[i+1:], rest[:i]
		if !oci.ValidTag(ref.Tag) {
			return Reference{}, fmt.Errorf("invalid tag %q", ref.Tag)
		}
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	if i := strings.IndexByte(rest, '/'); i > 0 {
		host := rest[:i]
		if strings.ContainsAny(host, ".:") || host == "localhost" {
			rest = strings.ToLower(host) + rest[i:]
		}
	}
	if !oci.ValidName(rest) {
		return Reference{}, fmt.Errorf("invalid repository name %q", rest)
	}
	ref.Name = rest
	return ref, nil
}

// TagOrDigest returns the digest if set, else the tag.
func (r Reference) TagOrDigest() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// Suffix returns ":tag", "@digest" or ":tag@digest", as written after Name.
func (r Reference) Suffix() string {
	s := ""
	if r.Tag != "" {
		s = ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// String returns the reference in its canonical written form.
func (r Reference) String() string { return r.Name + r.Suffix() }
