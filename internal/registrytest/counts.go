package registrytest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
)

// Counts are the requests the public server received, counted on arrival:
// a request answered 401 counts as well as its authorised retry.
type Counts struct {
	Token        atomic.Int64 // GET /token
	Ping         atomic.Int64 // /v2/
	ManifestGet  atomic.Int64
	ManifestHead atomic.Int64
	BlobGet      atomic.Int64
	BlobHead     atomic.Int64
	Tags         atomic.Int64 // tags/list, any method
	Referrers    atomic.Int64 // referrers, any method
	Total        atomic.Int64 // every request

	mu       sync.Mutex
	blobGets map[digest.Digest]int
}

func newCounts() *Counts { return &Counts{blobGets: map[digest.Digest]int{}} }

// BlobGets returns how many GETs the blob d received, in any repository.
func (c *Counts) BlobGets(d digest.Digest) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobGets[d]
}

// Reset sets every counter back to zero.
func (c *Counts) Reset() {
	for _, n := range []*atomic.Int64{
		&c.Token, &c.Ping, &c.ManifestGet, &c.ManifestHead,
		&c.BlobGet, &c.BlobHead, &c.Tags, &c.Referrers, &c.Total,
	} {
		n.Store(0)
	}
	c.mu.Lock()
	clear(c.blobGets)
	c.mu.Unlock()
}

// String summarises the counters, for failure messages.
func (c *Counts) String() string {
	return fmt.Sprintf("token=%d ping=%d manifest GET=%d HEAD=%d blob GET=%d HEAD=%d tags=%d referrers=%d total=%d",
		c.Token.Load(), c.Ping.Load(), c.ManifestGet.Load(), c.ManifestHead.Load(),
		c.BlobGet.Load(), c.BlobHead.Load(), c.Tags.Load(), c.Referrers.Load(), c.Total.Load())
}

// handler counts r, then hands it to next.
func (c *Counts) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.count(r)
		next.ServeHTTP(w, r)
	})
}

func (c *Counts) count(r *http.Request) {
	c.Total.Add(1)
	get, head := r.Method == http.MethodGet, r.Method == http.MethodHead
	switch kindOf(r.URL.Path) {
	case "token":
		c.Token.Add(1)
	case "base":
		c.Ping.Add(1)
	case "tags":
		c.Tags.Add(1)
	case "referrers":
		c.Referrers.Add(1)
	case "manifests":
		switch {
		case get:
			c.ManifestGet.Add(1)
		case head:
			c.ManifestHead.Add(1)
		}
	case "blobs":
		switch {
		case get:
			c.BlobGet.Add(1)
			i := strings.LastIndex(r.URL.Path, "/")
			c.mu.Lock()
			c.blobGets[digest.Digest(r.URL.Path[i+1:])]++
			c.mu.Unlock()
		case head:
			c.BlobHead.Add(1)
		}
	}
}
