package serve

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// fault is one misbehaviour of the upstream.
type fault int

const (
	noFault       fault = iota
	slowFirstByte       // wait before answering (until the request ends)
	stallMidBody        // send half the body, then nothing
	resetMidBody        // send half the body, then reset the connection
	flipByte            // one byte of the body changed
	shortLength         // Content-Length 10 bytes short: the body is cut
	longLength          // Content-Length 100 bytes too long, then close
	statusCode          // answer with faults.status (and Retry-After)
	closeConn           // close the connection without answering
	badRedirect         // redirect to a forbidden (file:) URL
)

// faults sits in front of a fake upstream's handler (registrytest's
// WithHandlerWrap) and injects one fault into requests whose path contains
// match and, if set, whose method is method.
type faults struct {
	mu         sync.Mutex
	kind       fault
	match      string
	method     string
	once       bool // clear after the first hit
	status     int
	retryAfter string
	hits       int
}

func (f *faults) set(kind fault, method, match string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kind, f.method, f.match, f.once, f.hits = kind, method, match, false, 0
}

func (f *faults) clear() { f.set(noFault, "", "") }

// setStatus sets the fault to answer status (with Retry-After when set).
func (f *faults) setStatus(match string, status int, retryAfter string) {
	f.set(statusCode, "", match)
	f.mu.Lock()
	f.status, f.retryAfter = status, retryAfter
	f.mu.Unlock()
}

// setOnce sets a fault that clears after its first hit.
func (f *faults) setOnce(kind fault, method, match string) {
	f.set(kind, method, match)
	f.mu.Lock()
	f.once = true
	f.mu.Unlock()
}

// take returns the fault for r, if any.
func (f *faults) take(r *http.Request) fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kind == noFault || !strings.Contains(r.URL.Path, f.match) || (f.method != "" && r.Method != f.method) {
		return noFault
	}
	k := f.kind
	f.hits++
	if f.once {
		f.kind = noFault
	}
	return k
}

func (f *faults) option() registrytest.Option { return registrytest.WithHandlerWrap(f.wrap) }

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := f.take(r)
		switch k {
		case noFault:
			next.ServeHTTP(w, r)
			return
		case slowFirstByte:
			<-r.Context().Done()
			return
		case statusCode:
			f.mu.Lock()
			status, ra := f.status, f.retryAfter
			f.mu.Unlock()
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected %d"}]}`, status)
			return
		case closeConn:
			resetConn(w)
			return
		case badRedirect:
			http.Redirect(w, r, "file:///etc/passwd", http.StatusTemporaryRedirect)
			return
		}
		// The body faults: get the real answer first.
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code != http.StatusOK && rec.Code != http.StatusPartialContent {
			copyAnswer(w, rec, body)
			return
		}
		switch k {
		case flipByte:
			body = bytes.Clone(body)
			body[len(body)/2] ^= 0x01
			copyAnswer(w, rec, body)
		case shortLength:
			rec.Header().Set("Content-Length", fmt.Sprint(len(body)-10))
			copyAnswer(w, rec, body) // net/http cuts the body at Content-Length
		case stallMidBody:
			copyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		case resetMidBody, longLength:
			n, length := len(body)/2, len(body)
			if k == longLength {
				n, length = len(body), len(body)+100
			}
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
			rec.Header().Set("Content-Length", fmt.Sprint(length))
			rec.Header().Write(buf)
			buf.WriteString("\r\n")
			buf.Write(body[:n])
			buf.Flush()
			if tc, ok := conn.(*net.TCPConn); ok && k == resetMidBody {
				tc.SetLinger(0) // close with RST
			}
			conn.Close()
		}
	})
}

func copyHeader(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
}

func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	copyHeader(w, rec)
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
