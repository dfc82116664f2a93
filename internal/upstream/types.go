package upstream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
)

// ErrRedirectRefused: an upstream redirected a blob or token request to an
// address the mirror must not contact.
var ErrRedirectRefused = errors.New("redirect to a forbidden address refused")

// ErrManifestTooLarge: an upstream manifest (or referrers index, or tag list)
// is bigger than the mirror reads.
var ErrManifestTooLarge = errors.New("upstream body too large")

// ErrDigestMismatch: an upstream manifest's bytes do not match the digest it
// was asked for or announced in Docker-Content-Digest.
var ErrDigestMismatch = errors.New("upstream content does not match its digest")

// Error is a failed upstream exchange: the upstream answered with a status
// that is not success, or could not be reached (StatusCode 0).
type Error struct {
	Upstream   string // configured name, e.g. "docker.io"
	Method     string
	URL        string // redacted: no credentials, no query
	StatusCode int    // 0 when no response arrived
	Codes      []oci.ErrorCode
	RetryAfter time.Duration
	// Anonymous: the request carried no configured credentials (used to
	// judge a 401/403 as "name does not exist" during implicit search).
	Anonymous bool
	// Err is the transport error when StatusCode is 0; it may also be set
	// with a status, when a token endpoint refused (oras's error).
	Err error
}

// Error describes the exchange and its outcome (never credentials).
func (e *Error) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("upstream %s: %s %s: %v", e.Upstream, e.Method, e.URL, e.Err)
	}
	s := fmt.Sprintf("upstream %s: %s %s: status %d", e.Upstream, e.Method, e.URL, e.StatusCode)
	if len(e.Codes) > 0 {
		s += fmt.Sprintf(" %v", e.Codes)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// NotFound reports whether the upstream definitely said "no such thing":
// 404, or 401/403 to an anonymous request (how Docker Hub and ghcr.io answer
// for names that do not exist).
func (e *Error) NotFound() bool {
	switch e.StatusCode {
	case http.StatusNotFound:
		return true
	case http.StatusUnauthorized, http.StatusForbidden:
		return e.Anonymous
	}
	return false
}

// Timeout reports whether the exchange failed by timing out.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return e.StatusCode == 0 && errors.As(e.Err, &t) && t.Timeout()
}

// IsNotFound reports whether err is an upstream definite not-found.
func IsNotFound(err error) bool {
	var ue *Error
	return errors.As(err, &ue) && ue.NotFound()
}

// Manifest is an upstream manifest answer. For a HEAD, Body is nil.
type Manifest struct {
	MediaType string
	Digest    digest.Digest // from Docker-Content-Digest, or computed from Body for a GET
	Size      int64
	Body      []byte // the exact bytes, at most oci.MaxManifestSize; verified against Digest
}

// Blob is an upstream blob body being streamed. The caller must Close it.
type Blob struct {
	Body io.ReadCloser
	// Size is the whole blob's size when known (Content-Length, or the total
	// of a Content-Range), else -1.
	Size int64
	// Offset is where Body starts (non-zero only for a ranged request the
	// upstream honoured).
	Offset int64
	// AcceptsRanges: the upstream honoured (or advertised) byte ranges, so a
	// broken download can be resumed.
	AcceptsRanges bool
}

// TagList is one page of an upstream tags/list answer.
type TagList struct {
	Body []byte // the exact JSON body
	Link string // the Link header, if any, rewritten by the caller
}
