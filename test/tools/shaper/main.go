// Command shaper is a reverse proxy that makes a loopback upstream look
// remote, and records every transfer it carries. The benchmark
// (scripts/bench.sh) puts one in front of the upstream registry for each
// mirror under test, so it doubles as that mirror's upstream request counter.
//
//	shaper -listen 127.0.0.1:5852 -upstream http://127.0.0.1:5850 \
//	    [-rtt 20ms] [-rate 400Mbit] [-max-records 20000]
//
// Shaping (both off by default, making it a plain recording proxy):
//
//   - -rtt: each request waits one round-trip time before it is forwarded,
//     and each new connection to the upstream waits one more (the TCP
//     handshake of a remote server).
//   - -rate: each response body is paced to this many bits per second
//     ("400Mbit", "1Gbit", "50Mbit", or a plain number). The limit is per
//     transfer, the way one TCP flow from a distant CDN is limited, so N
//     clients pulling directly get N times the bandwidth.
//
// Control endpoints (not forwarded, not recorded):
//
//	GET  /_transfers  {"transfers":[{"method","path","status","bytes","start_ns","first_byte_ns","end_ns"}...]}
//	POST /_reset      forget the recorded transfers
//
// Times are Unix nanoseconds from the shaper's clock, so a client on the
// same machine can compare its own timestamps with them: end_ns is when the
// last byte of the response was handed to the mirror.
//
// Loopback only; stdlib only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shaper:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("shaper", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5852", "loopback host:port to listen on")
	upstream := fs.String("upstream", "", "URL of the upstream registry (required)")
	rtt := fs.Duration("rtt", 0, "added round-trip time per request and per new upstream connection")
	rateFlag := fs.String("rate", "0", "per-transfer bandwidth limit in bits/s (400Mbit, 1Gbit, ...); 0 = unlimited")
	maxRecords := fs.Int("max-records", 20000, "transfers kept for /_transfers (oldest dropped first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*listen); err != nil {
		return err
	}
	if *upstream == "" {
		return errors.New("-upstream is required")
	}
	u, err := url.Parse(*upstream)
	if err != nil {
		return fmt.Errorf("-upstream: %w", err)
	}
	bps, err := parseRate(*rateFlag)
	if err != nil {
		return err
	}
	errLog := log.New(os.Stderr, "shaper: ", log.LstdFlags)
	s := newShaper(u, options{RTT: *rtt, BytesPerSec: bps / 8, MaxRecords: *maxRecords}, errLog)
	errLog.Printf("listening on %s -> %s (rtt %s, rate %s)", *listen, u, *rtt, *rateFlag)
	srv := &http.Server{Addr: *listen, Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	return srv.ListenAndServe()
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
