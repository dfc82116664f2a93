package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Peers in table order, with their column titles. "direct" is the
// baseline: the client talking to the upstream itself.
var peers = []struct{ id, title string }{
	{"direct", "direct (upstream)"},
	{"regmirror", "regmirror"},
	{"registry-proxy", "distribution proxy"},
	{"nginx-cache", "nginx proxy_cache"},
	{"nginx-static", "nginx static"},
}

// results indexes one run's lines by workload, peer and kind.
type results map[string]Result

func key(w, peer, kind string) string { return w + "|" + peer + "|" + kind }

func (rs results) get(w, peer, kind string) (Result, bool) {
	r, ok := rs[key(w, peer, kind)]
	return r, ok
}

// readResults parses JSON lines; a later line with the same labels wins.
// Lines of a repeated workload (round > 0) are reduced to the median round:
// see medianRounds.
func readResults(r io.Reader) (results, error) {
	rs := results{}
	rounds := map[string]map[int][]Result{} // workload|peer → round → lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if res.Round > 0 {
			g := res.Workload + "|" + res.Peer
			if rounds[g] == nil {
				rounds[g] = map[int][]Result{}
			}
			rounds[g][res.Round] = append(rounds[g][res.Round], res)
			continue
		}
		rs[key(res.Workload, res.Peer, res.Kind)] = res
	}
	for _, byRound := range rounds {
		for _, res := range medianRound(byRound) {
			rs[key(res.Workload, res.Peer, res.Kind)] = res
		}
	}
	return rs, sc.Err()
}

// medianRound picks, of a peer's rounds of one workload, the round whose
// pull took the median time (the lower one of an even count), and returns
// all of that round's lines, so that figures measured together (a pull and
// the upstream transfer it caused) stay together. A round whose pull
// failed sorts last.
func medianRound(byRound map[int][]Result) []Result {
	type cand struct {
		round int
		ms    float64
	}
	var cs []cand
	for n, lines := range byRound {
		c := cand{round: n, ms: math.Inf(1)}
		for _, l := range lines {
			if l.Kind == "pull" && l.Errors == 0 {
				c.ms = l.TotalMS
			}
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].ms != cs[j].ms {
			return cs[i].ms < cs[j].ms
		}
		return cs[i].round < cs[j].round
	})
	return byRound[cs[(len(cs)-1)/2].round]
}

func readResultsFile(path string) (results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readResults(f)
}

// cmdReport prints the benchmark table and one line per target.
func cmdReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "results file (JSON lines from the other subcommands)")
	bigLabel := fs.String("big", "256 MiB", "size of the big blob, for the labels")
	clients := fs.Int("clients", 32, "W3 clients, for the labels")
	conns := fs.Int("conns", 64, "W4 connections, for the labels")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("report: -in is required")
	}
	rs, err := readResultsFile(*in)
	if err != nil {
		return err
	}
	writeTable(stdout, rs, *bigLabel, *clients, *conns)
	fmt.Fprintln(stdout)
	met, total := writeTargets(stdout, rs)
	fmt.Fprintf(stdout, "\n%d of %d targets met\n", met, total)
	return nil
}

// row is one figure: a label and how to print it for a peer ("" = n/a).
type row struct {
	label string
	cell  func(peer string) string
}

