package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
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
