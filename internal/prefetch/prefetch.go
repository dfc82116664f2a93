// Package prefetch warms a mirror's cache: it pulls images through the
// mirror's own /v2/ API, the way a client would, so that a prefetch
// coalesces with live traffic and goes through the same routing, access
// rules and verification. Client pulls one image (for an index, only the
// requested platforms); Scheduler re-pulls configured images on an
// interval, with jitter, to keep their tags fresh.
package prefetch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/reference"
	"github.com/regmirror/regmirror/internal/registry"
)

// Defaults.
const (
	DefaultMirror   = "http://127.0.0.1:5000"
	DefaultParallel = 3
)

// Client pulls images through a mirror.
type Client struct {
	// Base is the mirror's URL (default http://127.0.0.1:5000).
	Base string
	// HTTP sends the requests (default: a plain http.Client; give it a
	// HandlerTransport to go through a handler in process).
	HTTP *http.Client
	// Parallel is how many blobs of one image are fetched at once (default 3).
	Parallel int
}

// Progress is a snapshot of one image's prefetch.
type Progress struct {
	Image string
	// Blobs and Bytes are what must be fetched (blobs the mirror already
	// has are counted in Cached instead); the Done fields what was.
	Blobs, BlobsDone int
	Bytes, BytesDone int64
	Cached           int
}

// Result is the outcome of one image's prefetch.
type Result struct {
	Image  string        `json:"image"`
	Digest digest.Digest `json:"digest"`
	// Platforms are those fetched from an index ("" for a single image).
	Platforms []string `json:"platforms,omitempty"`
	Manifests int      `json:"manifests"`
	// Fetched blobs went through the mirror; Cached ones it already had
	// (a HEAD answered from its cache); Foreign layers were skipped.
	Fetched  int           `json:"fetched"`
	Cached   int           `json:"cached"`
	Foreign  int           `json:"foreign,omitempty"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration"`
}

// blob is one blob to fetch.
type blob struct {
	d    digest.Digest
	size int64
}

// Image pulls image (as users write it for this mirror: "nginx:1.27",
// "gcr.io/distroless/static:latest") through the mirror. For an index it
// takes the manifests of the given platforms ("linux/amd64", "linux/arm/v7";
// none: every platform except attestations); a platform the index lacks is
// an error. Blobs the mirror has cached are not downloaded. progress, if
// set, is called (serially) as the prefetch advances.
func (c *Client) Image(ctx context.Context, image string, platforms []string, progress func(Progress)) (Result, error) {
	start := time.Now()
	res := Result{Image: image}
	ref, err := reference.Parse(image)
	if err != nil {
		return res, err
	}
	body, mt, d, err := c.manifest(ctx, ref.Name, ref.TagOrDigest())
	if err != nil {
		return res, err
	}
	res.Digest, res.Manifests = d, 1
	images := [][]byte{body}
	if oci.IsIndex(mt) {
		children, names, err := choosePlatforms(body, platforms)
		if err != nil {
			return res, fmt.Errorf("%s: %w", image, err)
		}
		res.Platforms = names
		images = images[:0]
		for _, child := range children {
			b, _, _, err := c.manifest(ctx, ref.Name, child.String())
			if err != nil {
				return res, err
			}
			images = append(images, b)
			res.Manifests++
		}
	}
	blobs, foreign, err := imageBlobs(images)
	if err != nil {
		return res, fmt.Errorf("%s: %w", image, err)
	}
	res.Foreign = foreign
	err = c.blobs(ctx, ref.Name, image, blobs, &res, progress)
	res.Duration = time.Since(start)
	return res, err
}

// manifest GETs one manifest and checks its digest.
func (c *Client) manifest(ctx context.Context, name, ref string) (body []byte, mediaType string, d digest.Digest, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(name, "manifests", ref), nil)
	if err != nil {
		return nil, "", "", err
	}
	req.Header.Set("Accept", oci.ManifestAccept)
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", "", statusError(resp, name+":"+ref)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return nil, "", "", err
	}
	if len(body) > oci.MaxManifestSize {
		return nil, "", "", fmt.Errorf("manifest %s:%s is larger than %d bytes", name, ref, oci.MaxManifestSize)
	}
	d = digest.FromBytes(body)
	if want, err := digest.Parse(ref); err == nil && want != d {
		return nil, "", "", fmt.Errorf("manifest %s@%s: content hashes to %s", name, ref, d)
	}
	mediaType = resp.Header.Get("Content-Type")
	if mediaType == "" || mediaType == "application/json" {
		mediaType = oci.SniffManifestType(body)
	}
	return body, mediaType, d, nil
}

// blobs fetches the blobs the mirror does not have, Parallel at a time.
func (c *Client) blobs(ctx context.Context, name, image string, blobs []blob, res *Result, progress func(Progress)) error {
	var mu sync.Mutex
	p := Progress{Image: image}
	report := func(update func()) {
		mu.Lock()
		defer mu.Unlock()
		update()
		if progress != nil {
			progress(p)
		}
	}
	limit := c.Parallel
	if limit <= 0 {
		limit = DefaultParallel
	}

	// First ask which blobs are cached, so the total to fetch is known.
	cached := make([]bool, len(blobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, b := range blobs {
		g.Go(func() error {
			hit, err := c.cached(gctx, name, b.d)
			cached[i] = hit
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var todo []blob
	report(func() {
		for i, b := range blobs {
			if cached[i] {
				p.Cached++
				continue
			}
			todo = append(todo, b)
			p.Blobs++
			p.Bytes += b.size
		}
	})
	res.Cached = p.Cached

	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, b := range todo {
		g.Go(func() error {
			n, err := c.fetch(gctx, name, b, func(n int64) { report(func() { p.BytesDone += n }) })
			if err != nil {
				return err
			}
			report(func() { p.BlobsDone++ })
			mu.Lock()
			res.Fetched++
			res.Bytes += n
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// cached asks the mirror (HEAD) whether it has blob d in its cache.
func (c *Client) cached(ctx context.Context, name string, d digest.Digest) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.url(name, "blobs", d.String()), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, statusError(resp, name+"@"+d.String())
	}
	return resp.Header.Get(registry.HeaderCache) == "hit", nil
}

// fetch downloads blob b, verifying it, and reports bytes as they come.
func (c *Client) fetch(ctx context.Context, name string, b blob, add func(int64)) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(name, "blobs", b.d.String()), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(resp, name+"@"+b.d.String())
	}
	v := b.d.Verifier()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			_, _ = v.Write(buf[:k]) // a hash never fails
			n += int64(k)
			add(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("blob %s: %w", b.d, err)
		}
	}
	if n != b.size || !v.Verified() {
		return n, fmt.Errorf("blob %s: got %d bytes (want %d) that do not match the digest", b.d, n, b.size)
	}
	return n, nil
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) url(name, kind, ref string) string {
	base := c.Base
	if base == "" {
		base = DefaultMirror
	}
	return strings.TrimSuffix(base, "/") + "/v2/" + name + "/" + kind + "/" + ref
}

// statusError describes a failed answer, with the OCI error message when
// the body has one.
func statusError(resp *http.Response, what string) error {
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) == nil && len(body.Errors) > 0 {
		return fmt.Errorf("%s: %s: %s", what, body.Errors[0].Code, body.Errors[0].Message)
	}
	return fmt.Errorf("%s: %s", what, resp.Status)
}
