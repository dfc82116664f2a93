// Command loadmix loads a registry (regmirror) with many concurrent
// connections mixing manifest and blob GETs of one image, for a fixed time,
// and reports errors, throughput, latency and the server's memory (from
// /proc/PID/status when -pid is given). It exits non-zero when any request
// failed or the server's peak RSS went over -max-rss-mib.
//
//	loadmix -registry http://127.0.0.1:5000 -repo library/load -ref latest \
//	        [-c 1000] [-d 30s] [-blob-share 0.5] [-max-blob 4194304] [-verify] \
//	        [-pid PID] [-max-rss-mib 0] [-json FILE]
//
// The image should already be cached: the point is the mirror's serving
// path under concurrency. Stdlib only; it talks to the URL it is given.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadmix:", err)
		os.Exit(1)
	}
}

type options struct {
	registry, repo, ref string
	conns               int
	dur                 time.Duration
	blobShare           float64
	maxBlob             int64
	verify              bool
	pid                 int
	maxRSSMiB           int64
	jsonOut             string
}

func run(args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadmix", flag.ContinueOnError)
	fs.StringVar(&o.registry, "registry", "", "base URL of the registry (http://127.0.0.1:PORT)")
	fs.StringVar(&o.repo, "repo", "library/load", "repository as the client names it")
	fs.StringVar(&o.ref, "ref", "latest", "tag of the image (an index or a manifest)")
	fs.IntVar(&o.conns, "c", 1000, "concurrent connections, one request loop each")
	fs.DurationVar(&o.dur, "d", 30*time.Second, "how long to run")
	fs.Float64Var(&o.blobShare, "blob-share", 0.5, "fraction of requests that are blob GETs (the rest: manifests)")
	fs.Int64Var(&o.maxBlob, "max-blob", 4<<20, "only blobs up to this size are requested")
	fs.BoolVar(&o.verify, "verify", false, "check the sha256 of every body (costs client CPU)")
	fs.IntVar(&o.pid, "pid", 0, "server process to sample memory of (/proc/PID/status)")
	fs.Int64Var(&o.maxRSSMiB, "max-rss-mib", 0, "fail when the server's peak RSS exceeds this (0: no check)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.registry == "" || o.conns < 1 || o.dur <= 0 {
		return errors.New("-registry, -c >= 1 and -d > 0 are required")
	}
	client := newClient(o.conns)
	targets, err := discover(client, o)
	if err != nil {
		return err
	}
	res := load(client, o, targets)
	res.print(stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	var fails []string
	if res.Errors > 0 {
		fails = append(fails, fmt.Sprintf("%d failed requests", res.Errors))
	}
	if o.maxRSSMiB > 0 && res.PeakRSSKiB > o.maxRSSMiB<<10 {
		fails = append(fails, fmt.Sprintf("peak RSS %d MiB > %d MiB", res.PeakRSSKiB>>10, o.maxRSSMiB))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}

// newClient is one transport for all workers, allowed a connection each.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// worker runs requests until ctx ends, recording into its own stats.
func worker(ctx context.Context, c *http.Client, o options, t *targets, st *stats, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x10ad))
	buf := make([]byte, 256<<10)
	for ctx.Err() == nil {
		var tg target
		if len(t.blobs) > 0 && rng.Float64() < o.blobShare {
			tg = t.blobs[rng.IntN(len(t.blobs))]
		} else {
			tg = t.manifests[rng.IntN(len(t.manifests))]
		}
		start := time.Now()
		err := fetch(ctx, c, tg, o.verify, buf)
		if ctx.Err() != nil && err != nil {
			return // cut off by the end of the run: not a failure
		}
		st.record(tg.kind, time.Since(start), tg.size, err)
	}
}

func load(c *http.Client, o options, t *targets) *result {
	ctx, cancel := context.WithTimeout(context.Background(), o.dur)
	defer cancel()
	mem := startSampler(ctx, o.pid)
	all := make([]*stats, o.conns)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range o.conns {
		all[i] = newStats()
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(ctx, c, o, t, all[i], uint64(i))
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	return summarize(o, all, elapsed, mem.stop())
}
