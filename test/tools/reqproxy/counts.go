package main

import (
	"strings"
	"sync"
)

// Request kinds, from the distribution-spec endpoint a path addresses.
// ping and uploads are finer than the spec's list so that a test can tell
// "GET /v2/" and upload sessions apart from everything else.
const (
	kindPing      = "ping"      // /v2/
	kindManifests = "manifests" // /v2/<name>/manifests/<ref>
	kindBlobs     = "blobs"     // /v2/<name>/blobs/<digest>
	kindUploads   = "uploads"   // /v2/<name>/blobs/uploads/...
	kindTags      = "tags"      // /v2/<name>/tags/list
	kindReferrers = "referrers" // /v2/<name>/referrers/<digest>
	kindToken     = "token"     // .../token outside /v2/ (the realm)
	kindOther     = "other"
)

// classify returns the kind of a request path and, for blob requests, the
// digest. Names contain slashes, so the endpoint is read from the right.
func classify(path string) (kind, dgst string) {
	if path == "/v2" || path == "/v2/" {
		return kindPing, ""
	}
	if !strings.HasPrefix(path, "/v2/") {
		if strings.HasSuffix(strings.TrimSuffix(path, "/"), "/token") {
			return kindToken, ""
		}
		return kindOther, ""
	}
	if strings.Contains(path, "/blobs/uploads") {
		return kindUploads, ""
	}
	segs := strings.Split(strings.TrimPrefix(path, "/v2/"), "/")
	n := len(segs)
	if n < 3 || segs[n-1] == "" { // at least <name>/<endpoint>/<ref>
		return kindOther, ""
	}
	switch segs[n-2] {
	case "manifests":
		return kindManifests, ""
	case "blobs":
		return kindBlobs, segs[n-1]
	case "referrers":
		return kindReferrers, ""
	case "tags":
		if segs[n-1] == "list" {
			return kindTags, ""
		}
	}
	return kindOther, ""
}

// counter tallies requests by "METHOD kind" and blob requests by digest.
type counter struct {
	mu     sync.Mutex
	total  int
	byKind map[string]int
	blobs  map[string]map[string]int // digest -> method -> n
}

func newCounter() *counter {
	c := &counter{}
	c.reset()
	return c
}

func (c *counter) add(method, kind, dgst string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.byKind[method+" "+kind]++
	if dgst == "" {
		return
	}
	if c.blobs[dgst] == nil {
		c.blobs[dgst] = map[string]int{}
	}
	c.blobs[dgst][method]++
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total = 0
	c.byKind = map[string]int{}
	c.blobs = map[string]map[string]int{}
}

// countsJSON is what GET /_counts returns, for example
//
//	{"total": 5, "requests": {"GET blobs": 2, "HEAD manifests": 1, ...},
//	 "blobs": {"sha256:ab...": {"GET": 1}}}
type countsJSON struct {
	Total    int                       `json:"total"`
	Requests map[string]int            `json:"requests"`
	Blobs    map[string]map[string]int `json:"blobs"`
}

func (c *counter) snapshot() countsJSON {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := countsJSON{Total: c.total, Requests: map[string]int{}, Blobs: map[string]map[string]int{}}
	for k, v := range c.byKind {
		out.Requests[k] = v
	}
	for d, m := range c.blobs {
		out.Blobs[d] = map[string]int{}
		for k, v := range m {
			out.Blobs[d][k] = v
		}
	}
	return out
}
