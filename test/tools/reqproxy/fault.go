package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Fault changes how the proxy answers one request. Serve either answers the
// request itself or calls next (the forwarding handler), possibly with a
// wrapped ResponseWriter. It must not keep w or r after it returns.
type Fault interface {
	Serve(w http.ResponseWriter, r *http.Request, next http.Handler)
}

// faultMaker builds a Fault from the text after "=" in a spec ("" if none).
type faultMaker func(arg string) (Fault, error)

// faultModes lists the modes a spec may name. A new mode is one more line
// here and one small type below.
func faultModes() map[string]faultMaker {
	return map[string]faultMaker{
		"none":             func(string) (Fault, error) { return nil, nil },
		"status":           newStatusFault,
		"delay-first-byte": newDelayFault,
		"truncate":         newTruncateFault,
		"drop":             func(string) (Fault, error) { return dropFault{}, nil },
	}
}

// rule is a parsed fault spec:
//
//	MODE[=ARG][,kind=KIND]...[,path=SUBSTRING][,times=N]
//
// for example "status=503", "delay-first-byte=3s,kind=manifests",
// "truncate=100,kind=blobs,times=1". kind (repeatable) and path restrict
// which requests get the fault; times limits how many do (then the proxy
// passes requests through again). A nil fault means "none".
type rule struct {
	spec      string
	fault     Fault
	kinds     []string
	path      string
	remaining atomic.Int64 // < 0: unlimited
}

func parseRule(spec string) (*rule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = "none"
	}
	parts := strings.Split(spec, ",")
	mode, arg, _ := strings.Cut(parts[0], "=")
	mk, ok := faultModes()[mode]
	if !ok {
		return nil, fmt.Errorf("unknown fault mode %q", mode)
	}
	f, err := mk(arg)
	if err != nil {
		return nil, fmt.Errorf("fault %q: %w", parts[0], err)
	}
	r := &rule{spec: spec, fault: f}
	r.remaining.Store(-1)
	for _, opt := range parts[1:] {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "kind":
			r.kinds = append(r.kinds, v)
		case "path":
			r.path = v
		case "times":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("times=%q: want a count", v)
			}
			r.remaining.Store(n)
		default:
			return nil, fmt.Errorf("unknown fault option %q", opt)
		}
	}
	return r, nil
}

// pick returns the fault for a request of this kind and path, or nil.
func (r *rule) pick(kind, path string) Fault {
	if r == nil || r.fault == nil {
		return nil
	}
	if len(r.kinds) > 0 && !contains(r.kinds, kind) {
		return nil
	}
	if r.path != "" && !strings.Contains(path, r.path) {
		return nil
	}
	for {
		n := r.remaining.Load()
		if n < 0 {
			return r.fault
		}
		if n == 0 {
			return nil
		}
		if r.remaining.CompareAndSwap(n, n-1) {
			return r.fault
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// statusFault answers with a fixed status and an OCI error body, without
// asking the upstream: "status=503".
type statusFault struct{ code int }

func newStatusFault(arg string) (Fault, error) {
	code, err := strconv.Atoi(arg)
	if err != nil || code < 100 || code > 599 {
		return nil, fmt.Errorf("want an HTTP status, got %q", arg)
	}
	return statusFault{code: code}, nil
}

func (f statusFault) Serve(w http.ResponseWriter, r *http.Request, _ http.Handler) {
	code := map[int]string{401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}[f.code]
	if code == "" {
		code = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.code)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"injected by reqproxy"}]}`+"\n", code)
	}
}

// delayFault forwards the request at once but holds back the response
// headers (the first byte the client sees) for a while:
// "delay-first-byte=3s". A client that gives up earlier ends the wait.
type delayFault struct{ d time.Duration }

func newDelayFault(arg string) (Fault, error) {
	d, err := time.ParseDuration(arg)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("want a duration, got %q", arg)
	}
	return delayFault{d: d}, nil
}

func (f delayFault) Serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	next.ServeHTTP(&delayWriter{ResponseWriter: w, d: f.d, done: r.Context().Done()}, r)
}

type delayWriter struct {
	http.ResponseWriter
	d       time.Duration
	done    <-chan struct{}
	waited  bool
	aborted bool
}

func (w *delayWriter) wait() {
	if w.waited {
		return
	}
	w.waited = true
	t := time.NewTimer(w.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.done:
		w.aborted = true
	}
}

func (w *delayWriter) WriteHeader(code int) {
	w.wait()
	w.ResponseWriter.WriteHeader(code)
}

func (w *delayWriter) Write(b []byte) (int, error) {
	w.wait()
	if w.aborted {
		return 0, errors.New("client went away during the delay")
	}
	return w.ResponseWriter.Write(b)
}

func (w *delayWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// truncateFault passes the headers (with the upstream's Content-Length) and
// the first N body bytes, then cuts the connection: "truncate=100".
type truncateFault struct{ n int64 }

func newTruncateFault(arg string) (Fault, error) {
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("want a byte count, got %q", arg)
	}
	return truncateFault{n: n}, nil
}

func (f truncateFault) Serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	next.ServeHTTP(&truncateWriter{ResponseWriter: w, left: f.n}, r)
}

type truncateWriter struct {
	http.ResponseWriter
	left int64
}

// errTruncated makes httputil.ReverseProxy abort the response, which closes
// the client connection short of Content-Length.
var errTruncated = errors.New("response truncated by reqproxy")

func (w *truncateWriter) Write(b []byte) (int, error) {
	if int64(len(b)) <= w.left {
		w.left -= int64(len(b))
		return w.ResponseWriter.Write(b)
	}
	n, _ := w.ResponseWriter.Write(b[:w.left])
	w.left = 0
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	return n, errTruncated
}

func (w *truncateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// dropFault closes the connection without any response: "drop".
type dropFault struct{}

func (dropFault) Serve(http.ResponseWriter, *http.Request, http.Handler) {
	panic(http.ErrAbortHandler) // net/http closes the connection silently
}
