package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
)

var acceptManifests = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// target is one URL of the mix.
type target struct {
	kind   string // "manifest" or "blob"
	url    string
	digest string // expected sha256 digest ("" for a tag)
	size   int64
}

type targets struct{ manifests, blobs []target }

// descriptor is the part of a manifest or index entry loadmix reads.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifestDoc struct {
	Manifests []descriptor `json:"manifests"` // an index
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
}

// discover reads the image behind ref: the tag, the manifests by digest and
// the blobs (up to maxBlob) make up the mix.
func discover(c *http.Client, o options) (*targets, error) {
	base := strings.TrimSuffix(o.registry, "/") + "/v2/" + o.repo
	t := &targets{}
	var walk func(ref string, depth int) error
	walk = func(ref string, depth int) error {
		body, d, err := get(c, base+"/manifests/"+ref)
		if err != nil {
			return err
		}
		t.manifests = append(t.manifests, target{kind: "manifest", url: base + "/manifests/" + ref, size: int64(len(body))})
		if !strings.HasPrefix(ref, "sha256:") {
			t.manifests = append(t.manifests, target{kind: "manifest", url: base + "/manifests/" + d, digest: d, size: int64(len(body))})
		} else {
			t.manifests[len(t.manifests)-1].digest = d
		}
		var m manifestDoc
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", ref, err)
		}
		for _, sub := range m.Manifests {
			if depth == 0 {
				if err := walk(sub.Digest, 1); err != nil {
					return err
				}
			}
		}
		for _, b := range append([]descriptor{m.Config}, m.Layers...) {
			if b.Digest != "" && b.Size <= o.maxBlob {
				t.blobs = append(t.blobs, target{kind: "blob", url: base + "/blobs/" + b.Digest, digest: b.Digest, size: b.Size})
			}
		}
		return nil
	}
	if err := walk(o.ref, 0); err != nil {
		return nil, err
	}
	if len(t.blobs) == 0 && o.blobShare > 0 {
		return nil, fmt.Errorf("no blob of at most %d bytes in %s:%s", o.maxBlob, o.repo, o.ref)
	}
	return t, nil
}

func get(c *http.Client, url string) ([]byte, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", acceptManifests)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != 200 {
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sum := sha256.Sum256(body)
	return body, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// fetch GETs one target and checks status, length and (with verify) digest.
func fetch(ctx context.Context, c *http.Client, t target, verify bool, buf []byte) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", t.url, nil)
	if t.kind == "manifest" {
		req.Header.Set("Accept", acceptManifests)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var h hash.Hash
	var w io.Writer = io.Discard
	if verify && t.digest != "" {
		h = sha256.New()
		w = h
	}
	n, err := io.CopyBuffer(w, resp.Body, buf)
	if err != nil {
		return err
	}
	if n != t.size {
		return fmt.Errorf("%d bytes, want %d", n, t.size)
	}
	if h != nil && "sha256:"+hex.EncodeToString(h.Sum(nil)) != t.digest {
		return errors.New("digest mismatch")
	}
	return nil
}
