// Package oci is the leaf package shared by every layer of regmirror: the OCI
// error codes and their HTTP statuses, the media types the mirror deals in,
// and validation of repository names, tags and digests.
//
// It imports nothing of ours, so that store, upstream, mirror and registry
// can all speak the same typed errors.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrorCode is an error code of the OCI distribution spec
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes),
// plus the few codes Docker's registry adds (TOOMANYREQUESTS, UNAVAILABLE).
type ErrorCode string

// The codes regmirror sends and understands.
const (
	CodeBlobUnknown       ErrorCode = "BLOB_UNKNOWN"
	CodeDigestInvalid     ErrorCode = "DIGEST_INVALID"
	CodeManifestInvalid   ErrorCode = "MANIFEST_INVALID"
	CodeManifestUnknown   ErrorCode = "MANIFEST_UNKNOWN"
	CodeNameInvalid       ErrorCode = "NAME_INVALID"
	CodeNameUnknown       ErrorCode = "NAME_UNKNOWN"
	CodeSizeInvalid       ErrorCode = "SIZE_INVALID"
	CodeUnauthorized      ErrorCode = "UNAUTHORIZED"
	CodeDenied            ErrorCode = "DENIED"
	CodeUnsupported       ErrorCode = "UNSUPPORTED"
	CodeTooManyRequests   ErrorCode = "TOOMANYREQUESTS"
	CodeRangeInvalid      ErrorCode = "RANGE_INVALID"
	CodeUnavailable       ErrorCode = "UNAVAILABLE"
	CodeUnknown           ErrorCode = "UNKNOWN"
	CodeBlobUploadUnknown ErrorCode = "BLOB_UPLOAD_UNKNOWN"
)

// statusOf is the one table from code to default HTTP status. An Error may
// override the status (502 vs 504 for UNAVAILABLE, 405 for UNSUPPORTED on a
// push method).
var statusOf = map[ErrorCode]int{
	CodeBlobUnknown:       http.StatusNotFound,
	CodeBlobUploadUnknown: http.StatusNotFound,
	CodeDigestInvalid:     http.StatusBadRequest,
	CodeManifestInvalid:   http.StatusBadRequest,
	CodeManifestUnknown:   http.StatusNotFound,
	CodeNameInvalid:       http.StatusBadRequest,
	CodeNameUnknown:       http.StatusNotFound,
	CodeSizeInvalid:       http.StatusBadRequest,
	CodeUnauthorized:      http.StatusUnauthorized,
	CodeDenied:            http.StatusForbidden,
	CodeUnsupported:       http.StatusMethodNotAllowed,
	CodeTooManyRequests:   http.StatusTooManyRequests,
	CodeRangeInvalid:      http.StatusRequestedRangeNotSatisfiable,
	CodeUnavailable:       http.StatusBadGateway,
	CodeUnknown:           http.StatusInternalServerError,
}

// Status returns the default HTTP status for the code (500 for an unknown code).
func (c ErrorCode) Status() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an OCI error as it travels through regmirror: a code, a message
// for people, an optional detail, and what the HTTP answer needs.
type Error struct {
	Code    ErrorCode
	Message string
	Detail  any
	// HTTPStatus overrides Code.Status() when non-zero.
	HTTPStatus int
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Err is the cause, kept for logs and errors.Is; never sent to clients.
	Err error
}

// NewError returns an Error with a formatted message.
func NewError(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status the error is answered with.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	return e.Code.Status()
}

// WithStatus returns a copy of e answered with status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.HTTPStatus = status
	return &c
}

// WithCause returns a copy of e that wraps err.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// errorBody is the wire form: {"errors":[{"code":…,"message":…,"detail":…}]}.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
	Detail  any       `json:"detail,omitempty"`
}

// WriteError writes err as an OCI error response. An error that is not an
// *Error is answered 500 UNKNOWN with the given message only, so internals
// never leak; callers map domain errors to *Error before calling this.
func WriteError(w http.ResponseWriter, err error) {
	var oe *Error
	if !errors.As(err, &oe) {
		oe = &Error{Code: CodeUnknown, Message: "internal error"}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	if oe.RetryAfter > 0 {
		secs := int((oe.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if oe.Status() == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Basic realm="regmirror"`)
	}
	w.WriteHeader(oe.Status())
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: oe.Code, Message: oe.Message, Detail: oe.Detail}}})
}

// ParseErrors reads the codes from an OCI error body (as sent by an
// upstream). It returns nil for a body that is not one.
func ParseErrors(body []byte) []ErrorCode {
	var b errorBody
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	codes := make([]ErrorCode, 0, len(b.Errors))
	for _, e := range b.Errors {
		codes = append(codes, e.Code)
	}
	return codes
}
