package mirror

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/regmirror/regmirror/internal/access"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/route"
)

// allowed applies the access rules (Options.Access) to one target.
func (m *Mirror) allowed(upstream, repo string) error {
	if m.opts.Access == nil {
		return nil
	}
	return m.opts.Access(upstream, repo)
}

// checkAccess applies the access rules to a request without contacting any
// upstream, for answers that may come from the cache (digests): the routed
// target; for an implicit name, the remembered resolution, else the first
// candidate the rules do not merely leave out (as the search would try it).
// Routing errors are left to resolve.
func (m *Mirror) checkAccess(ctx context.Context, name, ns string) error {
	if m.opts.Access == nil {
		return nil
	}
	d, err := m.opts.Router.Route(name, ns)
	if err != nil {
		return nil
	}
	if d.How != route.ByImplicit {
		return m.allowed(d.Upstream, d.Repo)
	}
	if up, ok := m.res.get(ctx, name); ok {
		for _, c := range d.Candidates {
			if c.Upstream == up {
				if err := m.allowed(up, c.Repo); !errors.Is(err, access.ErrNotAllowed) {
					return err
				}
			}
		}
	}
	var first error
	for _, c := range d.Candidates {
		err := m.allowed(c.Upstream, c.Repo)
		if err == nil || !errors.Is(err, access.ErrNotAllowed) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// maxBlobSize is the blob size limit for an upstream (0: none).
func (m *Mirror) maxBlobSize(upstream string) int64 {
	if n, ok := m.opts.MaxBlobSizes[upstream]; ok && n > 0 {
		return n
	}
	return m.opts.MaxBlobSize
}

func tooLarge(size, limit int64) error {
	return oci.NewError(oci.CodeSizeInvalid, "blob of %d bytes exceeds this mirror's limit of %d", size, limit).WithStatus(http.StatusForbidden)
}

// capBody fails a body that goes past n bytes.
func capBody(rc io.ReadCloser, n, limit int64) io.ReadCloser {
	return &cappedBody{ReadCloser: rc, left: n, limit: limit}
}

type cappedBody struct {
	io.ReadCloser
	left, limit int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, tooLarge(-1, c.limit)
	}
	n, err := c.ReadCloser.Read(p[:min(int64(len(p)), c.left+1)])
	c.left -= int64(n)
	if c.left < 0 {
		return n, tooLarge(-1, c.limit)
	}
	return n, err
}
