package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// cmdManifest keeps -c connections busy for -d alternating HEAD and GET of
// one manifest URL (with a pull client's Accept header) and reports the
// request rate and latency. With several -at PEER=URL, -d is split into
// -rounds slices per peer, the peers taking turns, and each peer gets one
// report over all its slices.
func cmdManifest(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	lb := addLabels(fs)
	url := fs.String("url", "", "manifest URL (…/v2/<name>/manifests/<tag>)")
	var targets []target
	fs.Func("at", "PEER=URL: measure this URL, labelled PEER (repeatable; instead of -url)", func(s string) error {
		peer, u, ok := strings.Cut(s, "=")
		if !ok || peer == "" || u == "" {
			return errors.New("want PEER=URL")
		}
		targets = append(targets, target{peer: peer, url: u})
		return nil
	})
	conns := fs.Int("c", 64, "connections, one client loop each")
	dur := fs.Duration("d", 10*time.Second, "how long to load each URL in all")
	rounds := fs.Int("rounds", 1, "slices of -d per URL, the URLs taking turns")
	accept := fs.String("accept", acceptManifests, "Accept header")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url != "" {
		targets = append(targets, target{url: *url})
	}
	if len(targets) == 0 || *conns < 1 || *rounds < 1 {
		return errors.New("manifest: -url (or -at), -c >= 1 and -rounds >= 1 are required")
	}
	ctx := context.Background()
	loads := make([]load, len(targets))
	clients := make([]*http.Client, len(targets))
	for i := range targets {
		clients[i] = newClient(*conns)
	}
	for range *rounds {
		for i, t := range targets {
			loads[i].add(hammer(ctx, clients[i], t.url, *accept, *conns, *dur/time.Duration(*rounds)))
		}
	}
	for i, t := range targets {
		r := loads[i].result(*conns)
		r.Peer = t.peer
		if err := lb.emit(stdout, r); err != nil {
			return err
		}
	}
	return nil
}

// load is what one or more hammer runs measured.
type load struct {
	lat     []time.Duration
	errs    []error
	elapsed time.Duration
}

func (l *load) add(o load) {
	l.lat = append(l.lat, o.lat...)
	l.errs = append(l.errs, o.errs...)
	l.elapsed += o.elapsed
}

// result summarises l: request rate over the loaded time, p50 and p99.
func (l *load) result(conns int) Result {
	r := Result{Kind: "manifest", Conns: conns, Requests: int64(len(l.lat))}
	for _, err := range l.errs {
		r.noteErr(err)
	}
	if l.elapsed > 0 {
		r.RPS = float64(len(l.lat)) / l.elapsed.Seconds()
	}
	r.P50MS, r.P99MS = ms(percentile(l.lat, 50)), ms(percentile(l.lat, 99))
	return r
}

// hammer runs conns loops of alternating HEAD and GET until dur has passed.
// A request counts as an error unless it answers 200 (and, for GET, its
// body arrives whole).
func hammer(ctx context.Context, c *http.Client, url, accept string, conns int, dur time.Duration) load {
	lat := make([][]time.Duration, conns)
	errs := make([][]error, conns)
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			lat[i] = make([]time.Duration, 0, 1<<14)
			for n := 0; time.Now().Before(deadline); n++ {
				method := http.MethodHead
				if n%2 == 1 {
					method = http.MethodGet
				}
				t0 := time.Now()
				err := oneManifest(ctx, c, method, url, accept, buf)
				lat[i] = append(lat[i], time.Since(t0))
				if err != nil {
					errs[i] = append(errs[i], err)
				}
			}
		})
	}
	wg.Wait()
	var l load
	l.elapsed = time.Since(start)
	for i := range conns {
		l.lat = append(l.lat, lat[i]...)
		l.errs = append(l.errs, errs[i]...)
	}
	return l
}

func oneManifest(ctx context.Context, c *http.Client, method, url, accept string, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusErr(resp)
	}
	st, err := readBody(resp.Body, nil, buf)
	if err != nil {
		return err
	}
	if method == http.MethodGet && resp.ContentLength >= 0 && st.bytes != resp.ContentLength {
		return errors.New("short manifest body")
	}
	return nil
}
