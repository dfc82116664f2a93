package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stats is one worker's record (no locking: one goroutine each).
type stats struct {
	lat    map[string][]time.Duration
	bytes  int64
	errs   map[string]int
	sample []string // a few error messages
}

func newStats() *stats {
	return &stats{lat: map[string][]time.Duration{}, errs: map[string]int{}}
}

func (s *stats) record(kind string, d time.Duration, size int64, err error) {
	if err != nil {
		s.errs[kind]++
		if len(s.sample) < 3 {
			s.sample = append(s.sample, kind+": "+err.Error())
		}
		return
	}
	s.lat[kind] = append(s.lat[kind], d)
	s.bytes += size
}

// kindResult is the outcome for one kind of request.
type kindResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	PerSec   float64 `json:"per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
}

type result struct {
	Conns        int                   `json:"conns"`
	Seconds      float64               `json:"seconds"`
	Requests     int                   `json:"requests"`
	Errors       int                   `json:"errors"`
	PerSec       float64               `json:"per_sec"`
	MiBPerSec    float64               `json:"mib_per_sec"`
	Kinds        map[string]kindResult `json:"kinds"`
	ErrorSamples []string              `json:"error_samples,omitempty"`
	StartRSSKiB  int64                 `json:"start_rss_kib,omitempty"`
	PeakRSSKiB   int64                 `json:"peak_rss_kib,omitempty"`
	EndRSSKiB    int64                 `json:"end_rss_kib,omitempty"`
	PeakFDs      int                   `json:"peak_fds,omitempty"`
}

func summarize(o options, all []*stats, elapsed time.Duration, mem memory) *result {
	r := &result{Conns: o.conns, Seconds: elapsed.Seconds(), Kinds: map[string]kindResult{},
		StartRSSKiB: mem.start, PeakRSSKiB: mem.peak, EndRSSKiB: mem.end, PeakFDs: mem.peakFDs}
	lat := map[string][]time.Duration{}
	errs := map[string]int{}
	var bytes int64
	for _, s := range all {
		for k, v := range s.lat {
			lat[k] = append(lat[k], v...)
		}
		for k, n := range s.errs {
			errs[k] += n
		}
		bytes += s.bytes
		if len(r.ErrorSamples) < 5 {
			r.ErrorSamples = append(r.ErrorSamples, s.sample...)
		}
	}
	for _, k := range []string{"manifest", "blob"} {
		l := lat[k]
		slices.Sort(l)
		kr := kindResult{Requests: len(l) + errs[k], Errors: errs[k], PerSec: float64(len(l)) / elapsed.Seconds()}
		if len(l) > 0 {
			kr.P50ms = ms(l[len(l)/2])
			kr.P99ms = ms(l[len(l)*99/100])
			kr.Maxms = ms(l[len(l)-1])
		}
		r.Kinds[k] = kr
		r.Requests += kr.Requests
		r.Errors += kr.Errors
	}
	r.PerSec = float64(r.Requests-r.Errors) / elapsed.Seconds()
	r.MiBPerSec = float64(bytes) / (1 << 20) / elapsed.Seconds()
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "loadmix: %d connections for %.1fs: %d requests (%.0f/s, %.1f MiB/s), %d errors\n",
		r.Conns, r.Seconds, r.Requests, r.PerSec, r.MiBPerSec, r.Errors)
	for _, k := range []string{"manifest", "blob"} {
		kr := r.Kinds[k]
		fmt.Fprintf(w, "  %-8s %8d requests %7.0f/s  p50 %7.2fms  p99 %7.2fms  max %8.2fms  errors %d\n",
			k, kr.Requests, kr.PerSec, kr.P50ms, kr.P99ms, kr.Maxms, kr.Errors)
	}
	if r.PeakRSSKiB > 0 {
		fmt.Fprintf(w, "  server RSS: start %d MiB, peak %d MiB, end %d MiB; peak open fds %d\n",
			r.StartRSSKiB>>10, r.PeakRSSKiB>>10, r.EndRSSKiB>>10, r.PeakFDs)
	}
	for _, s := range r.ErrorSamples {
		fmt.Fprintln(w, "  error:", s)
	}
}

// memory is what the sampler saw of the server.
type memory struct {
	start, peak, end int64 // KiB
	peakFDs          int
}

type sampler struct {
	pid  int
	done chan memory
}

// startSampler reads the server's RSS and open descriptors every 250ms
// until ctx ends (nothing without a pid).
func startSampler(ctx context.Context, pid int) *sampler {
	s := &sampler{pid: pid, done: make(chan memory, 1)}
	if pid <= 0 {
		s.done <- memory{}
		return s
	}
	go func() {
		var m memory
		m.start = rssKiB(pid)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := rssKiB(pid); v > m.peak {
				m.peak = v
			}
			if n := openFDs(pid); n > m.peakFDs {
				m.peakFDs = n
			}
			select {
			case <-ctx.Done():
				m.end = rssKiB(pid)
				s.done <- m
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() memory { return <-s.done }

func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}
