package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/fill"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/upstream"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestToOCI(t *testing.T) {
	up := func(status int, anon bool, codes ...oci.ErrorCode) error {
		return fmt.Errorf("wrapped: %w", &upstream.Error{Upstream: "docker.io", StatusCode: status, Anonymous: anon, Codes: codes})
	}
	tests := []struct {
		name     string
		err      error
		code     oci.ErrorCode
		status   int
		internal bool
		retry    time.Duration
	}{
		{"oci error passes", oci.NewError(oci.CodeDigestInvalid, "x"), oci.CodeDigestInvalid, 400, false, 0},
		{"wrapped oci error", fmt.Errorf("a: %w", oci.NewError(oci.CodeManifestUnknown, "x")), oci.CodeManifestUnknown, 404, false, 0},
		{"upstream 404", up(404, false, oci.CodeNameUnknown), oci.CodeNameUnknown, 404, false, 0},
		{"upstream anonymous 401", up(401, true), oci.CodeNameUnknown, 404, false, 0},
		{"upstream 401 with credentials", up(401, false), oci.CodeUnavailable, 502, false, 0},
		{"upstream 429", &upstream.Error{Upstream: "docker.io", StatusCode: 429, RetryAfter: 30 * time.Second}, oci.CodeTooManyRequests, 429, false, 30 * time.Second},
		{"upstream 503", up(503, true), oci.CodeUnavailable, 502, false, 0},
		{"upstream refused", &upstream.Error{Upstream: "gcr.io", Err: syscall.ECONNREFUSED}, oci.CodeUnavailable, 502, false, 0},
		{"upstream timeout", &upstream.Error{Upstream: "gcr.io", Err: timeoutErr{}}, oci.CodeUnavailable, 504, false, 0},
		{"stalled download", fmt.Errorf("x: %w", fill.ErrStalled), oci.CodeUnavailable, 504, false, 0},
		{"deadline", context.DeadlineExceeded, oci.CodeUnavailable, 504, false, 0},
		{"digest mismatch", fill.ErrDigestMismatch, oci.CodeUnavailable, 502, false, 0},
		{"redirect refused", upstream.ErrRedirectRefused, oci.CodeUnavailable, 502, false, 0},
		{"anything else", errors.New("boom"), oci.CodeUnknown, 500, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oe, internal := toOCI(tt.err)
			if oe.Code != tt.code || oe.Status() != tt.status || internal != tt.internal || oe.RetryAfter != tt.retry {
				t.Fatalf("toOCI = %+v (status %d, internal %v)", oe, oe.Status(), internal)
			}
			if ue := (*upstream.Error)(nil); errors.As(tt.err, &ue) && oe.Code != oci.CodeNameUnknown {
				if want := "upstream " + ue.Upstream; len(oe.Message) < len(want) || oe.Message[:len(want)] != want {
					t.Errorf("message %q does not name the upstream", oe.Message)
				}
			}
		})
	}
	_ = http.StatusOK
}
