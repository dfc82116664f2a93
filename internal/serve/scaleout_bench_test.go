package serve

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkScaleOutWarmPull measures warm pull throughput (manifest by tag
// plus every blob, all cached in S3 and Redis) through one node, and with
// the same clients split across two nodes sharing the bucket. Run with
//
//	go test -run '^$' -bench ScaleOutWarmPull -benchtime 40x ./internal/serve/
//
// MB/s counts image bytes delivered to clients. Everything (clients, both
// nodes, SeaweedFS, Redis) shares one machine, so on few cores the second
// node adds little; the number to watch is that it does not fall.
func BenchmarkScaleOutWarmPull(b *testing.B) {
	c := newCluster(b)
	nodes := []*node{c.addNode(""), c.addNode("")}
	img := c.up.PushRandomImage(b, "library/warm", "1", 4, 4<<20)
	for _, n := range nodes {
		if _, err := pullImage(n.host, "library/warm:1"); err != nil {
			b.Fatal(err)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		b.Fatal(err)
	}
	paths := []string{"/v2/library/warm/blobs/" + m.Config.Digest.String()}
	for _, l := range m.Layers {
		paths = append(paths, "/v2/library/warm/blobs/"+l.Digest.String())
	}
	size := imageBytes(b, img)

	for _, bc := range []struct {
		name  string
		nodes []*node
	}{
		{"one-node", nodes[:1]},
		{"two-nodes", nodes},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.SetParallelism(4) // 4 clients per core
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				n := bc.nodes[int(next.Add(1))%len(bc.nodes)]
				client := &http.Client{}
				for pb.Next() {
					if err := warmPull(client, n.host, paths); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// warmPull fetches the manifest by tag and every blob, discarding bodies.
func warmPull(c *http.Client, host string, blobs []string) error {
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/library/warm/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if err := drain(c, req); err != nil {
		return err
	}
	for _, p := range blobs {
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+p, nil)
		if err := drain(c, req); err != nil {
			return err
		}
	}
	return nil
}

func drain(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{req.URL.Path, resp.Status}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

type statusError struct{ path, status string }

func (e *statusError) Error() string { return e.path + ": " + e.status }
