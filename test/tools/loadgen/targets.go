package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// verdict is the outcome of one target or check. measured is false when
// the run has no data for it (which counts as not met).
type verdict struct {
	met, measured bool
	detail        string
}

// goal is one target of the speed issue, or one CI assertion.
type goal struct {
	name string
	eval func(rs results) verdict
}

const mib = 1 << 20

// targets are the goals for regmirror, judged against the peers
// measured in the same run.
var targets = []goal{
	{"W1 cold pull ≤ 1.2× direct", func(rs results) verdict {
		v, ok := rs.ratioOf("W1", "pull", "regmirror", "direct", func(r Result) float64 { return r.TotalMS })
		return judge(ok && clean(rs, "W1", "regmirror", "pull"), v <= 1.2, "%.2f×", v)
	}},
	{"W1 streams (first byte before the upstream transfer ends)", func(rs results) verdict {
		yes, m, ok := rs.streams("W1", "regmirror")
		return judge(ok, yes, "%.0f ms before the end", m)
	}},
	{"W2 big-blob GET ≥ 90% of nginx static sendfile", func(rs results) verdict {
		v, ok := rs.ratioOf("W2", "blob", "regmirror", "nginx-static", func(r Result) float64 { return r.MiBps })
		return judge(ok && clean(rs, "W2", "regmirror", "blob"), v >= 0.9, "%.0f%%", v*100)
	}},
	{"W3 exactly 1 upstream GET of the blob", func(rs results) verdict {
		t, ok := rs.get("W3", "regmirror", "transfers")
		return judge(ok, t.BlobGets == 1, "%d", t.BlobGets)
	}},
	{"W3 wall time ≤ nginx proxy_cache's", func(rs results) verdict {
		v, ok := rs.ratioOf("W3", "blob", "regmirror", "nginx-cache", func(r Result) float64 { return r.WallMS })
		return judge(ok && clean(rs, "W3", "regmirror", "blob"), v <= 1.0, "%.2f×", v)
	}},
	{"W4 req/s ≥ 1.0× nginx proxy_cache's", func(rs results) verdict {
		v, ok := rs.ratioOf("W4", "manifest", "regmirror", "nginx-cache", func(r Result) float64 { return r.RPS })
		return judge(ok && clean(rs, "W4", "regmirror", "manifest"), v >= 1.0, "%.2f×", v)
	}},
	{"W4 0 upstream requests within tagTTL", func(rs results) verdict {
		t, ok := rs.get("W4", "regmirror", "transfers")
		return judge(ok, t.Total == 0, "%d", t.Total)
	}},
	{"peak RSS during W3 < 150 MiB", func(rs results) verdict {
		r, ok := rs.get("W3", "regmirror", "rss")
		return judge(ok, r.HWMKiB*1024 < 150*mib, "%.0f MiB", float64(r.HWMKiB)/1024)
	}},
}

// ciChecks are the count-based properties scripts/bench.sh --ci asserts
// against regmirror alone (small blobs, shaped upstream).
var ciChecks = []goal{
	{"cold pull completes without errors", func(rs results) verdict {
		p, ok := rs.get("cold", "regmirror", "pull")
		return judge(ok, p.Errors == 0 && p.Bytes > 0, "%d errors, %d bytes", p.Errors, p.Bytes)
	}},
	{"cold pull streams: first byte before the upstream transfer ends", func(rs results) verdict {
		yes, m, ok := rs.streams("cold", "regmirror")
		return judge(ok, yes, "%.0f ms before the end", m)
	}},
	{"concurrent GETs of a new blob: exactly 1 upstream GET", func(rs results) verdict {
		t, ok := rs.get("concurrent", "regmirror", "transfers")
		return judge(ok, t.BlobGets == 1, "%d upstream GETs", t.BlobGets)
	}},
	{"concurrent GETs of a new blob: every client gets every byte", func(rs results) verdict {
		b, ok := rs.get("concurrent", "regmirror", "blob")
		want := int64(b.Clients) * b.BigSize
		return judge(ok && b.BigSize > 0, b.Errors == 0 && b.Bytes == want, "%d errors, %d of %d bytes", b.Errors, b.Bytes, want)
	}},
	{"warm pull: 0 upstream requests", func(rs results) verdict {
		t, ok := rs.get("warm", "regmirror", "transfers")
		p, ok2 := rs.get("warm", "regmirror", "pull")
		return judge(ok && ok2, t.Total == 0 && p.Errors == 0, "%d upstream requests, %d client errors", t.Total, p.Errors)
	}},
	{"cached digests: 0 upstream requests", func(rs results) verdict {
		t, ok := rs.get("digest", "regmirror", "transfers")
		b, ok2 := rs.get("digest", "regmirror", "blob")
		return judge(ok && ok2, t.Total == 0 && b.Errors == 0, "%d upstream requests, %d client errors", t.Total, b.Errors)
	}},
	{"tag within tagTTL under load: 0 upstream requests", func(rs results) verdict {
		t, ok := rs.get("tag", "regmirror", "transfers")
		m, ok2 := rs.get("tag", "regmirror", "manifest")
		return judge(ok && ok2 && m.Requests > 0, t.Total == 0 && m.Errors == 0, "%d upstream requests, %d of %d requests failed", t.Total, m.Errors, m.Requests)
	}},
}

func judge(measured, met bool, format string, args ...any) verdict {
	if !measured {
		return verdict{detail: "not measured"}
	}
	return verdict{met: met, measured: true, detail: fmt.Sprintf(format, args...)}
}

// clean reports whether a record exists and saw no errors.
func clean(rs results, wl, peer, kind string) bool {
	r, ok := rs.get(wl, peer, kind)
	return ok && r.Errors == 0
}

// writeTargets prints "met"/"NOT met" per target and returns the tally.
func writeTargets(w io.Writer, rs results) (met, total int) {
	fmt.Fprintln(w, "Targets (regmirror):")
	for _, g := range targets {
		v := g.eval(rs)
		state := "NOT met"
		if v.met {
			state, met = "met", met+1
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", g.name, state, v.detail)
	}
	return met, len(targets)
}

// cmdCheck runs the CI checks over a results file, prints one PASS/FAIL line
// each and "N passed, N failed", and fails when any check fails.
func cmdCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	in := fs.String("in", "", "results file of scripts/bench.sh --ci")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("check: -in is required")
	}
	rs, err := readResultsFile(*in)
	if err != nil {
		return err
	}
	pass, fail := 0, 0
	for _, g := range ciChecks {
		v := g.eval(rs)
		if v.met {
			pass++
			fmt.Fprintf(stdout, "PASS %s (%s)\n", g.name, v.detail)
		} else {
			fail++
			fmt.Fprintf(stdout, "FAIL %s (%s)\n", g.name, v.detail)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", pass, fail)
	if fail > 0 {
		return fmt.Errorf("%d of %d checks failed", fail, pass+fail)
	}
	return nil
}