func writeTable(w io.Writer, rs results, big string, clients, conns int) {
	rows := []row{
		{"W1 cold pull, s", rs.num("W1", "pull", func(r Result) float64 { return r.TotalMS / 1000 }, "%.2f")},
		{"W1 cold pull vs direct", rs.ratio("W1", "pull", "direct", func(r Result) float64 { return r.TotalMS }, "%.2f×")},
		{"W1 time to manifest, ms", rs.num("W1", "pull", func(r Result) float64 { return r.ManifestMS }, "%.1f")},
		{"W1 first byte of " + big + " blob, ms", rs.num("W1", "pull", func(r Result) float64 { return r.BigTTFBMS }, "%.0f")},
		{"W1 first byte before upstream transfer ended", rs.streamed("W1")},
		{"W1 upstream GETs of the big blob", rs.count("W1", func(r Result) int { return r.BlobGets })},
		{"W2 warm pull, s", rs.num("W2", "pull", func(r Result) float64 { return r.TotalMS / 1000 }, "%.3f")},
		{"W2 warm pull upstream requests", rs.count("W2", func(r Result) int { return r.Total })},
		{"W2 one " + big + " GET, MiB/s", rs.num("W2", "blob", func(r Result) float64 { return r.MiBps }, "%.0f")},
		{"W2 … % of nginx static sendfile", rs.ratio("W2", "blob", "nginx-static", func(r Result) float64 { return r.MiBps }, "%.0f%%", 100)},
		{fmt.Sprintf("W3 %d clients, new %s blob: wall, s", clients, big), rs.num("W3", "blob", func(r Result) float64 { return r.WallMS / 1000 }, "%.2f")},
		{"W3 … vs direct", rs.ratio("W3", "blob", "direct", func(r Result) float64 { return r.WallMS }, "%.2f×")},
		{"W3 … vs nginx proxy_cache", rs.ratio("W3", "blob", "nginx-cache", func(r Result) float64 { return r.WallMS }, "%.2f×")},
		{"W3 … first byte p50 / max, ms", rs.pair("W3", "blob", func(r Result) (float64, float64) { return r.TTFBP50MS, r.TTFBMaxMS }, "%.0f / %.0f")},
		{"W3 upstream GETs of the blob", rs.count("W3", func(r Result) int { return r.BlobGets })},
		{"W3 client errors", rs.num("W3", "blob", func(r Result) float64 { return float64(r.Errors) }, "%.0f")},
		{fmt.Sprintf("W3 warm, %d clients again: wall, s", clients), rs.num("W3warm", "blob", func(r Result) float64 { return r.WallMS / 1000 }, "%.2f")},
		{fmt.Sprintf("W4 manifest HEAD/GET, %d conns: req/s", conns), rs.num("W4", "manifest", func(r Result) float64 { return r.RPS }, "%.0f")},
		{"W4 … vs nginx proxy_cache", rs.ratio("W4", "manifest", "nginx-cache", func(r Result) float64 { return r.RPS }, "%.2f×")},
		{"W4 latency p50 / p99, ms", rs.pair("W4", "manifest", func(r Result) (float64, float64) { return r.P50MS, r.P99MS }, "%.2f / %.2f")},
		{"W4 upstream requests", rs.count("W4", func(r Result) int { return r.Total })},
		{"W4 errors", rs.num("W4", "manifest", func(r Result) float64 { return float64(r.Errors) }, "%.0f")},
		{"peak RSS during W3 (cold + warm), MiB", rs.num("W3", "rss", func(r Result) float64 { return float64(r.HWMKiB) / 1024 }, "%.0f")},
	}
	fmt.Fprint(w, "| figure |")
	for _, p := range peers {
		fmt.Fprintf(w, " %s |", p.title)
	}
	fmt.Fprint(w, "\n|---|")
	for range peers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.label)
		for _, p := range peers {
			c := r.cell(p.id)
			if c == "" {
				c = "–"
			}
			fmt.Fprintf(w, " %s |", c)
		}
		fmt.Fprintln(w)
	}
}

// num prints f of the peer's record, marking records with errors.
func (rs results) num(wl, kind string, f func(Result) float64, format string) func(string) string {
	return func(peer string) string {
		r, ok := rs.get(wl, peer, kind)
		if !ok {
			return ""
		}
		return fmt.Sprintf(format, f(r)) + errMark(r)
	}
}

func (rs results) pair(wl, kind string, f func(Result) (float64, float64), format string) func(string) string {
	return func(peer string) string {
		r, ok := rs.get(wl, peer, kind)
		if !ok {
			return ""
		}
		a, b := f(r)
		return fmt.Sprintf(format, a, b) + errMark(r)
	}
}

// ratio prints f(peer)/f(base) (times scale), for peers other than base.
func (rs results) ratio(wl, kind, base string, f func(Result) float64, format string, scale ...float64) func(string) string {
	return func(peer string) string {
		v, ok := rs.ratioOf(wl, kind, peer, base, f)
		if !ok || peer == base {
			return ""
		}
		for _, s := range scale {
			v *= s
		}
		return fmt.Sprintf(format, v)
	}
}

func (rs results) ratioOf(wl, kind, peer, base string, f func(Result) float64) (float64, bool) {
	r, ok1 := rs.get(wl, peer, kind)
	b, ok2 := rs.get(wl, base, kind)
	if !ok1 || !ok2 || f(b) == 0 {
		return 0, false
	}
	return f(r) / f(b), true
}

// count prints an upstream count from the peer's transfers record.
func (rs results) count(wl string, f func(Result) int) func(string) string {
	return func(peer string) string {
		r, ok := rs.get(wl, peer, "transfers")
		if !ok || peer == "direct" {
			return ""
		}
		return fmt.Sprint(f(r))
	}
}

// streamed says whether the client's first byte of the big blob came before
// the upstream finished sending it to the peer.
func (rs results) streamed(wl string) func(string) string {
	return func(peer string) string {
		if peer == "direct" {
			return ""
		}
		yes, margin, ok := rs.streams(wl, peer)
		if !ok {
			return ""
		}
		if yes {
			return fmt.Sprintf("yes (%.0f ms before)", margin)
		}
		return fmt.Sprintf("no (%.0f ms after)", -margin)
	}
}

// streams compares the peer's pull with its upstream record: yes when the
// first byte reached the client before the upstream transfer ended, and by
// how many milliseconds.
func (rs results) streams(wl, peer string) (yes bool, marginMS float64, ok bool) {
	p, ok1 := rs.get(wl, peer, "pull")
	t, ok2 := rs.get(wl, peer, "transfers")
	if !ok1 || !ok2 || p.BigFirstByteNS == 0 || t.UpEndNS == 0 {
		return false, 0, false
	}
	m := float64(t.UpEndNS-p.BigFirstByteNS) / 1e6
	return m > 0, m, true
}

func errMark(r Result) string {
	if r.Errors > 0 {
		return fmt.Sprintf(" (%d errors)", r.Errors)
	}
	return ""
}
