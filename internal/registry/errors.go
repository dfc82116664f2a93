package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/regmirror/regmirror/internal/fill"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/upstream"
)

// toOCI maps any error to the OCI error a client sees. It is the one place
// where domain errors become codes and statuses. Unknown errors become 500
// UNKNOWN with a short ID that is logged next to the cause.
func toOCI(err error) (oe *oci.Error, internal bool) {
	if errors.As(err, &oe) {
		// An *oci.Error may wrap an upstream error; its code decides.
		return oe, false
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return upstreamError(ue), false
	}
	switch {
	case errors.Is(err, fill.ErrStalled), errors.Is(err, context.DeadlineExceeded):
		return &oci.Error{Code: oci.CodeUnavailable, HTTPStatus: http.StatusGatewayTimeout,
			Message: "upstream timed out", Err: err}, false
	case errors.Is(err, fill.ErrDigestMismatch):
		return &oci.Error{Code: oci.CodeUnavailable, Message: "upstream sent content that does not match its digest", Err: err}, false
	case errors.Is(err, upstream.ErrRedirectRefused):
		return &oci.Error{Code: oci.CodeUnavailable, Message: "upstream redirected to a forbidden address", Err: err}, false
	}
	id := errorID()
	return &oci.Error{Code: oci.CodeUnknown, Message: "internal error " + id, Detail: map[string]string{"id": id}, Err: err}, true
}

// upstreamError maps an upstream failure. Messages name the upstream.
func upstreamError(ue *upstream.Error) *oci.Error {
	detail := map[string]any{"upstream": ue.Upstream}
	if ue.StatusCode != 0 {
		detail["status"] = ue.StatusCode
	}
	e := &oci.Error{Code: oci.CodeUnavailable, Detail: detail, Err: ue}
	switch {
	case ue.StatusCode == http.StatusTooManyRequests:
		e.Code = oci.CodeTooManyRequests
		e.RetryAfter = ue.RetryAfter
		e.Message = fmt.Sprintf("upstream %s is rate-limiting requests", ue.Upstream)
	case ue.NotFound():
		e.Code = oci.CodeNameUnknown
		e.Message = fmt.Sprintf("not found on upstream %s", ue.Upstream)
	case ue.Timeout():
		e.HTTPStatus = http.StatusGatewayTimeout
		e.Message = fmt.Sprintf("upstream %s timed out", ue.Upstream)
	case ue.StatusCode == 0:
		e.Message = fmt.Sprintf("upstream %s is unreachable", ue.Upstream)
	case ue.StatusCode == http.StatusUnauthorized || ue.StatusCode == http.StatusForbidden:
		e.Message = fmt.Sprintf("upstream %s refused access (status %d)", ue.Upstream, ue.StatusCode)
	default:
		e.Message = fmt.Sprintf("upstream %s failed with status %d", ue.Upstream, ue.StatusCode)
	}
	return e
}

// writeError answers with err as an OCI error and logs it.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	oe, internal := toOCI(err)
	switch {
	case internal:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case oe.Status() >= 500:
		log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", oe.Status(), "err", err)
	}
	oci.WriteError(w, oe)
}

func errorID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
