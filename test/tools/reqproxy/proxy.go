package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proxy forwards every request to read (or, in split mode, writes to
// write), counts it, applies the current fault rule and logs one line.
// It also answers its own control endpoints:
//
//	GET  /_counts   counts as JSON (see countsJSON)
//	POST /_reset    zero the counts
//	GET  /_fault    the current fault spec
//	POST /_fault    set the fault spec from the body (or ?set=SPEC); "none" clears it
type proxy struct {
	read   http.Handler
	write  http.Handler // nil unless split mode
	counts *counter
	rule   atomic.Pointer[rule]
	out    io.Writer
	outMu  sync.Mutex
	now    func() time.Time
}

// newReverseProxy forwards to target, keeping the client's Host header so
// that absolute URLs the target builds (upload Locations) point back at the
// proxy, and streaming bodies without buffering.
func newReverseProxy(target *url.URL, errLog *log.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
		ErrorLog:      errLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			errLog.Printf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":%q}]}`+"\n", "reqproxy: "+err.Error())
		},
	}
}

// isWrite reports whether split mode sends r to the write upstream: every
// method but GET and HEAD, and upload-session requests of any method (their
// status GETs belong to the registry that holds the session).
func isWrite(r *http.Request) bool {
	return (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		strings.Contains(r.URL.Path, "/blobs/uploads/")
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_") {
		p.control(w, r)
		return
	}
	kind, dgst := classify(r.URL.Path)
	p.counts.add(r.Method, kind, dgst)
	target, to := p.read, "R"
	if p.write != nil && isWrite(r) {
		target, to = p.write, "W"
	}
	rule := p.rule.Load()
	fault := rule.pick(kind, r.URL.Path)
	faultNote := ""
	if fault != nil {
		faultNote = rule.spec
	}
	rec := &recorder{ResponseWriter: w}
	start := p.now()
	defer func() {
		e := recover()
		status := fmt.Sprint(rec.status)
		if e != nil { // the response was cut off (a fault, or the client left)
			status += "/aborted"
		}
		p.logf("%s %s %s %s status=%s bytes=%d kind=%s ms=%d fault=%q ua=%q\n",
			start.UTC().Format("15:04:05.000"), to, r.Method, r.URL.RequestURI(), status, rec.bytes, kind,
			p.now().Sub(start).Milliseconds(), faultNote, truncate(r.UserAgent(), 40))
		if e != nil {
			panic(e)
		}
	}()
	if fault != nil {
		fault.Serve(rec, r, target)
		return
	}
	target.ServeHTTP(rec, r)
}

func (p *proxy) control(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_counts" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p.counts.snapshot())
	case r.URL.Path == "/_reset" && r.Method == http.MethodPost:
		p.counts.reset()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fault" && r.Method == http.MethodGet:
		spec := "none"
		if cur := p.rule.Load(); cur != nil {
			spec = cur.spec
		}
		fmt.Fprintln(w, spec)
	case r.URL.Path == "/_fault" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		spec := r.URL.Query().Get("set")
		if spec == "" {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
			spec = string(b)
		}
		nr, err := parseRule(spec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.rule.Store(nr)
		p.logf("%s fault set to %q\n", p.now().UTC().Format("15:04:05.000"), nr.spec)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "reqproxy control endpoints: GET /_counts, POST /_reset, GET|POST /_fault", http.StatusNotFound)
	}
}

func (p *proxy) logf(format string, args ...any) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// recorder notes the status and the number of body bytes sent.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx answers are not the final status
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
