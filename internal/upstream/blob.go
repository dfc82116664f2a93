package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
)

// GetBlob starts streaming blob d of repo, from offset when offset > 0 (a
// Range request; the upstream may ignore it and send the whole blob, which
// Blob.Offset then says). Redirects (to a CDN, S3) are followed without the
// upstream's Authorization. The body is bounded by ctx only; the caller
// verifies it and must Close it, which also frees the MaxInFlight slot.
func (c *Client) GetBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (*Blob, error) {
	if err := checkBlob(repo, d); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, oci.NewError(oci.CodeRangeInvalid, "negative offset %d", offset)
	}
	r := request{method: http.MethodGet, repo: repo, path: repo + "/blobs/" + d.String()}
	if offset > 0 {
		r.header = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
	}
	resp, release, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	b := &Blob{
		Body:          &releasingBody{ReadCloser: resp.Body, release: release},
		Size:          resp.ContentLength,
		AcceptsRanges: strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes"),
	}
	if resp.StatusCode == http.StatusPartialContent {
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			b.Body.Close()
			return nil, c.bodyError(resp, fmt.Errorf("asked for bytes %d-, got Content-Range %q", offset, resp.Header.Get("Content-Range")))
		}
		b.Offset, b.Size, b.AcceptsRanges = start, total, true
	}
	if b.Size < 0 {
		b.Size = -1
	}
	return b, nil
}

// HeadBlob returns the size of blob d in repo (-1 when the upstream does not
// say).
func (c *Client) HeadBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	if err := checkBlob(repo, d); err != nil {
		return 0, err
	}
	resp, release, err := c.do(ctx, request{method: http.MethodHead, repo: repo, path: repo + "/blobs/" + d.String()})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	release()
	if resp.ContentLength < 0 {
		return -1, nil
	}
	return resp.ContentLength, nil
}

func checkBlob(repo string, d digest.Digest) error {
	if !oci.ValidRepository(repo) {
		return oci.NewError(oci.CodeNameInvalid, "invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return &oci.Error{Code: oci.CodeDigestInvalid, Message: "invalid digest", Err: err}
	}
	return nil
}

// parseContentRange reads "bytes start-end/total"; total is -1 for "*".
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, size, found := strings.Cut(rest, "/")
	s, e, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	if size == "*" {
		return start, -1, true
	}
	total, err := strconv.ParseInt(size, 10, 64)
	if err != nil || total <= end {
		return 0, 0, false
	}
	return start, total, true
}

// releasingBody frees the MaxInFlight slot when the body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
