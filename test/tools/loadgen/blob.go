package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// cmdBlob has -n clients GET one blob at the same instant, -repeat times,
// and reports the median wall time of a round. With several -at PEER=URL
// the rounds go to each URL in turn (so that a slow spell of the machine
// hits every peer alike) and there is one report per peer.
func cmdBlob(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("blob", flag.ContinueOnError)
	lb := addLabels(fs)
	url := fs.String("url", "", "blob URL (…/v2/<name>/blobs/<digest>, or any static URL)")
	var targets []target
	fs.Func("at", "PEER=URL: measure this URL, labelled PEER (repeatable; instead of -url)", func(s string) error {
		peer, u, ok := strings.Cut(s, "=")
		if !ok || peer == "" || u == "" {
			return errors.New("want PEER=URL")
		}
		targets = append(targets, target{peer: peer, url: u})
		return nil
	})
	n := fs.Int("n", 32, "concurrent clients, each on its own connection")
	repeat := fs.Int("repeat", 1, "rounds; the report gives the median and best round")
	size := fs.Int64("size", -1, "expected body size; -1 accepts any")
	verify := fs.Bool("verify", false, "check the sha256 against the digest at the end of -url")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url != "" {
		targets = append(targets, target{url: *url})
	}
	if len(targets) == 0 || *n < 1 || *repeat < 1 {
		return errors.New("blob: -url (or -at), -n >= 1 and -repeat >= 1 are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	specs := make([]blobSpec, len(targets))
	for i, t := range targets {
		specs[i] = blobSpec{url: t.url, clients: *n, size: *size, verify: *verify}
	}
	for i, r := range blobRounds(ctx, newClient(*n), specs, *repeat) {
		r.Peer = targets[i].peer
		if err := lb.emit(stdout, r); err != nil {
			return err
		}
	}
	return nil
}

// target is one URL to measure and the peer it belongs to ("" = -peer).
type target struct{ peer, url string }

// blobSpec is one round of concurrent GETs.
type blobSpec struct {
	url     string
	clients int
	size    int64
	verify  bool
}

// blobRounds runs rounds of each spec, the specs taking turns, and
// summarises each: the median and best wall time, the aggregate MiB/s of
// the median round, and the TTFB of the clients across all rounds.
func blobRounds(ctx context.Context, c *http.Client, specs []blobSpec, rounds int) []Result {
	type tally struct {
		walls, ttfbs []time.Duration
		perRound     int64
	}
	out := make([]Result, len(specs))
	tallies := make([]tally, len(specs))
	for i, s := range specs {
		out[i] = Result{Kind: "blob", Clients: s.clients, Repeat: rounds, BigDigest: path.Base(s.url)}
		if s.size > 0 {
			out[i].BigSize = s.size
		}
	}
	for range rounds {
		for i, s := range specs {
			wall, ttfb, n, errs := blobRound(ctx, c, s)
			t := &tallies[i]
			t.walls = append(t.walls, wall)
			t.ttfbs = append(t.ttfbs, ttfb...)
			t.perRound = n
			out[i].Bytes += n
			for _, err := range errs {
				out[i].noteErr(err)
			}
		}
	}
	for i, t := range tallies {
		r := &out[i]
		med := percentile(t.walls, 50)
		r.WallMS, r.BestMS = ms(med), ms(percentile(t.walls, 0))
		r.TTFBP50MS, r.TTFBMaxMS = ms(percentile(t.ttfbs, 50)), ms(percentile(t.ttfbs, 100))
		if med > 0 {
			r.MiBps = float64(t.perRound) / (1 << 20) / med.Seconds()
		}
	}
	return out
}

// blobRound releases spec.clients GETs at once and waits for all of them.
// It returns the wall time, each client's time to first byte, the bytes
// read in all, and the errors.
func blobRound(ctx context.Context, c *http.Client, spec blobSpec) (time.Duration, []time.Duration, int64, []error) {
	ttfb := make([]time.Duration, spec.clients)
	got := make([]int64, spec.clients)
	errs := make([]error, spec.clients)
	digest := ""
	if spec.verify {
		digest = path.Base(spec.url)
	}
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var start time.Time
	for i := range spec.clients {
		wg.Go(func() {
			buf := make([]byte, readBufSize)
			<-gate
			st, err := getBlob(ctx, c, spec.url, digest, spec.size, spec.verify, buf)
			got[i], errs[i] = st.bytes, err
			if !st.firstByte.IsZero() {
				ttfb[i] = st.firstByte.Sub(start)
			}
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start)
	var total int64
	var bad []error
	for i := range spec.clients {
		total += got[i]
		if errs[i] != nil {
			bad = append(bad, errs[i])
		}
	}
	return wall, ttfb, total, bad
}
