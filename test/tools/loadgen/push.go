package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// cmdPush generates the benchmark image (one big layer, then small ones,
// all random) and pushes it as a one-platform OCI index under -tag.
func cmdPush(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	lb := addLabels(fs)
	reg := fs.String("registry", "", "base URL of the registry to push to (http://127.0.0.1:PORT)")
	repo := fs.String("repo", "library/bench", "repository")
	tag := fs.String("tag", "latest", "tag of the index")
	big := fs.Int64("big", 256<<20, "size of the big layer in bytes")
	small := fs.Int("small", 10, "number of small layers")
	smallSize := fs.Int64("small-size", 1<<20, "size of each small layer")
	seed := fs.String("seed", "regmirror-bench", "random seed; the same seed gives the same image")
	dir := fs.String("dir", "", "keep the layer files here, named by hex digest (default: a temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reg == "" {
		return fmt.Errorf("push: -registry is required")
	}
	keep := *dir != ""
	if !keep {
		d, err := os.MkdirTemp("", "loadgen-push-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	sizes := []int64{*big}
	for range *small {
		sizes = append(sizes, *smallSize)
	}
	ctx := context.Background()
	p := &pusher{c: newClient(4), base: *reg, repo: *repo}
	img, err := p.pushImage(ctx, *dir, *seed, sizes, *tag)
	if err != nil {
		return err
	}
	r := Result{Kind: "push", Index: img.index, Manifest: img.manifest, BigDigest: img.layers[0].Digest, BigSize: *big}
	if keep {
		r.BigFile = filepath.Join(*dir, hexOf(img.layers[0].Digest))
	}
	return lb.emit(stdout, r)
}

// pushed is what pushImage uploaded.
type pushed struct {
	index, manifest string
	layers          []descriptor
}

// pusher uploads blobs and manifests with the distribution API.
type pusher struct {
	c    *http.Client
	base string
	repo string
}

// pushImage writes one random layer file per size into dir, uploads the
// layers, a config and a manifest, and tags a one-entry index.
func (p *pusher) pushImage(ctx context.Context, dir, seed string, sizes []int64, tag string) (pushed, error) {
	var out pushed
	for i, size := range sizes {
		d, path, err := writeRandomFile(dir, fmt.Sprintf("%s/%d", seed, i), size)
		if err != nil {
			return out, err
		}
		if err := p.putBlobFile(ctx, d, size, path); err != nil {
			return out, err
		}
		out.layers = append(out.layers, descriptor{MediaType: mtLayer, Digest: d, Size: size})
	}
	diffIDs := make([]string, len(out.layers))
	for i, l := range out.layers {
		diffIDs[i] = l.Digest // uncompressed layers: the diff ID is the digest
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgDesc := descriptor{MediaType: mtConfig, Digest: digestOf(cfg), Size: int64(len(cfg))}
	if err := p.putBlob(ctx, cfgDesc.Digest, cfg); err != nil {
		return out, err
	}
	man, _ := json.Marshal(manifest{SchemaVersion: 2, MediaType: mtManifest, Config: &cfgDesc, Layers: out.layers})
	out.manifest = digestOf(man)
	if err := p.putManifest(ctx, out.manifest, mtManifest, man); err != nil {
		return out, err
	}
	idx, _ := json.Marshal(manifest{SchemaVersion: 2, MediaType: mtIndex, Manifests: []descriptor{{
		MediaType: mtManifest, Digest: out.manifest, Size: int64(len(man)),
		Platform: &platform{OS: "linux", Architecture: "amd64"},
	}}})
	out.index = digestOf(idx)
	return out, p.putManifest(ctx, tag, mtIndex, idx)
}

// writeRandomFile writes size bytes from a ChaCha8 stream keyed by seed to
// dir/<hex digest> and returns the digest and the path.
func writeRandomFile(dir, seed string, size int64) (string, string, error) {
	tmp, err := os.CreateTemp(dir, "layer-*.tmp")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	rng := rand.NewChaCha8(sha256.Sum256([]byte(seed)))
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(rng, size), make([]byte, readBufSize)); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	path := filepath.Join(dir, hexOf(d))
	return d, path, os.Rename(tmp.Name(), path)
}

func (p *pusher) putBlobFile(ctx context.Context, d string, size int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return p.upload(ctx, d, size, f)
}

func (p *pusher) putBlob(ctx context.Context, d string, b []byte) error {
	return p.upload(ctx, d, int64(len(b)), bytes.NewReader(b))
}

// upload pushes one blob monolithically (POST, then PUT with the body),
// unless the registry already has it.
func (p *pusher) upload(ctx context.Context, d string, size int64, body io.Reader) error {
	blobURL := p.base + "/v2/" + p.repo + "/blobs/" + d
	if resp, err := p.do(ctx, http.MethodHead, blobURL, nil, -1, ""); err == nil && resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err := p.do(ctx, http.MethodPost, p.base+"/v2/"+p.repo+"/blobs/uploads/", nil, 0, "")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("starting upload of %s: %s", short(d), resp.Status)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload location: %w", err)
	}
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	resp, err = p.do(ctx, http.MethodPut, loc.String(), body, size, "application/octet-stream")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("uploading %s: %s", short(d), resp.Status)
	}
	return nil
}

func (p *pusher) putManifest(ctx context.Context, ref, mediaType string, b []byte) error {
	resp, err := p.do(ctx, http.MethodPut, p.base+"/v2/"+p.repo+"/manifests/"+url.PathEscape(ref), bytes.NewReader(b), int64(len(b)), mediaType)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("putting manifest %s: %s", ref, resp.Status)
	}
	return nil
}

// do sends one request and drains and closes the response body; the
// returned response keeps only the status, headers and request.
func (p *pusher) do(ctx context.Context, method, u string, body io.Reader, size int64, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// hexOf strips the algorithm from a digest.
func hexOf(d string) string {
	if i := len("sha256:"); len(d) > i {
		return d[i:]
	}
	return d
}
