package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// cmdTransfers reads what the upstream saw from a shaper's /_transfers:
// the total request count, the GETs of -digest (of any blob without it),
// the manifest requests, and when the last GET of -digest ended. With
// -reset it then clears the shaper's record.
func cmdTransfers(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("transfers", flag.ContinueOnError)
	lb := addLabels(fs)
	base := fs.String("shaper", "", "base URL of the shaper (http://127.0.0.1:PORT)")
	dgst := fs.String("digest", "", "blob digest to count GETs of (default: all blobs)")
	reset := fs.Bool("reset", false, "clear the shaper's record afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		return errors.New("transfers: -shaper is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(1)
	ts, err := fetchTransfers(ctx, c, *base)
	if err != nil {
		return err
	}
	r := summarize(ts, *dgst)
	if *reset {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *base+"/_reset", nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	return lb.emit(stdout, r)
}

// upTransfer is one record of the shaper's /_transfers.
type upTransfer struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	Bytes       int64  `json:"bytes"`
	StartNS     int64  `json:"start_ns"`
	FirstByteNS int64  `json:"first_byte_ns"`
	EndNS       int64  `json:"end_ns"`
}

func fetchTransfers(ctx context.Context, c *http.Client, base string) ([]upTransfer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_transfers", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(resp)
	}
	var out struct {
		Transfers []upTransfer `json:"transfers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding /_transfers: %w", err)
	}
	return out.Transfers, nil
}

// summarize counts ts. With d set, BlobGets counts GETs of that blob and
// UpFirstNS/UpEndNS are the first byte and the end of the last one.
func summarize(ts []upTransfer, d string) Result {
	r := Result{Kind: "transfers", BigDigest: d}
	for _, t := range ts {
		r.Total++
		isBlob := strings.Contains(t.Path, "/blobs/") && !strings.Contains(t.Path, "/blobs/uploads")
		switch {
		case strings.Contains(t.Path, "/manifests/"):
			r.ManifestReq++
		case isBlob && t.Method == http.MethodGet && (d == "" || strings.HasSuffix(t.Path, "/"+d)):
			r.BlobGets++
			r.Bytes += t.Bytes
			if t.EndNS > r.UpEndNS {
				r.UpEndNS, r.UpFirstNS = t.EndNS, t.FirstByteNS
			}
		}
	}
	return r
}
