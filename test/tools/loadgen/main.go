// Command loadgen drives the registry benchmark (scripts/bench.sh): it
// pushes the benchmark image, plays the pull clients, reads the counters of
// the upstream shaper and the memory of the processes under test, and
// assembles one table from everything it measured.
//
//	loadgen push      -registry URL -repo R -tag T -big BYTES -small N -small-size BYTES [-seed S] [-dir D]
//	loadgen pull      -registry URL -repo R -ref TAG [-parallel 3] [-verify]
//	loadgen blob      -url BLOB_URL [-n 32] [-repeat 1] [-verify]
//	loadgen blob      -at PEER=URL -at PEER=URL ... [-n 1] [-repeat 15]   (rounds interleaved)
//	loadgen manifest  -url MANIFEST_URL [-c 64] [-d 10s]
//	loadgen transfers -shaper URL [-digest D] [-reset]
//	loadgen rss       -pid PID
//	loadgen report    -in results.jsonl [-title T]
//	loadgen check     -in results.jsonl
//
// Every measuring subcommand prints one JSON object per line (type Result),
// labelled with -peer and -w and appended to -out when given, so that a
// shell script can collect a whole run in one file for report or check.
// Stdlib only; loopback only by convention (it goes where it is told).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// subcommand runs one loadgen verb with its arguments.
type subcommand func(args []string, stdout io.Writer) error

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	cmds := map[string]subcommand{
		"push":      cmdPush,
		"pull":      cmdPull,
		"blob":      cmdBlob,
		"manifest":  cmdManifest,
		"transfers": cmdTransfers,
		"rss":       cmdRSS,
		"report":    cmdReport,
		"check":     cmdCheck,
	}
	if len(args) == 0 {
		return errors.New("usage: loadgen push|pull|blob|manifest|transfers|rss|report|check [flags] (see -h of each)")
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	return cmd(args[1:], stdout)
}

// labels are the flags every measuring subcommand shares.
type labels struct {
	peer, workload, out string
	round               int
}

func addLabels(fs *flag.FlagSet) *labels {
	l := &labels{}
	fs.StringVar(&l.peer, "peer", "", "label: which server was measured (regmirror, direct, ...)")
	fs.StringVar(&l.workload, "w", "", "label: which workload (W1, W2, ...)")
	fs.StringVar(&l.out, "out", "", "also append the JSON line to this file")
	fs.IntVar(&l.round, "round", 0, "label: which round of a repeated workload (the report keeps the median round)")
	return l
}

// emit labels r (keeping a Peer it already has), prints it as one JSON
// line and appends it to l.out.
func (l *labels) emit(stdout io.Writer, r Result) error {
	if r.Peer == "" {
		r.Peer = l.peer
	}
	r.Workload = l.workload
	r.Round = l.round
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if l.out == "" {
		return nil
	}
	f, err := os.OpenFile(l.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Result is one measurement. Kind says which fields are set.
type Result struct {
	Kind     string `json:"kind"` // push, pull, blob, manifest, transfers, rss
	Peer     string `json:"peer,omitempty"`
	Workload string `json:"w,omitempty"`
	Round    int    `json:"round,omitempty"` // of a repeated workload: see medianRounds
	Errors   int    `json:"errors"`
	Error    string `json:"error,omitempty"` // the first error, for the log

	// push
	Index    string `json:"index,omitempty"`
	Manifest string `json:"manifest,omitempty"`
	BigFile  string `json:"big_file,omitempty"`

	// pull, blob, transfers
	BigDigest string `json:"big_digest,omitempty"`
	BigSize   int64  `json:"big_size,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`

	// pull
	TotalMS        float64 `json:"total_ms,omitempty"`
	ManifestMS     float64 `json:"manifest_ms,omitempty"`
	BigTTFBMS      float64 `json:"big_ttfb_ms,omitempty"`
	BigFirstByteNS int64   `json:"big_first_byte_ns,omitempty"`

	// blob
	Clients   int     `json:"clients,omitempty"`
	Repeat    int     `json:"repeat,omitempty"`
	WallMS    float64 `json:"wall_ms,omitempty"` // median over repeats
	BestMS    float64 `json:"best_ms,omitempty"`
	TTFBP50MS float64 `json:"ttfb_p50_ms,omitempty"`
	TTFBMaxMS float64 `json:"ttfb_max_ms,omitempty"`
	MiBps     float64 `json:"mib_s,omitempty"` // aggregate, from the median wall time

	// manifest
	Conns    int     `json:"conns,omitempty"`
	Requests int64   `json:"requests,omitempty"`
	RPS      float64 `json:"rps,omitempty"`
	P50MS    float64 `json:"p50_ms,omitempty"`
	P99MS    float64 `json:"p99_ms,omitempty"`

	// transfers (what the upstream saw)
	Total       int   `json:"total"`
	BlobGets    int   `json:"blob_gets"`     // GETs of -digest (all blobs without it)
	ManifestReq int   `json:"manifest_reqs"` // GET and HEAD of manifests
	UpEndNS     int64 `json:"up_end_ns,omitempty"`
	UpFirstNS   int64 `json:"up_first_ns,omitempty"`

	// rss (KiB, summed over the process and its descendants)
	HWMKiB int64 `json:"hwm_kib,omitempty"`
	RSSKiB int64 `json:"rss_kib,omitempty"`
	Procs  int   `json:"procs,omitempty"`
}

// noteErr counts err in r and keeps the first message.
func (r *Result) noteErr(err error) {
	if err == nil {
		return
	}
	r.Errors++
	if r.Error == "" {
		r.Error = err.Error()
	}
}
