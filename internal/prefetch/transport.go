package prefetch

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// HandlerTransport is an http.RoundTripper that answers requests with a
// handler in this process, streaming the response body through a pipe (never
// buffering a blob). The mirror's scheduled prefetch uses it to pull through
// its own handler without knowing its listen address or TLS set-up.
type HandlerTransport struct {
	Handler http.Handler
	// RemoteAddr is what the handler sees as the client (for access logs).
	RemoteAddr string
}

// RoundTrip implements http.RoundTripper.
func (t *HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: make(http.Header), pw: pw, ready: make(chan *http.Response, 1), req: req}
	r := req.Clone(req.Context())
	r.RemoteAddr = t.RemoteAddr
	if r.RemoteAddr == "" {
		r.RemoteAddr = "prefetch"
	}
	r.RequestURI = r.URL.RequestURI()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	go func() {
		err := io.EOF
		defer func() {
			if p := recover(); p != nil {
				// http.ErrAbortHandler: the handler gave up mid-body.
				err = fmt.Errorf("handler aborted the response: %v", p)
				if pe, ok := p.(error); ok && !errors.Is(pe, http.ErrAbortHandler) {
					err = fmt.Errorf("handler panicked: %w", pe)
				}
			}
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
			if err == io.EOF {
				pw.Close()
			} else {
				pw.CloseWithError(err)
			}
		}()
		t.Handler.ServeHTTP(w, r)
	}()
	select {
	case resp := <-w.ready:
		resp.Body = pr
		return resp, nil
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
}

// pipeWriter is the handler's ResponseWriter: the header goes out on the
// first write, the body into the pipe.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter
	req    *http.Request
	once   sync.Once
	ready  chan *http.Response
}

// Header implements http.ResponseWriter.
func (w *pipeWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter: the first call sends the
// response (with a copy of the header) to RoundTrip.
func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() {
		h := w.header.Clone()
		length := int64(-1)
		if v, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil {
			length = v
		}
		w.ready <- &http.Response{
			Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), StatusCode: code,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, ContentLength: length, Request: w.req,
		}
	})
}

// Write implements http.ResponseWriter; a HEAD answer's body is dropped.
func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.req.Method == http.MethodHead {
		return len(b), nil
	}
	return w.pw.Write(b)
}

// Flush implements http.Flusher; writes already go straight to the reader.
func (w *pipeWriter) Flush() {}
