package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMLetsColdPullFinish sends SIGTERM to a real mirror process
// while a client is in the middle of a cold pull of a slow blob: the mirror
// stops accepting, the pull completes with the right bytes, and the blob is
// in the cache afterwards (a restarted mirror serves it with the upstream
// gone).
func TestSIGTERMLetsColdPullFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p, up, layer, _ := slowBlobMirror(t, 4<<20, false, "server:\n  shutdownTimeout: 30s\n")

	resp, err := http.Get(p.url + "/v2/library/big/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 256<<10); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatalf("the pull broke at SIGTERM: %v\n%s", err, p.logs.String())
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer.String() {
		t.Fatalf("pulled %s, want %s", got, layer)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("mirror exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mirror did not exit after SIGTERM")
	}

	// The object was committed: a restarted mirror serves it without the upstream.
	up.Stop()
	p.start()
	resp2, err := http.Get(p.url + "/v2/library/big/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 200 || resp2.Header.Get("X-Mirror-Cache") != "hit" {
		t.Fatalf("after restart: status %d cache %q", resp2.StatusCode, resp2.Header.Get("X-Mirror-Cache"))
	}
}

// TestSIGTERMCancelsDownloadsPastTheBudget: a download that cannot finish
// within server.shutdownTimeout is cancelled at its end. The process exits,
// nothing is committed and no temporary file is left; the next start
// fetches the blob again.
func TestSIGTERMCancelsDownloadsPastTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// 16 MiB paced at about 3 MiB/s (the first GET only): five seconds,
	// against a 1 s budget.
	p, up, layer, data := slowBlobMirror(t, 16<<20, true, "server:\n  shutdownTimeout: 1s\n")
	resp, err := http.Get(p.url + "/v2/library/big/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 256<<10); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the client leaves; the download goes on, detached
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("mirror exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("mirror still running 15 s after SIGTERM with a 1 s budget\n%s", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "downloads cancelled at shutdown") {
		t.Errorf("the log does not say the download was cancelled:\n%s", p.logs.String())
	}
	left, _ := filepath.Glob(filepath.Join(data, "ingest", "fill-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", "sha256", layer.Encoded()[:2], layer.Encoded())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cancelled blob is in the store (stat: %v)", err)
	}
	up.Counts.Reset()
	p.start()
	if got := sha256OfGET(t, p.url+"/v2/library/big/blobs/"+layer.String()); got != layer {
		t.Fatalf("after restart: %s, want %s", got, layer)
	}
	if n := up.Counts.BlobGets(layer); n != 1 {
		t.Errorf("after restart the blob was fetched %d times, want 1", n)
	}
}
