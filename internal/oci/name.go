package oci

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Limits on what a client may send. The distribution spec caps a repository
// name at 255 characters in practice (Docker Hub and distribution do); a host
// prefix for explicit routing adds to that, so regmirror allows 512 for the
// whole path name.
const (
	MaxNameLength = 512
	MaxTagLength  = 128
)

// The grammar of the distribution spec
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests):
// path components of lower-case alphanumerics joined by separators.
// The first component may also be a registry host with a port
// ("127.0.0.1:5000", "localhost:5000"), since explicit routing puts it there.
var hostRe = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?$`)

// ValidName reports whether name is a valid repository name as it appears in
// a request path: slash-separated components, the first of which may be a
// registry host (possibly with a port).
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLength {
		return false
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if validComponent(p) {
			continue
		}
		if i == 0 && len(parts) > 1 && hostRe.MatchString(p) {
			continue
		}
		return false
	}
	return true
}

// ValidRepository reports whether repo is a valid repository on an upstream
// (no host component).
func ValidRepository(repo string) bool {
	if repo == "" || len(repo) > MaxNameLength {
		return false
	}
	for p := range strings.SplitSeq(repo, "/") {
		if !validComponent(p) {
			return false
		}
	}
	return true
}

// validComponent matches one path component of the spec's grammar,
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, without a regexp: it is on the hot path
// of every request.
func validComponent(p string) bool {
	if p == "" {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(p[0]) || !alnum(p[len(p)-1]) {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if alnum(c) {
			continue
		}
		// A separator: '.', '_' or '__', or a run of '-'.
		switch c {
		case '.':
			if !alnum(p[i+1]) {
				return false
			}
		case '_':
			if p[i+1] == '_' {
				i++
			}
			if !alnum(p[i+1]) {
				return false
			}
		case '-':
			for p[i+1] == '-' {
				i++
			}
			if !alnum(p[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ValidTag reports whether tag matches the spec's tag grammar,
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} (hand-written: it is on the hot path).
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > MaxTagLength {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ParseDigest validates s as a digest with a registered algorithm and a hex
// part of the right length. It returns a DIGEST_INVALID *Error otherwise.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", &Error{Code: CodeDigestInvalid, Message: "invalid digest " + quoteShort(s), Err: err}
	}
	return d, nil
}

// IsDigest reports whether ref looks like a digest reference (has an
// algorithm prefix) rather than a tag.
func IsDigest(ref string) bool { return strings.Contains(ref, ":") }

// quoteShort quotes s for a message, cut to 80 bytes so that a hostile input
// does not echo kilobytes back.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}
