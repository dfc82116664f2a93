package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
)

// maxTagListSize bounds a tags/list page (Docker Hub pages hold at most
// 10000 tags; long names make that a few hundred KiB).
const maxTagListSize = 8 << 20

// GetTags fetches one page of repo's tag list: at most n tags (n <= 0 sends
// no n) after last (when not empty). Link is the raw Link header.
func (c *Client) GetTags(ctx context.Context, repo string, n int, last string) (*TagList, error) {
	if !oci.ValidRepository(repo) {
		return nil, oci.NewError(oci.CodeNameInvalid, "invalid repository name %q", repo)
	}
	q := url.Values{}
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	if last != "" {
		q.Set("last", last)
	}
	resp, release, err := c.do(ctx, request{
		method: http.MethodGet, repo: repo, path: repo + "/tags/list", query: q,
		header: http.Header{"Accept": {"application/json"}},
	})
	if err != nil {
		return nil, err
	}
	defer release()
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, resp.ContentLength, maxTagListSize)
	if err != nil {
		return nil, c.bodyError(resp, err)
	}
	return &TagList{Body: body, Link: resp.Header.Get("Link")}, nil
}

// GetReferrers fetches the referrers index of d in repo, filtered by
// artifactType when not empty (the upstream may ignore the filter). An
// upstream without the referrers API answers 404: an *Error whose NotFound
// is true, for which the mirror answers an empty index.
func (c *Client) GetReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (body []byte, mediaType string, err error) {
	if err := checkBlob(repo, d); err != nil {
		return nil, "", err
	}
	q := url.Values{}
	if artifactType != "" {
		q.Set("artifactType", artifactType)
	}
	resp, release, err := c.do(ctx, request{
		method: http.MethodGet, repo: repo, path: repo + "/referrers/" + d.String(), query: q,
		header: http.Header{"Accept": {oci.MediaTypeOCIIndex}},
	})
	if err != nil {
		return nil, "", err
	}
	defer release()
	defer resp.Body.Close()
	if body, err = readCapped(resp.Body, resp.ContentLength, oci.MaxManifestSize); err != nil {
		return nil, "", c.bodyError(resp, err)
	}
	return body, manifestType(resp.Header.Get("Content-Type"), body), nil
}

// Ping checks that the upstream answers the API base (GET /v2/) without
// authenticating: 200 or 401 means reachable.
func (c *Client) Ping(ctx context.Context) error {
	resp, release, err := c.do(ctx, request{method: http.MethodGet, path: "", noAuth: true})
	if err != nil {
		var ue *Error
		if errors.As(err, &ue) && ue.StatusCode == http.StatusUnauthorized {
			return nil
		}
		return err
	}
	resp.Body.Close()
	release()
	return nil
}
