package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLines writes results as a JSON-lines file and returns its path.
func writeLines(t *testing.T, rs ...Result) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range rs {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fullRun is a run in which regmirror meets every target but the W4 one.
func fullRun() []Result {
	return []Result{
		{Kind: "pull", Peer: "direct", Workload: "W1", TotalMS: 1000},
		{Kind: "pull", Peer: "regmirror", Workload: "W1", TotalMS: 1100, ManifestMS: 5, BigTTFBMS: 40, BigFirstByteNS: 1_000_000_000},
		{Kind: "transfers", Peer: "regmirror", Workload: "W1", BlobGets: 1, UpEndNS: 1_500_000_000},
		{Kind: "pull", Peer: "nginx-cache", Workload: "W1", TotalMS: 2000, BigFirstByteNS: 3_000_000_000},
		{Kind: "transfers", Peer: "nginx-cache", Workload: "W1", BlobGets: 1, UpEndNS: 2_000_000_000},
		{Kind: "blob", Peer: "regmirror", Workload: "W2", MiBps: 950},
		{Kind: "blob", Peer: "nginx-static", Workload: "W2", MiBps: 1000},
		{Kind: "blob", Peer: "regmirror", Workload: "W3", WallMS: 4000, Clients: 32},
		{Kind: "blob", Peer: "nginx-cache", Workload: "W3", WallMS: 5000, Clients: 32},
		{Kind: "transfers", Peer: "regmirror", Workload: "W3", BlobGets: 1},
		{Kind: "transfers", Peer: "nginx-cache", Workload: "W3", BlobGets: 1},
		{Kind: "rss", Peer: "regmirror", Workload: "W3", HWMKiB: 40 * 1024},
		{Kind: "manifest", Peer: "regmirror", Workload: "W4", RPS: 9000, P50MS: 1, P99MS: 5},
		{Kind: "manifest", Peer: "nginx-cache", Workload: "W4", RPS: 10000, P50MS: 1, P99MS: 4},
		{Kind: "transfers", Peer: "regmirror", Workload: "W4"},
	}
}

func TestReportTableAndTargets(t *testing.T) {
	in := writeLines(t, fullRun()...)
	var out bytes.Buffer
	if err := run([]string{"report", "-in", in}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"| figure | direct (upstream) | regmirror | distribution proxy | nginx proxy_cache | nginx static |",
		"| W1 cold pull vs direct | – | 1.10× | – | 2.00× | – |",
		"| W1 first byte before upstream transfer ended | – | yes (500 ms before) | – | no (1000 ms after) | – |",
		"| W2 … % of nginx static sendfile | – | 95% | – | – | – |",
		"| W3 … vs nginx proxy_cache | – | 0.80× | – | – | – |",
		"| W4 … vs nginx proxy_cache | – | 0.90× | – | – | – |",
		"| peak RSS during W3 (cold + warm), MiB | – | 40 | – | – | – |",
		"- W1 cold pull ≤ 1.2× direct: met (1.10×)",
		"- W4 req/s ≥ 1.0× nginx proxy_cache's: NOT met (0.90×)",
		"- W4 0 upstream requests within tagTTL: met (0)",
		"7 of 8 targets met",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

func TestTargetsNeedData(t *testing.T) {
	in := writeLines(t, Result{Kind: "pull", Peer: "regmirror", Workload: "W1", TotalMS: 1, Errors: 2})
	var out bytes.Buffer
	if err := run([]string{"report", "-in", in}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 of 8 targets met") || !strings.Contains(out.String(), "not measured") {
		t.Errorf("targets without data:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "(2 errors)") {
		t.Errorf("errors not marked in the table:\n%s", out.String())
	}
}

// ciRun is a passing CI run; mutate breaks one property.
func ciRun() []Result {
	return []Result{
		{Kind: "pull", Peer: "regmirror", Workload: "cold", Bytes: 100, BigFirstByteNS: 100},
		{Kind: "transfers", Peer: "regmirror", Workload: "cold", BlobGets: 1, UpEndNS: 900},
		{Kind: "pull", Peer: "regmirror", Workload: "warm", Bytes: 100},
		{Kind: "transfers", Peer: "regmirror", Workload: "warm"},
		{Kind: "blob", Peer: "regmirror", Workload: "digest", Clients: 4, BigSize: 10, Bytes: 40},
		{Kind: "transfers", Peer: "regmirror", Workload: "digest"},
		{Kind: "manifest", Peer: "regmirror", Workload: "tag", Requests: 500},
		{Kind: "transfers", Peer: "regmirror", Workload: "tag"},
		{Kind: "blob", Peer: "regmirror", Workload: "concurrent", Clients: 16, BigSize: 10, Bytes: 160},
		{Kind: "transfers", Peer: "regmirror", Workload: "concurrent", BlobGets: 1},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(rs []Result)
		fail   string // the check that must fail; "" = all pass
	}{
		{"pass", func([]Result) {}, ""},
		{"buffered", func(rs []Result) { rs[0].BigFirstByteNS = 1000 }, "FAIL cold pull streams"},
		{"two fetches", func(rs []Result) { rs[9].BlobGets = 2 }, "FAIL concurrent GETs of a new blob: exactly 1"},
		{"short body", func(rs []Result) { rs[8].Bytes = 150 }, "FAIL concurrent GETs of a new blob: every client"},
		{"warm went upstream", func(rs []Result) { rs[3].Total = 3 }, "FAIL warm pull"},
		{"tag revalidated", func(rs []Result) { rs[7].Total = 1 }, "FAIL tag within tagTTL"},
		{"tag errors", func(rs []Result) { rs[6].Errors = 1 }, "FAIL tag within tagTTL"},
		{"missing", func(rs []Result) { rs[4].Kind = "other" }, "FAIL cached digests: 0 upstream requests (not measured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := ciRun()
			tt.mutate(rs)
			var out bytes.Buffer
			err := run([]string{"check", "-in", writeLines(t, rs...)}, &out)
			if tt.fail == "" {
				if err != nil || !strings.Contains(out.String(), "7 passed, 0 failed") {
					t.Fatalf("err %v:\n%s", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(out.String(), tt.fail) || !strings.Contains(out.String(), "6 passed, 1 failed") {
				t.Fatalf("want %q and one failure, got err %v:\n%s", tt.fail, err, out.String())
			}
		})
	}
}

// TestRoundsReduceToTheMedianRound: of three cold pulls the report keeps
// the median one, with the upstream transfer of that same round.
func TestRoundsReduceToTheMedianRound(t *testing.T) {
	p := writeLines(t,
		Result{Kind: "pull", Peer: "regmirror", Workload: "W1", Round: 1, TotalMS: 900},
		Result{Kind: "transfers", Peer: "regmirror", Workload: "W1", Round: 1, BlobGets: 1, UpEndNS: 1},
		Result{Kind: "pull", Peer: "regmirror", Workload: "W1", Round: 2, TotalMS: 500},
		Result{Kind: "transfers", Peer: "regmirror", Workload: "W1", Round: 2, BlobGets: 1, UpEndNS: 2},
		Result{Kind: "pull", Peer: "regmirror", Workload: "W1", Round: 3, TotalMS: 700},
		Result{Kind: "transfers", Peer: "regmirror", Workload: "W1", Round: 3, BlobGets: 1, UpEndNS: 3},
		// A failed round sorts last, whatever its time.
		Result{Kind: "pull", Peer: "direct", Workload: "W1", Round: 1, TotalMS: 10, Errors: 1},
		Result{Kind: "pull", Peer: "direct", Workload: "W1", Round: 2, TotalMS: 300},
		Result{Kind: "pull", Peer: "direct", Workload: "W1", Round: 3, TotalMS: 400},
	)
	rs, err := readResultsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := rs.get("W1", "regmirror", "pull")
	tr, _ := rs.get("W1", "regmirror", "transfers")
	if pl.TotalMS != 700 || tr.UpEndNS != 3 {
		t.Errorf("regmirror: pull %v ms with transfer of round %d, want 700 ms and round 3", pl.TotalMS, tr.UpEndNS)
	}
	if d, _ := rs.get("W1", "direct", "pull"); d.TotalMS != 400 {
		t.Errorf("direct: %v ms, want 400 (the failed round sorts last)", d.TotalMS)
	}
}
