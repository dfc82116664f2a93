// Command reqproxy is a counting, logging, fault-injecting reverse proxy for
// the end-to-end tests. Put it between the mirror and an upstream registry
// (or between a client and the mirror) to see and count every request:
//
//	reqproxy -listen 127.0.0.1:5620 -upstream http://127.0.0.1:5621 \
//	    [-log requests.log] [-fault status=503] [-write-upstream URL]
//
// One line per request goes to -log (default stderr):
//
//	16:04:05.123 R GET /v2/library/nginx/blobs/sha256:ab... status=200 bytes=1234 kind=blobs ms=3 fault="" ua="..."
//
// Control endpoints (not forwarded, not counted):
//
//	GET  /_counts   {"total":N,"requests":{"GET blobs":2,...},"blobs":{"sha256:..":{"GET":1}}}
//	POST /_reset    zero the counts
//	GET  /_fault    current fault spec
//	POST /_fault    new fault spec in the body, e.g. curl -d status=503 .../_fault
//
// Fault specs (see fault.go): none, status=CODE, delay-first-byte=DURATION,
// truncate=BYTES, drop; options ,kind=KIND ,path=SUBSTRING ,times=N.
//
// Split mode (-write-upstream URL): requests other than GET/HEAD, and every
// request under /blobs/uploads/, go to that URL instead; the rest go to
// -upstream. With the upstream registry as -write-upstream and the mirror as
// -upstream, a push-then-pull client such as the OCI conformance suite
// pushes its fixtures upstream and reads them back through the mirror. The
// Host header is kept, so upload Locations lead back to the proxy; log
// lines say R (read) or W (write).
//
// Loopback only; stdlib only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "reqproxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("reqproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5101", "loopback host:port to listen on")
	upstream := fs.String("upstream", "", "URL to forward requests to (required)")
	writeUp := fs.String("write-upstream", "", "split mode: URL for writes and upload sessions")
	logPath := fs.String("log", "", "append one line per request here (default stderr)")
	faultSpec := fs.String("fault", "none", "initial fault spec")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*listen); err != nil {
		return err
	}
	if *upstream == "" {
		return errors.New("-upstream is required")
	}
	errLog := log.New(os.Stderr, "reqproxy: ", log.LstdFlags)
	var out io.Writer = os.Stderr
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	p, err := newProxy(*upstream, *writeUp, *faultSpec, out, errLog)
	if err != nil {
		return err
	}
	errLog.Printf("listening on %s -> %s (writes -> %q), fault %q", *listen, *upstream, *writeUp, *faultSpec)
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	return srv.ListenAndServe()
}

// newProxy builds the handler; writeURL may be "" (no split mode).
func newProxy(readURL, writeURL, faultSpec string, out io.Writer, errLog *log.Logger) (*proxy, error) {
	ru, err := url.Parse(readURL)
	if err != nil {
		return nil, fmt.Errorf("-upstream: %w", err)
	}
	p := &proxy{read: newReverseProxy(ru, errLog), counts: newCounter(), out: out, now: time.Now}
	if writeURL != "" {
		wu, err := url.Parse(writeURL)
		if err != nil {
			return nil, fmt.Errorf("-write-upstream: %w", err)
		}
		p.write = newReverseProxy(wu, errLog)
	}
	r, err := parseRule(faultSpec)
	if err != nil {
		return nil, err
	}
	p.rule.Store(r)
	return p, nil
}

// requireLoopback refuses any listen address that is not a loopback IP.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("refusing to listen on non-loopback address " + addr)
	}
	return nil
}
