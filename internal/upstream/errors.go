package upstream

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/regmirror/regmirror/internal/oci"
)

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// statusError turns a non-2xx answer into an *Error, reading (at most
// maxErrorBody of) and closing its body.
func (c *Client) statusError(resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{
		Upstream:   c.name,
		Method:     resp.Request.Method,
		URL:        redact(resp.Request.URL),
		StatusCode: resp.StatusCode,
		Codes:      oci.ParseErrors(body),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Anonymous:  c.anonymous,
	}
	return e
}

// transportError turns a failed exchange into an *Error. A token endpoint's
// refusal, which oras reports as an error, keeps its status and codes.
func (c *Client) transportError(method string, u *url.URL, err error) *Error {
	e := &Error{Upstream: c.name, Method: method, URL: redact(u), Anonymous: c.anonymous, Err: err}
	var er *errcode.ErrorResponse
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		// A Basic challenge to a client without credentials.
		e.StatusCode = http.StatusUnauthorized
	case errors.As(err, &er):
		e.StatusCode = er.StatusCode
		for _, x := range er.Errors {
			e.Codes = append(e.Codes, oci.ErrorCode(x.Code))
		}
	}
	return e
}

// redact renders u without credentials or query.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
