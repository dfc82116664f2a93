package upstream

import (
	"context"
	"fmt"
	"mime"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
)

// GetManifest fetches repo's manifest at ref (a tag or a digest), asking for
// every manifest type the mirror handles. The body is read up to
// oci.MaxManifestSize (ErrManifestTooLarge past it) and checked: against ref
// when ref is a digest, else against Docker-Content-Digest when the upstream
// sends one (ErrDigestMismatch). Digest is sha256 of the body unless ref or
// the header name another algorithm.
func (c *Client) GetManifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	want, err := checkRef(repo, ref)
	if err != nil {
		return nil, err
	}
	resp, release, err := c.do(ctx, manifestRequest(http.MethodGet, repo, ref))
	if err != nil {
		return nil, err
	}
	defer release()
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, resp.ContentLength, oci.MaxManifestSize)
	if err != nil {
		return nil, c.bodyError(resp, err)
	}
	if want == "" {
		if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
			if want, err = digest.Parse(h); err != nil {
				return nil, c.bodyError(resp, fmt.Errorf("bad Docker-Content-Digest %q: %w", h, ErrDigestMismatch))
			}
		}
	}
	got := digest.Canonical.FromBytes(body)
	if want != "" {
		if !want.Algorithm().Available() {
			return nil, c.bodyError(resp, fmt.Errorf("digest %s: unsupported algorithm: %w", want, ErrDigestMismatch))
		}
		if got = want.Algorithm().FromBytes(body); got != want {
			return nil, c.bodyError(resp, fmt.Errorf("got %s, want %s: %w", got, want, ErrDigestMismatch))
		}
	}
	return &Manifest{
		MediaType: manifestType(resp.Header.Get("Content-Type"), body),
		Digest:    got,
		Size:      int64(len(body)),
		Body:      body,
	}, nil
}

// HeadManifest asks for repo's manifest at ref without its body. Digest is
// the Docker-Content-Digest header (or ref, for a digest ref); when the
// upstream sends neither digest nor length, it falls back to a GET and
// computes them. Body is always nil.
func (c *Client) HeadManifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	want, err := checkRef(repo, ref)
	if err != nil {
		return nil, err
	}
	resp, release, err := c.do(ctx, manifestRequest(http.MethodHead, repo, ref))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	release()
	m := &Manifest{MediaType: mediaType(resp.Header.Get("Content-Type")), Digest: want, Size: resp.ContentLength}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		d, err := digest.Parse(h)
		if err != nil || (want != "" && d != want) {
			return nil, c.bodyError(resp, fmt.Errorf("bad Docker-Content-Digest %q for %s: %w", h, ref, ErrDigestMismatch))
		}
		m.Digest = d
	}
	if m.Digest == "" || m.Size < 0 || !isManifestType(m.MediaType) {
		full, err := c.GetManifest(ctx, repo, ref)
		if err != nil {
			return nil, err
		}
		full.Body = nil
		return full, nil
	}
	return m, nil
}

func manifestRequest(method, repo, ref string) request {
	return request{
		method: method, repo: repo, path: repo + "/manifests/" + ref,
		header: http.Header{"Accept": {oci.ManifestAccept}},
	}
}

// checkRef validates repo and ref, returning ref's digest when it is one.
func checkRef(repo, ref string) (digest.Digest, error) {
	if !oci.ValidRepository(repo) {
		return "", oci.NewError(oci.CodeNameInvalid, "invalid repository name %q", repo)
	}
	if oci.IsDigest(ref) {
		return oci.ParseDigest(ref)
	}
	if !oci.ValidTag(ref) {
		return "", oci.NewError(oci.CodeManifestInvalid, "invalid tag %q", ref)
	}
	return "", nil
}

// manifestType is the answer's media type, or the one sniffed from body
// when the upstream sent none or a generic JSON type.
func manifestType(contentType string, body []byte) string {
	if mt := mediaType(contentType); isManifestType(mt) {
		return mt
	}
	if mt := oci.SniffManifestType(body); mt != "" {
		return mt
	}
	return mediaType(contentType)
}

func isManifestType(mt string) bool {
	return mt != "" && mt != "application/json" && mt != "text/plain" && mt != "application/octet-stream"
}

// mediaType strips parameters from a Content-Type value.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}
