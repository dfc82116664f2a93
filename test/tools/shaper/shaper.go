package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// options shape the link; the zero value shapes nothing.
type options struct {
	RTT         time.Duration // added per request and per new upstream connection
	BytesPerSec float64       // per response body; 0 = unlimited
	MaxRecords  int           // transfers kept; <= 0 means 20000
}

// transfer is one proxied request as /_transfers reports it.
type transfer struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	Bytes       int64  `json:"bytes"`
	StartNS     int64  `json:"start_ns"`
	FirstByteNS int64  `json:"first_byte_ns,omitempty"`
	EndNS       int64  `json:"end_ns"`
}

// shaper forwards requests to one upstream, shaping and recording them.
type shaper struct {
	proxy *httputil.ReverseProxy
	opts  options

	mu      sync.Mutex
	records []transfer
}

// copyBufSize is the proxy's copy buffer: big enough that a fast unshaped
// transfer costs few syscalls, small enough that pacing stays smooth.
const copyBufSize = 256 << 10

type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufSize)
}

func (b *bufPool) Put(buf []byte) { b.p.Put(&buf) }

func newShaper(target *url.URL, opts options, errLog *log.Logger) *shaper {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 20000
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := sleepCtx(ctx, opts.RTT); err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     64 << 10,
	}
	s := &shaper{opts: opts}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // absolute URLs the upstream builds lead back here
		},
		Transport:     tr,
		FlushInterval: -1, // stream: a paced byte is a delivered byte
		BufferPool:    &bufPool{},
		ErrorLog:      errLog,
		ModifyResponse: func(resp *http.Response) error {
			if opts.BytesPerSec > 0 {
				resp.Body = newPacedReader(resp.Body, opts.BytesPerSec, time.Now)
			}
			return nil
		},
	}
	return s
}

func (s *shaper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_") {
		s.control(w, r)
		return
	}
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	defer func() {
		s.add(transfer{
			Method: r.Method, Path: r.URL.Path, Status: rec.status, Bytes: rec.bytes,
			StartNS: start.UnixNano(), FirstByteNS: rec.firstByte, EndNS: time.Now().UnixNano(),
		})
	}()
	if err := sleepCtx(r.Context(), s.opts.RTT); err != nil {
		return
	}
	s.proxy.ServeHTTP(rec, r)
}

func (s *shaper) add(t transfer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.records) >= s.opts.MaxRecords {
		s.records = append(s.records[:0], s.records[1:]...)
	}
	s.records = append(s.records, t)
}

func (s *shaper) control(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_transfers" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := struct {
			Transfers []transfer `json:"transfers"`
		}{Transfers: append([]transfer{}, s.records...)}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	case r.URL.Path == "/_reset" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.records = nil
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "shaper control endpoints: GET /_transfers, POST /_reset", http.StatusNotFound)
	}
}

// recorder notes the status, the body bytes and when the first one went out.
type recorder struct {
	http.ResponseWriter
	status    int
	bytes     int64
	firstByte int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.firstByte == 0 && len(b) > 0 {
		r.firstByte = time.Now().UnixNano()
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// pacedReader delivers its bytes no faster than rate bytes per second,
// measured from the first Read.
type pacedReader struct {
	r     io.ReadCloser
	rate  float64
	now   func() time.Time
	start time.Time
	n     int64
}

// pacedChunk bounds one Read so that a paced stream moves in small steps.
const pacedChunk = 32 << 10

func newPacedReader(r io.ReadCloser, bytesPerSec float64, now func() time.Time) *pacedReader {
	return &pacedReader{r: r, rate: bytesPerSec, now: now}
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = p.now()
	}
	if len(b) > pacedChunk {
		b = b[:pacedChunk]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	if wait := due.Sub(p.now()); wait > 0 {
		time.Sleep(wait)
	}
	return n, err
}

func (p *pacedReader) Close() error { return p.r.Close() }

// parseRate reads a bandwidth in bits per second: "400Mbit", "1Gbit",
// "64kbit", "1e6" or "0".
func parseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "bps")
	t = strings.TrimSuffix(t, "bit")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "g"):
		mult, t = 1e9, strings.TrimSuffix(t, "g")
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, strings.TrimSuffix(t, "k")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad -rate %q: want e.g. 400Mbit, 1Gbit or 0", s)
	}
	return v * mult, nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
