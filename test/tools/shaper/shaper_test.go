package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		bad  bool
	}{
		{"0", 0, false},
		{"400Mbit", 400e6, false},
		{"400mbit/s", 400e6, false},
		{"1Gbit", 1e9, false},
		{"64kbit", 64e3, false},
		{"2.5M", 2.5e6, false},
		{"1e6", 1e6, false},
		{"fast", 0, true},
		{"-1", 0, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestPacedReaderHoldsTheRate(t *testing.T) {
	const size, rate = 256 << 10, 2 << 20 // 256 KiB at 2 MiB/s: 125 ms
	start := time.Now()
	p := newPacedReader(io.NopCloser(bytes.NewReader(make([]byte, size))), rate, time.Now)
	n, err := io.Copy(io.Discard, p)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	if el := time.Since(start); el < 110*time.Millisecond || el > 2*time.Second {
		t.Fatalf("256 KiB at 2 MiB/s took %v, want about 125ms", el)
	}
}

// newPair starts an upstream serving size bytes at /v2/x/blobs/sha256:1 and
// a shaper in front of it.
func newPair(t *testing.T, size int, opts options) (up, front *httptest.Server, s *shaper) {
	t.Helper()
	body := bytes.Repeat([]byte("x"), size)
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	s = newShaper(u, opts, log.New(io.Discard, "", 0))
	front = httptest.NewServer(s)
	t.Cleanup(front.Close)
	return up, front, s
}

func TestShaperRecordsAndShapes(t *testing.T) {
	const size = 512 << 10
	_, front, _ := newPair(t, size, options{RTT: 30 * time.Millisecond, BytesPerSec: 2 << 20})

	start := time.Now()
	resp, err := http.Get(front.URL + "/v2/x/blobs/sha256:1")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	el := time.Since(start)
	if n != size {
		t.Fatalf("got %d bytes, want %d", n, size)
	}
	// 2 RTTs (connect + request) + 250 ms of paced body.
	if el < 280*time.Millisecond {
		t.Fatalf("shaped transfer took only %v", el)
	}
	head, _ := http.Head(front.URL + "/v2/x/manifests/latest")
	head.Body.Close()

	resp, err = http.Get(front.URL + "/_transfers")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Transfers []transfer }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(got.Transfers) != 2 {
		t.Fatalf("recorded %d transfers, want 2: %+v", len(got.Transfers), got.Transfers)
	}
	g := got.Transfers[0]
	if g.Method != "GET" || g.Path != "/v2/x/blobs/sha256:1" || g.Status != 200 || g.Bytes != size {
		t.Errorf("GET record = %+v", g)
	}
	if !(g.StartNS < g.FirstByteNS && g.FirstByteNS < g.EndNS) {
		t.Errorf("times out of order: %+v", g)
	}
	if span := time.Duration(g.EndNS - g.FirstByteNS); span < 150*time.Millisecond {
		t.Errorf("first to last byte %v; pacing did not spread the body", span)
	}
	if h := got.Transfers[1]; h.Method != "HEAD" || h.Bytes != 0 {
		t.Errorf("HEAD record = %+v", h)
	}

	req, _ := http.NewRequest(http.MethodPost, front.URL+"/_reset", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v %v", resp, err)
	}
}

func TestShaperKeepsAtMostMaxRecords(t *testing.T) {
	_, front, s := newPair(t, 10, options{MaxRecords: 3})
	for range 5 {
		resp, err := http.Get(front.URL + "/v2/x/blobs/sha256:1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.records) != 3 {
		t.Fatalf("kept %d records, want 3", len(s.records))
	}
}

func TestRequireLoopback(t *testing.T) {
	if err := requireLoopback("127.0.0.1:1"); err != nil {
		t.Error(err)
	}
	if err := requireLoopback("0.0.0.0:1"); err == nil {
		t.Error("0.0.0.0 accepted")
	}
}
