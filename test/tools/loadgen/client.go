package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Media types the benchmark image uses and the pull client accepts.
const (
	mtIndex      = "application/vnd.oci.image.index.v1+json"
	mtManifest   = "application/vnd.oci.image.manifest.v1+json"
	mtDockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerV2   = "application/vnd.docker.distribution.manifest.v2+json"
	mtConfig     = "application/vnd.oci.image.config.v1+json"
	mtLayer      = "application/vnd.oci.image.layer.v1.tar"
)

// acceptManifests is the Accept header of a pull client that handles both
// OCI and Docker images, indexes first.
var acceptManifests = strings.Join([]string{mtIndex, mtDockerList, mtManifest, mtDockerV2}, ", ")

// readBufSize is the body read size: large reads keep the client from
// being the bottleneck of a loopback transfer.
const readBufSize = 1 << 20

// newClient returns an HTTP/1.1 client that keeps up to conns connections
// open to one host and never asks for compression.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 10 * time.Minute, // a coalesced waiter may wait for a whole download
		ReadBufferSize:        64 << 10,
		WriteBufferSize:       64 << 10,
	}
	return &http.Client{Transport: tr}
}

// descriptor is the part of an OCI descriptor the benchmark reads.
type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
}

// manifest is an image manifest or an index (Manifests set).
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

func (m *manifest) isIndex() bool {
	return m.MediaType == mtIndex || m.MediaType == mtDockerList || (m.Config == nil && len(m.Manifests) > 0)
}

// getManifest fetches base/v2/repo/manifests/ref and decodes it.
func getManifest(ctx context.Context, c *http.Client, base, repo, ref string) (*manifest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(resp)
	}
	var m manifest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref, err)
	}
	if m.MediaType == "" {
		m.MediaType = resp.Header.Get("Content-Type")
	}
	return &m, nil
}

// fetchStats describes one body read by readBody.
type fetchStats struct {
	bytes     int64
	firstByte time.Time // zero if the body was empty
}

// getBlob GETs url and reads the body to the end, checking the size (when
// want >= 0) and, with verify, the sha256 digest d.
func getBlob(ctx context.Context, c *http.Client, url, d string, want int64, verify bool, buf []byte) (fetchStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetchStats{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fetchStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fetchStats{}, statusErr(resp)
	}
	var h hash.Hash
	if verify {
		h = sha256.New()
	}
	st, err := readBody(resp.Body, h, buf)
	if err != nil {
		return st, fmt.Errorf("%s after %d bytes: %w", short(d), st.bytes, err)
	}
	if want >= 0 && st.bytes != want {
		return st, fmt.Errorf("%s: got %d bytes, want %d", short(d), st.bytes, want)
	}
	if h != nil {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d {
			return st, fmt.Errorf("digest mismatch: got %s, want %s", short(got), short(d))
		}
	}
	return st, nil
}

// readBody reads r to EOF into buf, noting when the first byte arrived and
// feeding h when it is not nil.
func readBody(r io.Reader, h hash.Hash, buf []byte) (fetchStats, error) {
	var st fetchStats
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if st.firstByte.IsZero() {
				st.firstByte = time.Now()
			}
			st.bytes += int64(n)
			if h != nil {
				h.Write(buf[:n])
			}
		}
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

func statusErr(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, strings.TrimSpace(string(b)))
}

// short abbreviates a digest for messages.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
