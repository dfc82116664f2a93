package limit

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// DefaultStallTimeout is how long WriteProgress lets a write wait for a
// client that reads nothing.
const DefaultStallTimeout = 60 * time.Second

// Progress chunks: each gets a fresh deadline. Smaller chunks tolerate
// slower clients (a client must take a chunk within the stall timeout).
// File chunks start at progressFileChunk and grow, up to maxFileChunk,
// while the client takes each one in under stall/256: few sendfile calls
// for a fast client, and a client is only cut off if it slows down by more
// than that factor at once, or stops.
const (
	progressWriteChunk = 64 << 10
	progressFileChunk  = 256 << 10
	maxFileChunk       = 16 << 20
)

// WriteProgress returns middleware that drops clients which stop reading.
// A server-wide WriteTimeout would cut off long blob downloads, so instead
// the connection's write deadline is moved to now+stall before every chunk
// written (via http.ResponseController.SetWriteDeadline): a download of any
// length goes on as long as it moves, and a client that stalls for stall
// is disconnected. Files handed to ReadFrom (http.ServeContent of a cached
// blob) are still sent with sendfile, a chunk at a time.
//
// It wraps every request on a connection, so that a deadline left by one
// response never hits the next one (net/http does not reset write
// deadlines between requests when Server.WriteTimeout is 0). stall <= 0
// means DefaultStallTimeout.
func WriteProgress(stall time.Duration) func(http.Handler) http.Handler {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Every write through pw moves the deadline first, so one left
			// by the previous response on the connection never applies.
			pw := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall, ok: true}
			// After the handler, net/http flushes what is buffered (or
			// writes the headers of a handler that wrote nothing): that
			// write gets a deadline too.
			defer pw.extend()
			next.ServeHTTP(pw, r)
		})
	}
}

// progressWriter moves the write deadline forward before each chunk.
type progressWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	ok    bool      // false once the writer turned out not to support deadlines
	last  time.Time // when the deadline was last moved
	chunk int64     // the next file chunk; 0 means progressFileChunk
}

// extend moves the deadline to stall from now. It skips the system work
// while the deadline set last is still nearly a whole stall away, so a small
// answer costs one deadline update, not one per write.
func (p *progressWriter) extend() {
	if !p.ok {
		return
	}
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < p.stall/8 {
		return
	}
	p.last = now
	if err := p.rc.SetWriteDeadline(now.Add(p.stall)); errors.Is(err, http.ErrNotSupported) {
		p.ok = false
	}
}

func (p *progressWriter) WriteHeader(code int) {
	p.extend()
	p.ResponseWriter.WriteHeader(code)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), progressWriteChunk)
		p.extend()
		m, err := p.ResponseWriter.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// ReadFrom copies r in chunks, each under a fresh deadline. A chunk is an
// *io.LimitedReader over the underlying reader, the one shape net's
// sendfile path unwraps, so a file (or a LimitedReader over a file, as
// http.ServeContent passes) still goes out with sendfile.
func (p *progressWriter) ReadFrom(r io.Reader) (int64, error) {
	src, remain := r, int64(-1)
	outer, limited := r.(*io.LimitedReader)
	if limited {
		src, remain = outer.R, outer.N
	}
	if p.chunk == 0 {
		p.chunk = progressFileChunk
	}
	var total int64
	for remain != 0 {
		n := p.chunk
		if remain > 0 {
			n = min(n, remain)
		}
		p.extend()
		start := time.Now()
		got, err := io.Copy(p.ResponseWriter, &io.LimitedReader{R: src, N: n})
		if got == p.chunk && p.chunk < maxFileChunk && time.Since(start) < p.stall/256 {
			p.chunk *= 2
		}
		total += got
		if remain > 0 {
			remain -= got
		}
		if limited {
			outer.N = remain
		}
		if err != nil || got < n {
			return total, err
		}
	}
	return total, nil
}

// FlushError flushes under a fresh deadline (http.ResponseController finds it).
func (p *progressWriter) FlushError() error {
	p.extend()
	return http.NewResponseController(p.ResponseWriter).Flush()
}

// Flush is FlushError for callers that use http.Flusher.
func (p *progressWriter) Flush() { _ = p.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
