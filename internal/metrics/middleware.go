package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Response headers set by internal/registry (registry.HeaderUpstream and
// registry.HeaderCache; a test keeps them in step). This package does not
// import the registry, so that it stays a leaf.
const (
	headerUpstream = "X-Mirror-Upstream"
	headerCache    = "X-Mirror-Cache"
)

// kind is the kind of path a request is for.
type kind uint8

const (
	kindManifests kind = iota
	kindBlobs
	kindTags
	kindReferrers
	kindBase
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"manifests", "blobs", "tags", "referrers", "base", "other"}

func (k kind) String() string { return kindNames[k] }

// pathKind classifies an API path from the right, without allocating:
// /v2/<name>/manifests/<ref>, /v2/<name>/blobs/<digest>,
// /v2/<name>/tags/list, /v2/<name>/referrers/<digest>, /v2/. Uploads, the
// catalog and everything outside /v2/ are "other".
func pathKind(p string) kind {
	rest, ok := strings.CutPrefix(p, "/v2")
	if !ok {
		return kindOther
	}
	if rest == "" || rest == "/" {
		return kindBase
	}
	if rest[0] != '/' {
		return kindOther
	}
	i := strings.LastIndexByte(rest, '/')
	last, head := rest[i+1:], rest[:i]
	j := strings.LastIndexByte(head, '/')
	if j <= 0 || last == "" { // no repository name, or a trailing slash
		return kindOther
	}
	switch head[j+1:] {
	case "manifests":
		return kindManifests
	case "blobs":
		if last == "uploads" {
			return kindOther
		}
		return kindBlobs
	case "tags":
		if last == "list" {
			return kindTags
		}
	case "referrers":
		return kindReferrers
	}
	return kindOther
}

// method is GET, HEAD or anything else.
type method uint8

const (
	methodGet method = iota
	methodHead
	methodOther
)

var methodNames = [...]string{"GET", "HEAD", "other"}

func methodOf(s string) method {
	switch s {
	case http.MethodGet:
		return methodGet
	case http.MethodHead:
		return methodHead
	}
	return methodOther
}

// reqKey identifies one http_requests_total series.
type reqKey struct {
	method method
	kind   kind
	code   uint16
}

// Cache results, in the order of cacheCells.
var resultNames = [...]string{"hit", "revalidated", "stale", "miss", "coalesced", "pass"}

const (
	resultHit = iota
	resultRevalidated
	resultStale
	resultMiss
	resultCoalesced
	resultPass
	numResults
)

func resultOf(s string) (int, bool) {
	for i, n := range resultNames {
		if n == s {
			return i, true
		}
	}
	return 0, false
}

// cacheCells are the pre-resolved cache series of one upstream.
type cacheCells struct {
	requests [numResults]counter
	bytes    [numResults]counter
}

type counter interface {
	Inc()
	Add(float64)
}

// Request is what the middleware saw of one finished request; it is handed
// to the Middleware's hooks (the access log).
type Request struct {
	*http.Request
	Status   int
	Bytes    int64
	Duration time.Duration
	End      time.Time
}

// Middleware records every request that passes through it: count by
// method, path kind and status; duration and bytes by path kind; and for
// content answers, the cache result by upstream (from the X-Mirror-Cache
// and X-Mirror-Upstream response headers). Each hook is then called with
// the finished request, so that an access log shares the one response
// wrapper. The response writer it passes on keeps sendfile working
// (io.ReaderFrom) and unwraps for http.ResponseController.
func (m *Metrics) Middleware(next http.Handler, hooks ...func(Request, http.Header)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := m.now()
		m.httpInFlight.Inc()
		rw := &responseWriter{ResponseWriter: w}
		defer func() {
			m.httpInFlight.Dec()
			end := m.record(r, rw, start)
			for _, h := range hooks {
				h(Request{Request: r, Status: rw.status, Bytes: rw.bytes, Duration: end.Sub(start), End: end}, rw.Header())
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// record counts a finished request and returns its end time.
func (m *Metrics) record(r *http.Request, rw *responseWriter, start time.Time) (end time.Time) {
	end = m.now()
	k := pathKind(r.URL.Path)
	status := rw.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
		rw.status = status
	}
	meth := methodOf(r.Method)
	if meth == methodHead {
		rw.bytes = 0 // net/http discards a HEAD body; nothing was sent
	}
	key := reqKey{method: meth, kind: k, code: uint16(min(max(status, 0), 999))}
	m.reqCells.get(key, func() prometheus.Counter {
		return m.httpRequests.WithLabelValues(methodNames[key.method], k.String(), strconv.Itoa(int(key.code)))
	}).Inc()
	m.httpDuration[k].Observe(end.Sub(start).Seconds())
	if rw.bytes > 0 {
		m.httpBytes[k].Add(float64(rw.bytes))
		m.served.Add(rw.bytes)
		m.today.add(end, rw.bytes)
	}
	h := rw.Header()
	res, ok := resultOf(h.Get(headerCache))
	if !ok {
		return end
	}
	c := m.cacheCellsFor(h.Get(headerUpstream))
	c.requests[res].Inc()
	if rw.bytes > 0 {
		c.bytes[res].Add(float64(rw.bytes))
	}
	switch res {
	case resultHit, resultRevalidated, resultStale:
		m.hits.Add(1)
		m.lookups.Add(1)
	case resultMiss, resultCoalesced:
		m.lookups.Add(1)
	}
	return end
}

// cacheCellsFor returns the series of an upstream, creating them on first
// use; past maxUpstreamLabels names, new ones share "other".
func (m *Metrics) cacheCellsFor(upstream string) *cacheCells {
	if c, ok := m.upCells.lookup(upstream); ok {
		return c
	}
	if m.upCells.len() >= maxUpstreamLabels {
		upstream = "other"
	}
	return m.upCells.get(upstream, func() *cacheCells {
		c := &cacheCells{}
		for i, n := range resultNames {
			c.requests[i] = m.cacheReqs.WithLabelValues(upstream, n)
			c.bytes[i] = m.cacheBytes.WithLabelValues(upstream, n)
		}
		return c
	})
}

// responseWriter records the status and body bytes of a response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first final status.
func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written.
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom hands the copy to the underlying writer, so a file body still
// goes out with sendfile.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Flush flushes the underlying writer when it can.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
